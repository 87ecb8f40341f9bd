"""Interview sessions: create (with scoped tokens), read, end."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from gateway.api_models import (
    LatestMeter,
    PersonaSummary,
    ScenarioSummary,
    SessionCreate,
    SessionCreated,
    SessionDetail,
    SessionEnded,
)
from gateway.auth import Role, issue_token
from gateway.errors import ForbiddenError, InvalidInputError, NotFoundError
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.http import parse_uuid, read_model, require
from handlers.keys import AGENT_SWEEPER, POOL, SESSION_ENDED_HOOKS, SETTINGS
from services.session_setup import track_warnings
from storage import sessions as store

__all__ = ["on_session_ended", "setup"]

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
    try:
        row = await store.create_session(
            request.app[POOL], data.persona_id, data.scenario_id, data.round_number,
            data.candidate_name,
        )
    except store.SetupRejected as err:
        raise InvalidInputError(
            err.message, details=[{"loc": err.field, "message": err.message, "type": "invalid"}]
        ) from None
    settings = request.app[SETTINGS]
    session_id: uuid.UUID = row["id"]
    candidate = issue_token(
        settings.secret(), Role.CANDIDATE, session_id=session_id, ttl_s=settings.token_ttl_s
    )
    interviewer = issue_token(
        settings.secret(), Role.INTERVIEWER, session_id=session_id, ttl_s=settings.token_ttl_s
    )
    base = _base_url(request)
    body = SessionCreated(
        session_id=session_id,
        status=row["status"],
        round_number=row["round_number"],
        persona_id=data.persona_id,
        scenario_id=data.scenario_id,
        candidate_token=candidate,
        interviewer_token=interviewer,
        panel_url=f"{base}/panel/{session_id}?token={interviewer}",
        candidate_url=f"{base}/candidate/{session_id}?token={candidate}",
        report_url=f"{base}/interviews/{session_id}/report",
        warnings=track_warnings(row["persona_blueprint"], row["scenario_blueprint"]),
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
    row = await store.get_session_detail(request.app[POOL], session_id)
    if row is None:
        raise NotFoundError("session not found")
    persona = scenario = meter = None
    if row["p_id"] is not None:
        persona = PersonaSummary(
            id=row["p_id"], name=row["p_name"], role=row["p_role"],
            blueprint=row["p_blueprint"], difficulty=row["p_difficulty"],
            language=row["p_language"],
        )
    if row["sc_id"] is not None:
        scenario = ScenarioSummary(
            id=row["sc_id"], name=row["sc_name"], industry=row["sc_industry"],
            blueprint=row["sc_blueprint"],
        )
    if row["latest_meter"] is not None:
        m = row["latest_meter"]
        meter = LatestMeter(
            score=m["meter_score"], factors=m["meter_factors"] or {}, label=m["label"],
            reasoning=m["reasoning"], triggered_at=m["triggered_at"],
        )
    detail = SessionDetail(
        session_id=row["id"],
        status=row["status"],
        round_number=row["round_number"],
        candidate_name=row["candidate_name"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        persona=persona,
        scenario=scenario,
        voice_agent_id=row["voice_agent_id"],
        voice_agent_provider=row["voice_agent_provider"],
        message_count=row["message_count"],
        latest_meter=meter,
    )
    return model_response(detail)


async def on_session_ended(app: web.Application, session_id: uuid.UUID) -> None:
    """After the end is committed: run every registered hook, then nudge agent clean-up.

    Hooks (`app[SESSION_ENDED_HOOKS]`, e.g. telling connected clients) run once per session,
    in order; one failing is logged and does not stop the others or fail the request.
    """
    for hook in app.get(SESSION_ENDED_HOOKS, []):
        try:
            await hook(session_id)
        except Exception:
            log.exception("session-ended hook %r failed for %s", hook, session_id)
    sweeper = app.get(AGENT_SWEEPER)
    if sweeper is not None:
        sweeper.nudge()


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
    result = await store.end_session(request.app[POOL], session_id)
    if result is None:
        raise NotFoundError("session not found")
    if not result.already_ended:
        await on_session_ended(request.app, session_id)
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
