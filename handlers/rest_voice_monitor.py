"""`POST /api/voice/conversation`: the candidate reports its ElevenLabs conversation id, and in
monitor mode (`VOICE_TRANSCRIPT_SOURCE=monitor`) the gateway starts reading the call."""

from __future__ import annotations

import uuid
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Role
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.http import read_model, require
from handlers.keys import VOICE_MONITOR

__all__ = ["ConversationIn", "ConversationWatched", "setup"]

api = ApiRoutes()


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID
    conversation_id: Annotated[
        str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    ]


class ConversationWatched(BaseModel):
    session_id: uuid.UUID
    conversation_id: str
    started: bool = Field(description="false when this conversation was already monitored")


@api.post(
    "/api/voice/conversation",
    summary="Report the session's ElevenLabs conversation (monitor mode)",
    description="With VOICE_TRANSCRIPT_SOURCE=monitor the gateway opens ElevenLabs' real-time "
    "monitor socket for this conversation, stores its transcript (corrections included) and "
    "sends applied commands into it. Reporting the same conversation again is harmless (200, "
    "`started: false`); a new conversation id replaces the monitored one. With "
    "VOICE_TRANSCRIPT_SOURCE=client it is 409 `not_applicable` (the client sends the "
    "transcript).",
    tags=("voice",),
    roles=(Role.CANDIDATE,),
    body=ConversationIn,
    responses={202: ConversationWatched, 200: ConversationWatched},
    errors=(404, 409, 410, 503),
)
async def report_conversation(request: web.Request) -> web.Response:
    body = await read_model(request, ConversationIn)
    require(request, Role.CANDIDATE, session_id=body.session_id)
    started = await request.app[VOICE_MONITOR].watch(body.session_id, body.conversation_id)
    out = ConversationWatched(
        session_id=body.session_id, conversation_id=body.conversation_id, started=started
    )
    return model_response(out, status=202 if started else 200)


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
