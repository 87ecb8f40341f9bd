"""Analysis runs in the design's unified `voice_analysis` table, their history and feedback stats.

One run is one `say_meter` row (score, factors, reasoning, the message count it covered,
whether it was final) plus one row per suggestion (`analysis_type` suggestion / curveball /
followup, `suggestion_category` the suggestion's type string, what it responds to, its intent
and deduplication key), all sharing `run_id`. Callers own the transaction, so a run's rows
commit together with its `analysis` event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.pool import DB, Conn

__all__ = [
    "ANALYSIS_TYPES",
    "FeedbackRow",
    "LastRun",
    "NewRun",
    "NewSuggestion",
    "OpenRow",
    "StoredRun",
    "age_suggestions",
    "call_context_row",
    "dedup_key",
    "earlier_keys",
    "insert_run",
    "intent_slug",
    "last_run",
    "mark_final",
    "open_suggestions",
    "previous_score",
    "score_history",
    "session_exists",
    "suggestion_feedback",
]

# A dedicated or pooled connection (for writes inside the caller's transaction), or the pool.

# The suggestion's type (wire and suggestion_category) -> the design's analysis_type.
ANALYSIS_TYPES = {
    "context_injection": "suggestion",
    "curveball": "curveball",
    "followup_question": "followup",
}

INSERT_METER = """
INSERT INTO voice_analysis (session_id, round_number, analysis_type, meter_score, meter_factors,
                            reasoning, rubric, analyzer, run_id, message_count, is_final)
VALUES ($1, $2, 'say_meter', $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING triggered_at
"""

INSERT_SUGGESTIONS = """
INSERT INTO voice_analysis (id, session_id, round_number, analysis_type, suggestion_text,
                            suggestion_category, priority, label, rubric, analyzer, run_id,
                            responds_to, intent, intent_key, triggered_at)
SELECT t.id, $1, $2, t.analysis_type, t.text, t.category, t.priority, t.label, $3, $4, $5,
       t.responds_to, t.intent, t.intent_key, $15
FROM unnest($6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
            $12::text[], $13::text[], $14::text[])
     AS t(id, analysis_type, text, category, priority, label, responds_to, intent, intent_key)
"""

SELECT_PREVIOUS_SCORE = """
SELECT meter_score FROM voice_analysis
WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at DESC, created_at DESC LIMIT 1
"""

SELECT_SESSION_EXISTS = "SELECT EXISTS (SELECT 1 FROM interview_sessions WHERE id = $1)"

SELECT_HISTORY = """
SELECT run_id, round_number, meter_score, meter_factors, reasoning, rubric, analyzer,
       triggered_at, is_final, message_count, count(*) OVER () AS total
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
    responds_to: str | None = None
    intent: str | None = None

    @property
    def key(self) -> str:
        return dedup_key(self.type, self.intent, self.text)


_NOT_WORD = re.compile(r"[^a-z0-9:]+")
_AROUND_COLON = re.compile(r"_*:[_:]*")


def intent_slug(intent: str | None) -> str:
    """An intent normalized: lowercase, anything but letters, digits and `:` as `_`."""
    return _AROUND_COLON.sub(":", _NOT_WORD.sub("_", (intent or "").lower())).strip("_:")


def dedup_key(kind: str, intent: str | None, text: str) -> str:
    """The session's deduplication key: the suggestion's type plus its normalized intent, or
    plus its normalized text when it has no intent (migration 0011 backfills the same way)."""
    slug = intent_slug(intent)
    if slug:
        return f"{kind}|intent:{slug}"
    return f"{kind}|text:{' '.join(text.lower().split())}"


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
    message_count: int | None = None
    final: bool = False


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
        run.message_count,
        run.final,
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
            [s.responds_to for s in run.suggestions],
            [s.intent for s in run.suggestions],
            [s.key for s in run.suggestions],
            triggered_at,
        )
    return StoredRun(triggered_at=triggered_at, suggestion_ids=ids)


SELECT_KEYS = """
SELECT DISTINCT intent_key FROM voice_analysis
WHERE session_id = $1 AND analysis_type <> 'say_meter' AND intent_key IS NOT NULL
"""


async def earlier_keys(conn: DB, session_id: uuid.UUID) -> set[str]:
    """Deduplication keys of every suggestion the session was already offered (any status:
    open, applied, dismissed or expired, the interviewer has seen it)."""
    return {r["intent_key"] for r in await conn.fetch(SELECT_KEYS, session_id)}


SELECT_OPEN = """
SELECT id, intent_key, intent, suggestion_text, priority, stale_runs
FROM voice_analysis
WHERE session_id = $1 AND analysis_type <> 'say_meter' AND applied_at IS NULL
  AND NOT coalesce(dismissed, false) AND expired_at IS NULL
ORDER BY triggered_at, created_at
"""


@dataclass(frozen=True, slots=True)
class OpenRow:
    """A suggestion still open in the panel (neither applied, dismissed nor expired)."""

    id: uuid.UUID
    key: str
    intent: str | None
    text: str
    priority: str | None
    stale_runs: int


async def open_suggestions(
    conn: Conn, session_id: uuid.UUID, *, lock: bool = False
) -> list[OpenRow]:
    """The session's open suggestions, oldest first; with `lock`, locked until the caller's
    commit (an apply or dismiss of one of them waits for the run that ages them)."""
    rows = await conn.fetch(SELECT_OPEN + (" FOR UPDATE" if lock else ""), session_id)
    return [
        OpenRow(
            r["id"],
            r["intent_key"] or "",
            r["intent"],
            r["suggestion_text"] or "",
            r["priority"],
            r["stale_runs"],
        )
        for r in rows
    ]


AGE_SUGGESTIONS = """
UPDATE voice_analysis
SET stale_runs = CASE WHEN id = ANY($1::uuid[]) THEN 0 ELSE stale_runs + 1 END,
    expired_at = CASE WHEN id = ANY($2::uuid[]) THEN now() ELSE expired_at END
WHERE id = ANY($3::uuid[])
"""


async def age_suggestions(
    conn: Conn,
    *,
    raised: Sequence[uuid.UUID],
    expired: Sequence[uuid.UUID],
    aged: Sequence[uuid.UUID],
) -> None:
    """After a run: `raised` ones start counting again, `expired` ones are retired, the
    other `aged` ones count one more analysis that did not raise them."""
    if aged:
        await conn.execute(AGE_SUGGESTIONS, list(raised), list(expired), list(aged))


SELECT_LAST_RUN = """
SELECT run_id, meter_score, message_count, is_final FROM voice_analysis
WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at DESC, created_at DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class LastRun:
    run_id: uuid.UUID | None
    score: int
    message_count: int | None  # None for runs stored before migration 0011
    final: bool


async def last_run(conn: DB, session_id: uuid.UUID) -> LastRun | None:
    """The session's latest stored run (None before its first)."""
    row = await conn.fetchrow(SELECT_LAST_RUN, session_id)
    if row is None:
        return None
    return LastRun(row["run_id"], int(row["meter_score"]), row["message_count"], row["is_final"])


MARK_FINAL = """
UPDATE voice_analysis SET is_final = true
WHERE run_id = $1 AND session_id = $2 AND analysis_type = 'say_meter'
"""


async def mark_final(conn: DB, session_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Mark an already stored run as the call's final one (it covered the last message)."""
    await conn.execute(MARK_FINAL, run_id, session_id)


SELECT_CALL_CONTEXT = """
SELECT p.name AS persona_name, p.role AS persona_role, p.personality_traits,
       p.objection_patterns, p.difficulty,
       sc.name AS scenario_name, sc.description AS scenario_description, sc.pain_points,
       sc.budget_range, sc.decision_timeline
FROM interview_scope_packages sp
LEFT JOIN personas p ON p.id = sp.selected_persona_id
LEFT JOIN scenarios sc ON sc.id = sp.selected_scenario_id
WHERE sp.session_id = $1
"""


async def call_context_row(conn: DB, session_id: uuid.UUID) -> Any:
    """The persona and scenario columns the analyzer's prompt carries (None: no package)."""
    return await conn.fetchrow(SELECT_CALL_CONTEXT, session_id)


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
