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
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.api_models import no_nul
from handlers.http import read_model, require
from handlers.keys import LIVE, SETTINGS

__all__ = ["TranscriptIn", "TranscriptStored", "setup"]

api = ApiRoutes()


class TranscriptIn(BaseModel):
    """The design's body, plus an optional `seq` that makes resends idempotent."""

    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID
    round_number: int = Field(1, ge=1, le=100)
    role: Literal["user", "assistant"]
    text: Annotated[str, Field(min_length=1, max_length=100_000), AfterValidator(no_nul)]
    timestamp: datetime | None = None
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
    limit = request.app[SETTINGS].max_text_chars
    if len(body.text) > limit:
        raise InvalidInputError(
            f"text is {len(body.text)} characters; limit {limit}",
            code=ErrorCode.TEXT_TOO_LONG,
            details=[{"loc": "text", "message": f"at most {limit} characters", "type": "too_long"}],
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


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
