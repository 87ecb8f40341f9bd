"""`POST /api/voice/elevenlabs-session`: the session's voice agent (see services.voice.agents)."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Role
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.api_models import VoiceAgentRequest, VoiceAgentResponse
from handlers.http import read_model, require
from handlers.keys import VOICE_AGENTS

__all__ = ["setup"]

api = ApiRoutes()


@api.post(
    "/api/voice/elevenlabs-session",
    summary="Create or reuse the session's voice agent",
    description="Returns the session's agent id, creating the agent on first use from the "
    "persona's rendered prompt. Candidates may call it for their own session.",
    tags=("voice",), roles=(Role.CANDIDATE,), body=VoiceAgentRequest,
    responses={200: VoiceAgentResponse}, errors=(404, 409, 502, 503),
)
async def elevenlabs_session(request: web.Request) -> web.Response:
    data = await read_model(request, VoiceAgentRequest)
    require(request, Role.CANDIDATE, session_id=data.session_id)
    agent = await request.app[VOICE_AGENTS].session_agent(data.session_id)
    return model_response(
        VoiceAgentResponse(agent_id=agent.agent_id, cached=agent.cached, provider=agent.provider)
    )


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
