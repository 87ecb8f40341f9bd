"""Analysis runs in the design's unified `voice_analysis` table, their history and feedback stats.

One run is one `say_meter` row (score, factors, reasoning) plus one row per suggestion
(`analysis_type` suggestion / curveball / followup, `suggestion_category` the suggestion's type
string), all sharing `run_id`. Callers own the transaction, so a run's rows commit together
with its `analysis` event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "ANALYSIS_TYPES",
    "FeedbackRow",
    "NewRun",
    "NewSuggestion",
    "StoredRun",
    "insert_run",
    "previous_score",
    "score_history",
    "session_exists",
    "suggestion_feedback",
]

# A dedicated or pooled connection (for writes inside the caller's transaction), or the pool.
Conn = asyncpg.Connection | PoolConnectionProxy
DB = Conn | asyncpg.Pool

# The suggestion's type (wire and suggestion_category) -> the design's analysis_type.
ANALYSIS_TYPES = {
    "context_injection": "suggestion",
    "curveball": "curveball",
    "followup_question": "followup",
}

INSERT_METER = """
INSERT INTO voice_analysis (session_id, round_number, analysis_type, meter_score, meter_factors,
                            reasoning, rubric, analyzer, run_id)
VALUES ($1, $2, 'say_meter', $3, $4, $5, $6, $7, $8)
RETURNING triggered_at
"""

INSERT_SUGGESTIONS = """
INSERT INTO voice_analysis (id, session_id, round_number, analysis_type, suggestion_text,
                            suggestion_category, priority, label, rubric, analyzer, run_id)
SELECT t.id, $1, $2, t.analysis_type, t.text, t.category, t.priority, t.label, $3, $4, $5
FROM unnest($6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
     AS t(id, analysis_type, text, category, priority, label)
"""

SELECT_PREVIOUS_SCORE = """
SELECT meter_score FROM voice_analysis
WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at DESC, created_at DESC LIMIT 1
"""

SELECT_SESSION_EXISTS = "SELECT EXISTS (SELECT 1 FROM interview_sessions WHERE id = $1)"

SELECT_HISTORY = """
SELECT run_id, round_number, meter_score, meter_factors, reasoning, rubric, analyzer,
       triggered_at, count(*) OVER () AS total
FROM voice_analysis
WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at DESC, created_at DESC
LIMIT $2 OFFSET $3
"""

SELECT_HISTORY_TOTAL = """
SELECT count(*) FROM voice_analysis WHERE session_id = $1 AND analysis_type = 'say_meter'
"""

# One query, every breakdown: (type, priority, blueprint) groups plus per-type, per-priority,
# per-blueprint and overall rollups. GROUPING() tells them apart (1 = rolled up).
SELECT_FEEDBACK = """
WITH s AS (
  SELECT coalesce(va.suggestion_category, va.analysis_type) AS type,
         coalesce(va.priority, 'medium') AS priority,
         coalesce(p.blueprint, sp.blueprint, 'sales') AS blueprint,
         -- a follow-up question marked asked counts as applied: the interviewer acted on it
         va.applied_at IS NOT NULL OR va.asked_at IS NOT NULL AS applied,
         va.applied_at IS NULL AND va.asked_at IS NULL AND coalesce(va.dismissed, false)
           AS dismissed
  FROM voice_analysis va
  LEFT JOIN interview_scope_packages sp ON sp.session_id = va.session_id
  LEFT JOIN personas p ON p.id = sp.selected_persona_id
  WHERE va.analysis_type <> 'say_meter'
    AND ($2::timestamptz IS NULL OR va.triggered_at >= $2)
    AND ($3::timestamptz IS NULL OR va.triggered_at < $3)
)
SELECT type, priority, blueprint,
       GROUPING(type) AS g_type, GROUPING(priority) AS g_priority,
       GROUPING(blueprint) AS g_blueprint,
       count(*) AS total,
       count(*) FILTER (WHERE applied) AS applied,
       count(*) FILTER (WHERE dismissed) AS dismissed
FROM s
WHERE $1::text IS NULL OR blueprint = $1
GROUP BY GROUPING SETS ((type, priority, blueprint), (type), (priority), (blueprint), ())
ORDER BY g_type, g_priority, g_blueprint, type, priority, blueprint
"""


@dataclass(frozen=True, slots=True)
class NewSuggestion:
    type: str  # context_injection | curveball | followup_question
    text: str
    priority: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: uuid.UUID
    session_id: uuid.UUID
    round_number: int
    score: int
    factors: dict[str, int]
    reasoning: str
    rubric: str
    analyzer: str
    suggestions: Sequence[NewSuggestion]


@dataclass(frozen=True, slots=True)
class StoredRun:
    triggered_at: datetime
    suggestion_ids: list[uuid.UUID]  # in the order of `NewRun.suggestions`


async def insert_run(conn: Conn, run: NewRun) -> StoredRun:
    """Store one run (say_meter row + one row per suggestion); call inside a transaction."""
    triggered_at = await conn.fetchval(
        INSERT_METER,
        run.session_id,
        run.round_number,
        run.score,
        run.factors,
        run.reasoning,
        run.rubric,
        run.analyzer,
        run.run_id,
    )
    ids = [uuid.uuid4() for _ in run.suggestions]
    if ids:
        await conn.execute(
            INSERT_SUGGESTIONS,
            run.session_id,
            run.round_number,
            run.rubric,
            run.analyzer,
            run.run_id,
            ids,
            [ANALYSIS_TYPES[s.type] for s in run.suggestions],
            [s.text for s in run.suggestions],
            [s.type for s in run.suggestions],
            [s.priority for s in run.suggestions],
            [s.label for s in run.suggestions],
        )
    return StoredRun(triggered_at=triggered_at, suggestion_ids=ids)


SELECT_SUGGESTION_TEXTS = """
SELECT DISTINCT suggestion_text FROM voice_analysis
WHERE session_id = $1 AND analysis_type <> 'say_meter'
"""


async def earlier_suggestion_texts(conn: DB, session_id: uuid.UUID) -> set[str]:
    """Normalized texts of every suggestion the session was already offered (any status)."""
    rows = await conn.fetch(SELECT_SUGGESTION_TEXTS, session_id)
    return {_normalize(r["suggestion_text"] or "") for r in rows}


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


def is_repeat(text: str, earlier: set[str]) -> bool:
    return _normalize(text) in earlier


async def previous_score(conn: DB, session_id: uuid.UUID) -> int | None:
    """The latest stored Say Meter score of a session (None before its first run)."""
    value = await conn.fetchval(SELECT_PREVIOUS_SCORE, session_id)
    return int(value) if value is not None else None


async def session_exists(conn: DB, session_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval(SELECT_SESSION_EXISTS, session_id))


async def score_history(
    conn: DB, session_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """Say Meter runs newest first (with factors and reasoning), and how many there are."""
    rows = list(await conn.fetch(SELECT_HISTORY, session_id, limit, offset))
    total = rows[0]["total"] if rows else int(await conn.fetchval(SELECT_HISTORY_TOTAL, session_id))
    return rows, int(total)


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """Counts for one group; a dimension that is None was rolled up (all values)."""

    type: str | None
    priority: str | None
    blueprint: str | None
    total: int
    applied: int
    dismissed: int

    @property
    def open(self) -> int:
        return self.total - self.applied - self.dismissed

    @property
    def applied_rate(self) -> float:
        return self.applied / self.total if self.total else 0.0

    @property
    def dismissed_rate(self) -> float:
        return self.dismissed / self.total if self.total else 0.0


async def suggestion_feedback(
    conn: DB,
    *,
    blueprint: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[FeedbackRow]:
    """Applied/dismissed counts per (type, priority, blueprint) and every rollup of them."""
    rows = await conn.fetch(SELECT_FEEDBACK, blueprint, since, until)
    return [_feedback(r) for r in rows]


def _feedback(r: Any) -> FeedbackRow:
    return FeedbackRow(
        type=None if r["g_type"] else r["type"],
        priority=None if r["g_priority"] else r["priority"],
        blueprint=None if r["g_blueprint"] else r["blueprint"],
        total=int(r["total"]),
        applied=int(r["applied"]),
        dismissed=int(r["dismissed"]),
    )
