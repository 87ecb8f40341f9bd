"""The WebSocket wire protocol: frame models per direction and the codec (bytes in, frames out).

Sans-I/O: nothing here touches a socket. `decode_candidate` / `decode_panel` turn raw text into
a validated frame or raise `ProtocolError` carrying the `error` code to answer with; encoders
produce the exact bytes to send, serialized once however many sockets receive them.
See docs/protocol.md for the same contract in prose.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from gateway.errors import ErrorCode
from gateway.instants import check_recent, check_storable

__all__ = [
    "COMMAND_PAYLOADS",
    "DEFAULT_MAX_CLOCK_SKEW_S",
    "PROTOCOL_VERSION",
    "AnalyzeFrame",
    "ApplyFrame",
    "CandidateFrame",
    "CandidateInput",
    "CommandAckFrame",
    "DismissFrame",
    "ManualCommandFrame",
    "MarkAskedFrame",
    "PanelFrame",
    "ProtocolError",
    "TranscriptCorrectionFrame",
    "TranscriptFrame",
    "decode_candidate",
    "decode_panel",
    "encode",
    "encode_error",
    "wrong_round",
]

PROTOCOL_VERSION = 1
CommandType = Literal["difficulty_change", "curveball_inject", "context_update", "end_call"]


def _storable(value: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL: refused at the edge, one frame, instead of
    failing the database batch it would have joined."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse what jsonb cannot hold (NUL) and what the encoder cannot write back out: orjson
    parses 1024 levels of nesting but writes only 255 (a TypeError nothing above expects)."""
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise ValueError("nests too deeply") from None
    if b"\\u0000" in data:
        raise ValueError("must not contain NUL characters")
    return value


# A client's timestamp: an offset PostgreSQL keeps, an instant Python reads back (see
# gateway/instants.py); how far from the server's clock is checked by `decode_candidate`.
Timestamp = Annotated[datetime, AfterValidator(check_storable)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: str | None = Field(None, max_length=64, description="echoed in an error about this frame")


class TranscriptFrame(_Frame):
    """candidate -> gateway: one utterance; `seq` is chosen by the client, >= 1, per round."""

    type: Literal["transcript"]
    seq: int = Field(ge=1, le=2_000_000_000)
    round_number: int = Field(1, ge=1, le=100)
    role: Literal["user", "assistant"]
    text: Annotated[str, Field(min_length=1), AfterValidator(_storable)]
    timestamp: Timestamp | None = None


class TranscriptCorrectionFrame(_Frame):
    """candidate -> gateway: the stored message `seq` is replaced by `text` (ElevenLabs'
    `agent_response_correction`); `(seq, revision)` is its idempotency key."""

    type: Literal["transcript_correction"]
    seq: int = Field(ge=1, le=2_000_000_000)
    revision: int = Field(1, ge=1, le=1000)
    round_number: int = Field(1, ge=1, le=100)
    text: Annotated[str, Field(min_length=1), AfterValidator(_storable)]


class CommandAckFrame(_Frame):
    """candidate -> gateway: the command was injected into the voice agent."""

    type: Literal["command_ack"]
    command_id: uuid.UUID


class ApplyFrame(_Frame):
    type: Literal["apply"]
    suggestion_id: uuid.UUID


class DismissFrame(_Frame):
    type: Literal["dismiss"]
    suggestion_id: uuid.UUID


class MarkAskedFrame(_Frame):
    """panel -> gateway: the interviewer asked this follow-up question (counted like an apply)."""

    type: Literal["mark_asked"]
    suggestion_id: uuid.UUID


_CommandText = Annotated[str, Field(min_length=1), AfterValidator(_storable)]
_Note = Annotated[str, Field(max_length=500), AfterValidator(_storable)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ContextUpdatePayload(_Payload):
    """Injected as is (`contextual_update` text)."""

    text: _CommandText


class DifficultyChangePayload(_Payload):
    """The design's context injection ("Reused for context injection")."""

    context_injection: _CommandText


class CurveballPayload(_Payload):
    curveball: _CommandText
    label: _Note | None = None


class EndCallPayload(_Payload):
    reason: _Note | None = None


# What each command's payload must be: the candidate client injects exactly these fields
# (`gateway.frames.contextual_update_text`, `client/candidate.js`), so a payload without them
# would reach the voice agent as an empty or garbled update.
COMMAND_PAYLOADS: dict[str, type[_Payload]] = {
    "context_update": ContextUpdatePayload,
    "difficulty_change": DifficultyChangePayload,
    "curveball_inject": CurveballPayload,
    "end_call": EndCallPayload,
}


class ManualCommandFrame(_Frame):
    """panel -> gateway: a command written by the interviewer (`source: "manual"`); its
    payload is checked against its type's model (`COMMAND_PAYLOADS`)."""

    type: Literal["command"]
    command_type: CommandType
    payload: Annotated[dict[str, Any], AfterValidator(_storable_json)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _payload_fits_its_type(self) -> ManualCommandFrame:
        try:
            COMMAND_PAYLOADS[self.command_type].model_validate(self.payload, strict=True)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "payload"
            raise ValueError(
                f"payload of {self.command_type}: {where}: {first['msg']}"
            ) from None
        return self


class AnalyzeFrame(_Frame):
    """panel -> gateway: run an analysis now instead of waiting for the 10th message."""

    type: Literal["analyze"]


CandidateFrame = Annotated[
    TranscriptFrame | TranscriptCorrectionFrame | CommandAckFrame, Field(discriminator="type")
]
CandidateInput = TranscriptFrame | TranscriptCorrectionFrame | CommandAckFrame
PanelFrame = Annotated[
    ApplyFrame | DismissFrame | MarkAskedFrame | ManualCommandFrame | AnalyzeFrame,
    Field(discriminator="type"),
]

_CANDIDATE: TypeAdapter[CandidateInput] = TypeAdapter(CandidateFrame)
_PANEL: TypeAdapter[
    ApplyFrame | DismissFrame | MarkAskedFrame | ManualCommandFrame | AnalyzeFrame
] = TypeAdapter(PanelFrame)
_CANDIDATE_TYPES = frozenset({"transcript", "transcript_correction", "command_ack"})
_PANEL_TYPES = frozenset({"apply", "dismiss", "mark_asked", "command", "analyze"})
_MAX_PAYLOAD_BYTES = 8 * 1024


class ProtocolError(Exception):
    """A frame we answer with an `error` frame; the connection stays open."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def _parse(raw: str | bytes) -> tuple[dict[str, Any], str | None]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "frame must be a JSON object")
    ref = data.get("ref")
    if ref is None and "seq" in data:
        ref = data["seq"]
    ref_text = str(ref)[:64] if ref is not None else None
    return data, ref_text


def _check_type(
    data: dict[str, Any], mine: frozenset[str], theirs: frozenset[str], ref: str | None
) -> None:
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "frame needs a string 'type'", ref)
    if kind in theirs and kind not in mine:
        raise ProtocolError(
            ErrorCode.ROLE_NOT_ALLOWED, f"'{kind}' frames are not allowed here", ref
        )
    if kind not in mine:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type '{kind[:40]}'", ref)


def _validation(err: ValidationError, ref: str | None) -> ProtocolError:
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in first.get("loc", ())[1:]) or "frame"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return ProtocolError(ErrorCode.VALIDATION_ERROR, f"{loc}: {msg}", ref)


DEFAULT_MAX_CLOCK_SKEW_S = 86_400.0  # the MAX_CLOCK_SKEW_SECONDS default


def decode_candidate(
    raw: str | bytes,
    *,
    max_text_chars: int,
    max_clock_skew_s: float = DEFAULT_MAX_CLOCK_SKEW_S,
) -> CandidateInput:
    """Strict: JSON types are not coerced (`"seq": "12"`, `true` or `1e2` are refused)."""
    try:  # the hot path: a valid frame is parsed and validated in one pass by pydantic-core
        frame = _CANDIDATE.validate_json(raw, strict=True)
    except ValidationError:
        frame = _decode_candidate_slowly(raw)  # raises the ProtocolError that names the fault
    if isinstance(frame, TranscriptFrame | TranscriptCorrectionFrame):
        if len(frame.text) > max_text_chars:
            raise ProtocolError(
                ErrorCode.TEXT_TOO_LONG,
                f"text is {len(frame.text)} characters; limit {max_text_chars}",
                frame.ref or str(frame.seq),
            )
        if isinstance(frame, TranscriptFrame) and frame.timestamp is not None:
            reason = check_recent(frame.timestamp, max_clock_skew_s)
            if reason is not None:
                raise ProtocolError(
                    ErrorCode.VALIDATION_ERROR, f"timestamp: {reason}", frame.ref or str(frame.seq)
                )
    return frame


def _decode_candidate_slowly(raw: str | bytes) -> CandidateInput:
    data, ref = _parse(raw)
    _check_type(data, _CANDIDATE_TYPES, _PANEL_TYPES, ref)
    try:
        return _CANDIDATE.validate_json(raw, strict=True)
    except ValidationError as err:
        raise _validation(err, ref) from None


def decode_panel(
    raw: str | bytes,
) -> ApplyFrame | DismissFrame | MarkAskedFrame | ManualCommandFrame | AnalyzeFrame:
    data, ref = _parse(raw)
    _check_type(data, _PANEL_TYPES, _CANDIDATE_TYPES, ref)
    try:
        frame = _PANEL.validate_json(raw, strict=True)
    except ValidationError as err:
        raise _validation(err, ref) from None
    if (
        isinstance(frame, ManualCommandFrame)
        and len(orjson.dumps(frame.payload)) > _MAX_PAYLOAD_BYTES
    ):
        raise ProtocolError(ErrorCode.VALIDATION_ERROR, "payload is too large", ref)
    return frame


def wrong_round(frame: TranscriptFrame, current: int) -> ProtocolError:
    """A transcript frame for a round other than the session's (it would be stored where no
    panel, `hello.last_seq` or analysis looks)."""
    return ProtocolError(
        ErrorCode.WRONG_ROUND,
        f"round_number: this session is in round {current}, not {frame.round_number}",
        frame.ref or str(frame.seq),
    )


def _default(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def encode(frame: dict[str, Any]) -> bytes:
    """Serialize a gateway -> client frame once; the bytes go to every subscriber unchanged."""
    return orjson.dumps(frame, default=_default)


def encode_error(code: ErrorCode | str, message: str, ref: str | None = None) -> bytes:
    return encode({"type": "error", "code": str(code), "message": message, "ref": ref})
