"""Transcript corrections in the group commit: the pieces `LiveService` composes.

A correction travels in the session's ordered stream, through the same group committer as the
frames, so it is never applied before the message it corrects has committed (a session is
never in two batches at once; within a batch, items are applied in arrival order).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gateway import frames
from gateway.errors import ConflictError, ErrorCode, GoneError, NotFoundError
from gateway.protocol import encode
from gateway.streams import CandidateStream
from storage.corrections import Correction, CorrectionOutcome, CorrectionResult

__all__ = [
    "FENCED",
    "CorrectionApplied",
    "PendingCorrection",
    "answer_correction",
    "correction_event",
    "encode_event",
    "raise_for_outcome",
]


@dataclass(frozen=True, slots=True)
class PendingCorrection:
    """A correction waiting for group commit, and the socket it came from (None: REST)."""

    correction: Correction
    fence: CandidateStream | None = None

    @property
    def session_id(self) -> uuid.UUID:
        return self.correction.session_id


@dataclass(frozen=True, slots=True)
class CorrectionApplied:
    """A correction's result, with its `transcript_updated` event as sent (when stored)."""

    result: CorrectionResult
    wire: bytes | None = None


# The result of a correction dropped unstored behind a failed commit of its socket.
FENCED = CorrectionApplied(CorrectionResult(CorrectionOutcome.REFUSED))


def correction_event(c: Correction, result: CorrectionResult) -> dict[str, object]:
    assert result.message_id is not None and result.role is not None
    return frames.transcript_updated_event(
        message_id=result.message_id,
        seq=c.seq,
        round_number=c.round_number,
        role=result.role,
        text=c.text,
        previous_text=result.previous_text or "",
        revision=c.revision,
    )


def _message(c: Correction, result: CorrectionResult) -> tuple[ErrorCode, str]:
    if result.outcome is CorrectionOutcome.UNKNOWN:
        return (
            ErrorCode.UNKNOWN_MESSAGE,
            f"no stored message with seq {c.seq} in round {c.round_number}",
        )
    if result.outcome is CorrectionOutcome.CONFLICT:
        if result.revision is not None and c.revision < result.revision:
            return (
                ErrorCode.SEQ_CONFLICT,
                f"seq {c.seq} is already at revision {result.revision}; revision {c.revision} "
                "is older",
            )
        return (
            ErrorCode.SEQ_CONFLICT,
            f"revision {c.revision} of seq {c.seq} was already stored with other text",
        )
    return ErrorCode.SESSION_ENDED, "session is not active; correction not stored"


def answer_correction(
    stream: CandidateStream,
    c: Correction,
    ref: str,
    applied: CorrectionApplied | None,
    err: BaseException | None,
) -> None:
    """Runs right after a socket correction's batch committed (or failed): tell its stream."""
    if err is not None or applied is None:
        stream.failed(ref)
        return
    result = applied.result
    if result.outcome is CorrectionOutcome.STORED or result.outcome is CorrectionOutcome.DUPLICATE:
        assert result.message_id is not None
        stream.corrected(
            c.seq, c.revision, result.message_id, result.outcome is CorrectionOutcome.DUPLICATE
        )
    elif applied is FENCED:
        stream.fenced(ref)
    else:
        code, message = _message(c, result)
        stream.refused(ref, code, message)


def raise_for_outcome(c: Correction, result: CorrectionResult) -> None:
    """The REST path: a refusal as the route's documented error."""
    if result.outcome in (CorrectionOutcome.STORED, CorrectionOutcome.DUPLICATE):
        return
    code, message = _message(c, result)
    if result.outcome is CorrectionOutcome.UNKNOWN:
        raise NotFoundError(message, code=code)
    if result.outcome is CorrectionOutcome.CONFLICT:
        raise ConflictError(message, code=code)
    raise GoneError(message)


def encode_event(event: dict[str, object], event_id: int, session_id: uuid.UUID) -> bytes:
    return encode({**event, "event_id": event_id, "session_id": session_id})
