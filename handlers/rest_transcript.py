"""`POST /api/voice/transcript`: the design's per-message REST path, through the same pipeline
as the WebSocket (group commit, idempotency by `seq`, fan-out, analysis trigger)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gateway.auth import Role
from gateway.errors import ErrorCode, InvalidInputError
from gateway.instants import check_recent, check_storable
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.api_models import no_nul
from handlers.http import read_model, require
from handlers.keys import LIVE, SETTINGS

__all__ = ["CorrectionIn", "CorrectionStored", "TranscriptIn", "TranscriptStored", "setup"]

api = ApiRoutes()


class TranscriptIn(BaseModel):
    """The design's body, plus an optional `seq` that makes resends idempotent."""

    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID
    round_number: int = Field(1, ge=1, le=100)
    role: Literal["user", "assistant"]
    text: Annotated[str, Field(min_length=1, max_length=100_000), AfterValidator(no_nul)]
    timestamp: Annotated[datetime, AfterValidator(check_storable)] | None = Field(
        None, description="within MAX_CLOCK_SKEW_SECONDS of the server's clock"
    )
    seq: int | None = Field(None, ge=1, le=2_000_000_000)


class TranscriptStored(BaseModel):
    message_id: uuid.UUID
    session_id: uuid.UUID
    round_number: int
    seq: int | None
    role: Literal["user", "assistant"]
    text: str
    word_count: int
    duplicate: bool
    message_count: int


@api.post(
    "/api/voice/transcript",
    summary="Save one transcript message",
    description="Stores the message (acknowledged only after commit), fans it out to panels and "
    "triggers analysis every ANALYSIS_EVERY messages. With `seq`, a resend is answered 200 with "
    "`duplicate: true` and stored once; a resend with different text is 409.",
    tags=("transcript",),
    roles=(Role.CANDIDATE,),
    body=TranscriptIn,
    responses={201: TranscriptStored, 200: TranscriptStored},
    errors=(404, 409, 410, 503),
)
async def post_transcript(request: web.Request) -> web.Response:
    body = await read_model(request, TranscriptIn)
    require(request, Role.CANDIDATE, session_id=body.session_id)
    _check_length(request, body.text)
    skew = (
        check_recent(body.timestamp, request.app[SETTINGS].max_clock_skew_s)
        if body.timestamp is not None
        else None
    )
    if skew is not None:
        raise InvalidInputError(
            f"timestamp {skew}",
            details=[{"loc": "timestamp", "message": skew, "type": "clock_skew"}],
        )
    stored_message = await request.app[LIVE].store_message(
        body.session_id, body.round_number, body.seq, body.role, body.text, body.timestamp
    )
    stored = TranscriptStored(
        message_id=stored_message.message_id,
        session_id=body.session_id,
        round_number=body.round_number,
        seq=body.seq,
        role=body.role,
        text=body.text,
        word_count=stored_message.word_count,
        duplicate=stored_message.duplicate,
        message_count=stored_message.message_count,
    )
    return model_response(stored, status=200 if stored.duplicate else 201)


class CorrectionIn(BaseModel):
    """A correction of the stored message `seq` (docs/protocol.md "Transcript corrections")."""

    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID
    round_number: int = Field(1, ge=1, le=100)
    seq: int = Field(ge=1, le=2_000_000_000)
    revision: int = Field(1, ge=1, le=1000)
    text: Annotated[str, Field(min_length=1, max_length=100_000), AfterValidator(no_nul)]


class CorrectionStored(BaseModel):
    message_id: uuid.UUID
    session_id: uuid.UUID
    round_number: int
    seq: int
    revision: int
    role: Literal["user", "assistant"]
    text: str
    previous_text: str
    duplicate: bool


@api.post(
    "/api/voice/transcript/correction",
    summary="Correct a stored transcript message",
    description="Replaces the text of the message `seq` (its earlier texts are kept), publishes "
    "`transcript_updated` to panels and does not count as a new message for analysis. "
    "`(seq, revision)` is the idempotency key: a resend with the same text is 200 with "
    "`duplicate: true`; the same revision with other text (or an older revision) is 409; "
    "no message with that `seq` in that round is 404 `unknown_message`.",
    tags=("transcript",),
    roles=(Role.CANDIDATE,),
    body=CorrectionIn,
    responses={201: CorrectionStored, 200: CorrectionStored},
    errors=(404, 409, 410, 503),
)
async def post_correction(request: web.Request) -> web.Response:
    body = await read_model(request, CorrectionIn)
    require(request, Role.CANDIDATE, session_id=body.session_id)
    _check_length(request, body.text)
    applied = await request.app[LIVE].correct_message(
        body.session_id, body.round_number, body.seq, body.revision, body.text
    )
    stored = CorrectionStored(
        message_id=applied.message_id,
        session_id=body.session_id,
        round_number=body.round_number,
        seq=body.seq,
        revision=body.revision,
        role=applied.role,
        text=body.text,
        previous_text=applied.previous_text,
        duplicate=applied.duplicate,
    )
    return model_response(stored, status=200 if stored.duplicate else 201)


def _check_length(request: web.Request, text: str) -> None:
    limit = request.app[SETTINGS].max_text_chars
    if len(text) > limit:
        raise InvalidInputError(
            f"text is {len(text)} characters; limit {limit}",
            code=ErrorCode.TEXT_TOO_LONG,
            details=[{"loc": "text", "message": f"at most {limit} characters", "type": "too_long"}],
        )


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
