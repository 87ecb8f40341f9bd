"""The REST routes behind the pages: the sessions list, a session's report and transcript,
and the persona preview. Each parses, calls one service function and answers."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Role
from gateway.errors import ForbiddenError, InvalidInputError, NotFoundError
from handlers.api import ApiRoutes, add_api_routes, model_response, read_query
from handlers.http import parse_uuid, read_model, require
from handlers.keys import POOL, SETTINGS
from handlers.page_models import (
    PersonaPreview,
    PersonaPreviewRequest,
    Report,
    SessionListQuery,
    SessionPage,
    Transcript,
)
from services.persona_preview import preview_persona
from services.reports import session_report, session_transcript, transcript_text
from services.session_queries import SessionFilters, session_page

__all__ = ["setup"]

api = ApiRoutes()
NO_STORE = {"Cache-Control": "no-store"}


@api.get(
    "/api/sessions",
    summary="List sessions",
    description="Newest first. Filters: status, blueprint (any case), persona, scenario, part "
    "of the candidate's name, creation time range; paged with limit and offset. Admins and "
    "account-level interviewers (a token tied to one interview is a 403).",
    tags=("sessions",), roles=(Role.INTERVIEWER,), query=SessionListQuery,
    responses={200: SessionPage},
)
async def list_sessions(request: web.Request) -> web.Response:
    if not require(request, Role.INTERVIEWER).account_level:
        raise ForbiddenError("this token belongs to one interview; it cannot list the others")
    q = read_query(request, SessionListQuery)
    if q.since is not None and q.until is not None and q.until <= q.since:
        raise InvalidInputError(
            "query string failed validation",
            details=[{"loc": "query.until", "message": "must be after since", "type": "range"}],
        )
    filters = SessionFilters(
        status=q.status, blueprint=q.blueprint, persona_id=q.persona_id,
        scenario_id=q.scenario_id, candidate=q.candidate, since=q.since, until=q.until,
    )
    page = await session_page(request.app[POOL], filters, q.limit, q.offset)
    return model_response(SessionPage.model_validate(page), headers=NO_STORE)


@api.get(
    "/api/sessions/{id}/report",
    summary="A session's report",
    description="The whole transcript, score history with factors, every suggestion with what "
    "happened to it (open, applied, asked, dismissed, expired), every command with its "
    "delivery time, durations and talk share. Works while the interview runs, too.",
    tags=("sessions",), roles=(Role.INTERVIEWER,), responses={200: Report},
)
async def get_report(request: web.Request) -> web.Response:
    session_id = parse_uuid(request.match_info["id"], "session")
    require(request, Role.INTERVIEWER, session_id=session_id)
    weights = request.app[SETTINGS].analysis_weights or None
    report = await session_report(request.app[POOL], session_id, weights)
    if report is None:
        raise NotFoundError("session not found")
    return model_response(Report.model_validate(report), headers=NO_STORE)


@api.get(
    "/api/sessions/{id}/transcript",
    summary="A session's transcript",
    description="Every message, oldest first, as JSON; with `Accept: text/plain`, one "
    "`[hh:mm:ss] Speaker: text` line per message (UTC).",
    tags=("sessions",), roles=(Role.INTERVIEWER,), responses={200: Transcript},
)
async def get_transcript(request: web.Request) -> web.Response:
    session_id = parse_uuid(request.match_info["id"], "session")
    require(request, Role.INTERVIEWER, session_id=session_id)
    transcript = await session_transcript(request.app[POOL], session_id)
    if transcript is None:
        raise NotFoundError("session not found")
    accept = request.headers.get("Accept", "")
    if "text/plain" in accept and "application/json" not in accept:
        return web.Response(
            text=transcript_text(transcript), content_type="text/plain", charset="utf-8",
            headers=NO_STORE,
        )
    return model_response(Transcript.model_validate(transcript), headers=NO_STORE)


@api.post(
    "/api/personas/preview",
    summary="Preview a persona's rendered prompt",
    description="Renders unsaved templates against a scenario, with `difficulty_instructions` "
    "filled in from the difficulty. Template mistakes are a 422 with the same messages as "
    "saving; an unknown scenario is a 404.",
    tags=("personas",), roles=(Role.ADMIN,), body=PersonaPreviewRequest,
    responses={200: PersonaPreview}, errors=(404,),
)
async def preview(request: web.Request) -> web.Response:
    data = await read_model(request, PersonaPreviewRequest)
    result = await preview_persona(
        request.app[POOL], data.persona(), data.prompt_template, data.first_message_template,
        data.scenario_id,
    )
    if result is None:
        raise NotFoundError("scenario not found")
    return model_response(PersonaPreview.model_validate(result))


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
