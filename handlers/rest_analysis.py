"""Analysis over REST: run one now, a session's Say Meter history, suggestion feedback stats."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from analysis.models import band_for
from gateway.api_models import Blueprint
from gateway.auth import Role
from gateway.errors import (
    ConflictError,
    ErrorCode,
    GatewayError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
)
from gateway.instants import check_storable
from gateway.scheduler import Trigger
from handlers.analysis_runner import MIN_LINES, RunOutcome
from handlers.api import ApiRoutes, add_api_routes, model_response, read_query
from handlers.http import parse_uuid, read_model, require
from handlers.keys import ANALYSIS, LIVE, POOL
from storage import analysis as store

__all__ = [
    "AnalysisHistory",
    "AnalysisOut",
    "AnalysisScheduled",
    "AnalyzeQuery",
    "AnalyzeRequest",
    "SuggestionStats",
    "setup",
]

api = ApiRoutes()

Band = Literal["green", "yellow", "red"]
# A query bound PostgreSQL takes and Python reads back (see gateway/instants.py).
Bound = Annotated[AwareDatetime, AfterValidator(check_storable)]


# --- models ----------------------------------------------------------------------------------


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID
    round_number: int | None = Field(
        None, ge=1, le=100, description="must be the session's current round when given"
    )


class AnalyzeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait: bool = Field(False, description="answer with the result instead of 202")
    timeout: float = Field(30.0, gt=0, le=120, description="seconds to wait with `wait=true`")


class AnalysisScheduled(BaseModel):
    analysis_id: uuid.UUID = Field(description="the id the run stores and announces under")
    status: Literal["scheduled"] = "scheduled"


class MeterOut(BaseModel):
    score: int
    band: Band
    factors: dict[str, int]
    reasoning: str


class SuggestionOut(BaseModel):
    suggestion_id: uuid.UUID
    type: Literal["context_injection", "curveball", "followup_question"]
    text: str
    priority: Literal["low", "medium", "high", "critical"]
    label: str | None


class RubricFactorOut(BaseModel):
    name: str
    label: str
    weight: float


class RubricOut(BaseModel):
    blueprint: str
    title: str
    factors: list[RubricFactorOut]


class AnalysisOut(BaseModel):
    """The stored result: the `analysis` event exactly as panels received it."""

    type: Literal["analysis"] = "analysis"
    event_id: int
    session_id: uuid.UUID
    analysis_id: uuid.UUID
    round_number: int
    say_meter: MeterOut
    suggestions: list[SuggestionOut]
    analyzer: str
    rubric: RubricOut
    message_count: int
    at: datetime


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class HistoryItem(BaseModel):
    analysis_id: uuid.UUID | None
    round_number: int
    score: int
    band: Band
    factors: dict[str, Any]
    reasoning: str | None
    analyzer: str | None
    rubric: str | None
    at: datetime


class AnalysisHistory(BaseModel):
    session_id: uuid.UUID
    total: int
    limit: int
    offset: int
    items: list[HistoryItem] = Field(description="newest first")


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blueprint: Blueprint | None = None
    since: Bound | None = Field(None, description="suggestions made at or after")
    until: Bound | None = Field(None, description="suggestions made before")


class StatsRow(BaseModel):
    type: str | None = Field(description="null: all types")
    priority: str | None = Field(description="null: all priorities")
    blueprint: str | None = Field(description="null: all blueprints")
    total: int
    applied: int
    dismissed: int
    open: int
    applied_rate: float
    dismissed_rate: float


class SuggestionStats(BaseModel):
    blueprint: str | None
    since: datetime | None
    until: datetime | None
    overall: StatsRow
    by_type: list[StatsRow]
    by_priority: list[StatsRow]
    by_blueprint: list[StatsRow]
    groups: list[StatsRow] = Field(description="per (type, priority, blueprint)")


class AnalysisTimeout(GatewayError):
    status = 504
    default_code = ErrorCode.UPSTREAM_ERROR


# --- routes ----------------------------------------------------------------------------------


@api.post(
    "/api/voice/analyze",
    summary="Analyze a session now",
    description="Schedules a Say Meter analysis of the session's last messages (coalesced with "
    "one already running). 202 with the analysis id the result will carry on the panel "
    "WebSocket; with `wait=true`, 200 with the stored result, 502 when the analysis failed, "
    "504 when it timed out. 409 when the session ended, is in another round, or has fewer "
    "than two messages.",
    tags=("analysis",), roles=(Role.INTERVIEWER,), body=AnalyzeRequest, query=AnalyzeQuery,
    responses={202: AnalysisScheduled, 200: AnalysisOut}, errors=(404, 409, 502, 503, 504),
)
async def analyze_now(request: web.Request) -> web.Response:
    data = await read_model(request, AnalyzeRequest)
    query = read_query(request, AnalyzeQuery)
    sid = data.session_id
    require(request, Role.INTERVIEWER, session_id=sid)
    runner = request.app.get(ANALYSIS)
    if runner is None:
        raise UnavailableError("analysis is not running in this gateway")
    hub = request.app[LIVE].hub
    state = await hub.acquire(sid)
    if state is None:
        raise NotFoundError("session not found")
    if state.ended:
        raise ConflictError("the session has ended")
    if data.round_number is not None and data.round_number != state.round_number:
        raise ConflictError(f"the session is in round {state.round_number}")
    if len(await hub.window(sid)) < MIN_LINES:
        raise ConflictError(f"nothing to analyze yet: at least {MIN_LINES} messages are needed")
    if not query.wait:
        run_id = runner.scheduler.schedule(Trigger(sid, "manual"))
        if run_id is None:
            raise UnavailableError("the gateway is shutting down")
        return model_response(AnalysisScheduled(analysis_id=run_id), status=202)

    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    if runner.scheduler.schedule(Trigger(sid, "manual", done=done)) is None:
        raise UnavailableError("the gateway is shutting down")
    await asyncio.wait({done}, timeout=query.timeout)
    if not done.done():
        done.cancel()  # the run goes on and still reaches the panels; this caller stops waiting
        raise AnalysisTimeout(
            f"no result within {query.timeout:g}s; it will still reach the panels",
            code="timeout",
        )
    if done.cancelled():
        raise UnavailableError("the gateway is shutting down")
    error = done.exception()
    if error is not None:
        raise UpstreamError("the analysis failed") from error
    outcome = done.result()
    assert isinstance(outcome, RunOutcome)
    if outcome.event is not None:
        return model_response(AnalysisOut.model_validate(outcome.event))
    if outcome.failure is not None:
        failure = outcome.failure
        details = [{"loc": "analysis", "message": failure["message"], "type": failure["reason"]}]
        if failure["reason"] == "timeout":
            raise AnalysisTimeout(failure["message"], code="timeout", details=details)
        raise UpstreamError(f"the analysis failed: {failure['message']}", details=details)
    raise ConflictError(f"nothing was analyzed: {outcome.skipped}")


@api.get(
    "/api/sessions/{id}/analysis",
    summary="Say Meter history of a session",
    description="Every analysis run of the session, newest first, with its factor breakdown.",
    tags=("analysis",), roles=(Role.INTERVIEWER,), query=HistoryQuery,
    responses={200: AnalysisHistory},
)
async def session_analysis(request: web.Request) -> web.Response:
    sid = parse_uuid(request.match_info["id"], "session")
    require(request, Role.INTERVIEWER, session_id=sid)
    query = read_query(request, HistoryQuery)
    pool = request.app[POOL]
    if not await store.session_exists(pool, sid):
        raise NotFoundError("session not found")
    rows, total = await store.score_history(pool, sid, query.limit, query.offset)
    items = [
        HistoryItem(
            analysis_id=r["run_id"],
            round_number=r["round_number"],
            score=r["meter_score"],
            band=band_for(r["meter_score"]),
            factors=r["meter_factors"] or {},
            reasoning=r["reasoning"],
            analyzer=r["analyzer"],
            rubric=r["rubric"],
            at=r["triggered_at"],
        )
        for r in rows
    ]
    return model_response(
        AnalysisHistory(
            session_id=sid, total=total, limit=query.limit, offset=query.offset, items=items
        )
    )


@api.get(
    "/api/analytics/suggestions",
    summary="Suggestion feedback stats",
    description="How often AI suggestions were applied or dismissed, per suggestion type, "
    "priority and blueprint (and every combination), optionally for one blueprint and a "
    "time range.",
    tags=("analysis",), roles=(Role.ADMIN,), query=StatsQuery,
    responses={200: SuggestionStats},
)
async def suggestion_stats(request: web.Request) -> web.Response:
    query = read_query(request, StatsQuery)
    rows = await store.suggestion_feedback(
        request.app[POOL], blueprint=query.blueprint, since=query.since, until=query.until
    )
    out = [_stats_row(r) for r in rows]
    dims = ("type", "priority", "blueprint")

    def only(dim: str | None) -> list[StatsRow]:
        return [
            r for r in out if all((getattr(r, d) is not None) == (d == dim) for d in dims)
        ]

    overall = only(None)
    return model_response(
        SuggestionStats(
            blueprint=query.blueprint,
            since=query.since,
            until=query.until,
            overall=overall[0] if overall else _stats_row(_EMPTY),
            by_type=only("type"),
            by_priority=only("priority"),
            by_blueprint=only("blueprint"),
            groups=[r for r in out if all(getattr(r, d) is not None for d in dims)],
        )
    )


_EMPTY = store.FeedbackRow(None, None, None, 0, 0, 0)


def _stats_row(r: store.FeedbackRow) -> StatsRow:
    return StatsRow(
        type=r.type,
        priority=r.priority,
        blueprint=r.blueprint,
        total=r.total,
        applied=r.applied,
        dismissed=r.dismissed,
        open=r.open,
        applied_rate=round(r.applied_rate, 4),
        dismissed_rate=round(r.dismissed_rate, 4),
    )


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
