"""Reads for live sessions: what the hub warms with and what a panel's snapshot shows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from storage.pool import DB, Pool, Record
from storage.sessions import SessionRow, load_session_row

__all__ = [
    "SessionRow",
    "Snapshot",
    "ensure_counters",
    "last_seq",
    "load_session_row",
    "load_snapshot",
]

ENSURE_COUNTERS = """
INSERT INTO session_counters (session_id) VALUES ($1) ON CONFLICT (session_id) DO NOTHING
"""

SELECT_TRANSCRIPT_TAIL = """
SELECT id, seq, round_number, role, text, timestamp, word_count, revision FROM (
  SELECT id, seq, round_number, role, text, timestamp, word_count, revision, created_at
  FROM voice_transcripts WHERE session_id = $1
  ORDER BY created_at DESC, seq DESC NULLS LAST LIMIT $2
) t ORDER BY created_at, seq NULLS FIRST
"""

SELECT_LATEST_METER = """
SELECT run_id, meter_score, meter_factors, reasoning, triggered_at, rubric, analyzer, is_final
FROM voice_analysis WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at DESC, created_at DESC LIMIT 1
"""

SELECT_OPEN_SUGGESTIONS = """
SELECT id, run_id, suggestion_category, suggestion_text, priority, label, responds_to, intent,
       triggered_at
FROM voice_analysis
WHERE session_id = $1 AND analysis_type <> 'say_meter'
  AND coalesce(dismissed, false) = false AND applied_at IS NULL AND expired_at IS NULL
  AND asked_at IS NULL
ORDER BY triggered_at DESC, created_at DESC LIMIT $2
"""

SELECT_SCORE_HISTORY = """
SELECT run_id, meter_score, triggered_at, is_final FROM (
  SELECT run_id, meter_score, triggered_at, created_at, is_final FROM voice_analysis
  WHERE session_id = $1 AND analysis_type = 'say_meter'
  ORDER BY triggered_at DESC, created_at DESC LIMIT $2
) h ORDER BY triggered_at, created_at
"""

SELECT_ALERTS = """
SELECT event_id, payload FROM live_events
WHERE session_id = $1 AND event_type = 'alert' ORDER BY event_id DESC LIMIT $2
"""


async def ensure_counters(conn: DB, session_id: uuid.UUID) -> None:
    """Sessions created outside the API (or before counters existed) get their counters row."""
    await conn.execute(ENSURE_COUNTERS, session_id)


@dataclass(frozen=True, slots=True)
class Snapshot:
    session: SessionRow
    transcript: list[Record]
    meter: Record | None
    suggestions: list[Record]
    history: list[Record]
    alerts: list[Record]


async def load_snapshot(
    pool: Pool, session_id: uuid.UUID, *, transcript_lines: int = 20
) -> Snapshot | None:
    """Everything a panel shows, read in one repeatable-read transaction so it is consistent
    with its `last_event_id`."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        session = await load_session_row(conn, session_id)
        if session is None:
            return None
        return Snapshot(
            session=session,
            transcript=list(await conn.fetch(SELECT_TRANSCRIPT_TAIL, session_id, transcript_lines)),
            meter=await conn.fetchrow(SELECT_LATEST_METER, session_id),
            suggestions=list(await conn.fetch(SELECT_OPEN_SUGGESTIONS, session_id, 50)),
            history=list(await conn.fetch(SELECT_SCORE_HISTORY, session_id, 200)),
            alerts=list(await conn.fetch(SELECT_ALERTS, session_id, 50)),
        )


SELECT_LAST_SEQ = """
SELECT coalesce(max(seq), 0) FROM voice_transcripts WHERE session_id = $1 AND round_number = $2
"""


async def last_seq(conn: DB, session_id: uuid.UUID, round_number: int) -> int:
    """The highest committed seq of a round: where a reconnecting candidate resumes."""
    return int(await conn.fetchval(SELECT_LAST_SEQ, session_id, round_number))
