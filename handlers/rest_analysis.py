"""Analysis over REST: run one now, a session's Say Meter history, suggestion feedback stats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from analysis.models import band_for
from gateway.auth import Role
from gateway.errors import ConflictError, UnavailableError, UpstreamError, UpstreamTimeout
from gateway.instants import check_storable
from handlers.api import ApiRoutes, add_api_routes, model_response, read_query
from handlers.api_models import Blueprint
from handlers.http import parse_uuid, read_model, require
from handlers.keys import ANALYSIS, ANALYTICS
from services.analysis import RunOutcome
from services.analytics import FeedbackRow

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
    responds_to: str | None = Field(None, description="the quote or concern it answers")
    intent: str | None = Field(None, description="stable key of kind + concern (dedup)")
    analysis_id: uuid.UUID | None = None
    at: datetime | None = None


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
    final: bool = Field(False, description="the call's final analysis")
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
    final: bool = Field(
        False, description="the call's final analysis (session end, end_call or silence)"
    )
    message_count: int | None = Field(
        None, description="messages the analyzed window covered (null: stored before 0011)"
    )
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


# --- routes ----------------------------------------------------------------------------------


@api.post(
    "/api/voice/analyze",
    summary="Analyze a session now",
    description="Schedules a Say Meter analysis of the session's last messages (coalesced with "
    "one already running). 202 with the analysis id the result will carry on the panel "
    "WebSocket; with `wait=true`, 200 with the stored result, 502 when the analysis failed, "
    "504 when it timed out. 410 when the session ended; 409 when it is in another round or "
    "has fewer than two messages.",
    tags=("analysis",), roles=(Role.INTERVIEWER,), body=AnalyzeRequest, query=AnalyzeQuery,
    responses={202: AnalysisScheduled, 200: AnalysisOut}, errors=(404, 409, 410, 502, 503, 504),
)
async def analyze_now(request: web.Request) -> web.Response:
    data = await read_model(request, AnalyzeRequest)
    query = read_query(request, AnalyzeQuery)
    sid = data.session_id
    require(request, Role.INTERVIEWER, session_id=sid)
    runner = request.app.get(ANALYSIS)
    if runner is None:
        raise UnavailableError("analysis is not running in this gateway")
    wait = query.timeout if query.wait else None
    outcome = await runner.analyze_now(sid, round_number=data.round_number, wait=wait)
    if not isinstance(outcome, RunOutcome):
        return model_response(AnalysisScheduled(analysis_id=outcome), status=202)
    if outcome.event is not None:
        return model_response(AnalysisOut.model_validate(outcome.event))
    if outcome.failure is not None:
        failure = outcome.failure
        details = [{"loc": "analysis", "message": failure["message"], "type": failure["reason"]}]
        if failure["reason"] == "timeout":
            raise UpstreamTimeout(failure["message"], code="timeout", details=details)
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
    rows, total = await request.app[ANALYTICS].score_history(sid, query.limit, query.offset)
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
            final=r["is_final"],
            message_count=r["message_count"],
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
    rows = await request.app[ANALYTICS].suggestion_feedback(
        blueprint=query.blueprint, since=query.since, until=query.until
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


_EMPTY = FeedbackRow(None, None, None, 0, 0, 0)


def _stats_row(r: FeedbackRow) -> StatsRow:
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
