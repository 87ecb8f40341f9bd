"""`POST /api/voice/transcript`: the design's per-message REST path, through the same pipeline
as the WebSocket (group commit, idempotency by `seq`, fan-out, analysis trigger)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gateway.api_models import no_nul
from gateway.auth import Role
from gateway.batcher import BatcherClosed
from gateway.errors import (
    ConflictError,
    ErrorCode,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from gateway.instants import check_recent, check_storable
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.http import read_model, require
from handlers.keys import LIVE, SETTINGS
from handlers.ws import GoneError
from storage.transcripts import FrameOutcome, NewFrame

__all__ = ["TranscriptIn", "TranscriptStored", "setup"]

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


SELECT_COUNT = "SELECT message_count FROM session_counters WHERE session_id = $1"


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
    limit = request.app[SETTINGS].max_text_chars
    if len(body.text) > limit:
        raise InvalidInputError(
            f"text is {len(body.text)} characters; limit {limit}",
            code=ErrorCode.TEXT_TOO_LONG,
            details=[{"loc": "text", "message": f"at most {limit} characters", "type": "too_long"}],
        )
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
    live = request.app[LIVE]
    state = await live.hub.acquire(body.session_id)
    if state is None:
        raise NotFoundError("session not found")
    if state.ended:
        raise GoneError("session has ended")
    if body.round_number != state.round_number:  # stored where nothing would look for it
        raise InvalidInputError(
            f"round_number: this session is in round {state.round_number}",
            code=ErrorCode.WRONG_ROUND,
            details=[
                {"loc": "round_number", "message": "not the session's round", "type": "round"}
            ],
        )
    frame = NewFrame(
        body.session_id, body.round_number, body.seq, body.role, body.text, body.timestamp
    )
    try:
        future = await live.submit(frame)
        result = await future
    except BatcherClosed:
        raise UnavailableError("gateway is shutting down; retry") from None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        raise UnavailableError("database unavailable; nothing was stored, retry") from None
    if result.outcome is FrameOutcome.CONFLICT:
        raise ConflictError(
            f"seq {body.seq} was already stored with other content", code=ErrorCode.SEQ_CONFLICT
        )
    if result.outcome is FrameOutcome.INVALID:
        raise InvalidInputError(
            f"the database refused this message ({result.reason}); do not resend it",
            code=ErrorCode.INVALID_FRAME,
        )
    if result.outcome is FrameOutcome.REFUSED:
        raise GoneError("session is not active; nothing was stored")
    assert result.message_id is not None
    count = result.message_count
    if count is None:
        count = int(await live.pool.fetchval(SELECT_COUNT, body.session_id) or 0)
    stored = TranscriptStored(
        message_id=result.message_id,
        session_id=body.session_id,
        round_number=body.round_number,
        seq=body.seq,
        role=body.role,
        text=body.text,
        word_count=len(body.text.split()),
        duplicate=result.outcome is FrameOutcome.DUPLICATE,
        message_count=count,
    )
    return model_response(stored, status=200 if stored.duplicate else 201)


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
