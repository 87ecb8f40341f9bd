"""Interview sessions: create (with scoped tokens), read, end."""

from __future__ import annotations

import logging

from aiohttp import web

from gateway.auth import Role
from gateway.errors import ForbiddenError
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.api_models import (
    LatestMeter,
    PersonaSummary,
    ScenarioSummary,
    SessionCreate,
    SessionCreated,
    SessionDetail,
    SessionEnded,
)
from handlers.http import parse_uuid, read_model, require
from handlers.keys import SESSIONS, SETTINGS

__all__ = ["setup"]

log = logging.getLogger("gateway.sessions")

api = ApiRoutes()
TAGS = ("sessions",)


def _base_url(request: web.Request) -> str:
    configured = request.app[SETTINGS].public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


@api.post(
    "/api/sessions",
    summary="Create an interview session",
    description="Creates the session and its scope package (persona, scenario) and returns "
    "bearer tokens scoped to it plus the interviewer panel URL. Admins and account-level "
    "interviewers only (a token scoped to one session is a 403). A persona and a scenario from "
    "different tracks are accepted with a `warnings` entry.",
    tags=TAGS, roles=(Role.INTERVIEWER,), body=SessionCreate, responses={201: SessionCreated},
    links={
        201: {
            "GetSession": {
                "operationId": "get_session",
                "parameters": {"id": "$response.body#/session_id"},
            },
            "EndSession": {
                "operationId": "end_session",
                "parameters": {"id": "$response.body#/session_id"},
            },
            "StartVoiceAgent": {
                "operationId": "elevenlabs_session",
                "requestBody": {"session_id": "$response.body#/session_id"},
            },
        }
    },
)
async def create_session(request: web.Request) -> web.Response:
    if not require(request, Role.INTERVIEWER).account_level:
        raise ForbiddenError(
            "this interviewer token belongs to one interview and cannot create new ones; "
            "sign in with `interview-gateway login-url --role interviewer`"
        )
    data = await read_model(request, SessionCreate)
    created = await request.app[SESSIONS].create(
        data.persona_id, data.scenario_id, data.round_number, data.candidate_name
    )
    session_id = created.session_id
    base = _base_url(request)
    body = SessionCreated(
        session_id=session_id,
        status=created.status,
        round_number=created.round_number,
        persona_id=data.persona_id,
        scenario_id=data.scenario_id,
        candidate_token=created.candidate_token,
        interviewer_token=created.interviewer_token,
        panel_url=f"{base}/panel/{session_id}?token={created.interviewer_token}",
        candidate_url=f"{base}/candidate/{session_id}?token={created.candidate_token}",
        report_url=f"{base}/interviews/{session_id}/report",
        warnings=created.warnings,
    )
    return model_response(body, status=201, headers={"Location": f"/api/sessions/{session_id}"})


@api.get(
    "/api/sessions/{id}",
    summary="Get a session",
    description="Status, persona, scenario, voice agent, message count and the latest Say "
    "Meter. Interviewer and candidate tokens only see their own session.",
    tags=TAGS, roles=(Role.INTERVIEWER, Role.CANDIDATE), responses={200: SessionDetail},
)
async def get_session(request: web.Request) -> web.Response:
    session_id = parse_uuid(request.match_info["id"], "session")
    require(request, Role.INTERVIEWER, Role.CANDIDATE, session_id=session_id)
    found = await request.app[SESSIONS].detail(session_id)
    row, m = found.session, found.latest_meter
    persona = PersonaSummary.model_validate(row.persona) if row.persona else None
    scenario = ScenarioSummary.model_validate(row.scenario) if row.scenario else None
    meter = None
    if m is not None:
        meter = LatestMeter(
            score=m["meter_score"], factors=m["meter_factors"] or {}, label=m["label"],
            reasoning=m["reasoning"], triggered_at=m["triggered_at"],
        )
    detail = SessionDetail(
        session_id=row.id,
        status=row.status,
        round_number=row.round_number,
        candidate_name=row.candidate_name,
        started_at=row.started_at,
        ended_at=row.ended_at,
        persona=persona,
        scenario=scenario,
        voice_agent_id=row.voice_agent_id,
        voice_agent_provider=row.voice_agent_provider,
        message_count=row.message_count,
        latest_meter=meter,
    )
    return model_response(detail)


@api.post(
    "/api/sessions/{id}/end",
    summary="End a session",
    description="Marks the round completed, stores the full transcript as one JSON artifact, "
    "tells connected clients and schedules voice agent clean-up. Ending twice is harmless.",
    tags=TAGS, roles=(Role.INTERVIEWER,), responses={200: SessionEnded},
)
async def end_session(request: web.Request) -> web.Response:
    session_id = parse_uuid(request.match_info["id"], "session")
    require(request, Role.INTERVIEWER, session_id=session_id)
    result = await request.app[SESSIONS].end(session_id)
    return model_response(
        SessionEnded(
            session_id=result.session_id,
            status=result.status,
            ended_at=result.ended_at,
            already_ended=result.already_ended,
            message_count=result.message_count,
        )
    )


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
