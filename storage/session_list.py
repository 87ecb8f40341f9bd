"""The sessions list: filtered, paged, newest first, with each session's latest and final score.

Filters are fixed SQL fragments whose values travel as parameters; a NULL parameter switches
its filter off, so the statement is one constant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = ["SessionFilters", "list_sessions"]


@dataclass(frozen=True, slots=True)
class SessionFilters:
    status: str | None = None
    blueprint: str | None = None
    persona_id: uuid.UUID | None = None
    scenario_id: uuid.UUID | None = None
    candidate: str | None = None  # case-insensitive substring of the candidate's name
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


_FROM_WHERE = """
FROM interview_sessions s
LEFT JOIN interview_scope_packages sp ON sp.session_id = s.id
LEFT JOIN personas p ON p.id = sp.selected_persona_id
LEFT JOIN scenarios sc ON sc.id = sp.selected_scenario_id
WHERE ($1::text IS NULL OR s.status = $1)
  AND ($2::text IS NULL OR coalesce(p.blueprint, sp.blueprint) = $2)
  AND ($3::uuid IS NULL OR sp.selected_persona_id = $3)
  AND ($4::uuid IS NULL OR sp.selected_scenario_id = $4)
  AND ($5::text IS NULL OR s.candidate_name ILIKE '%' || $5 || '%')
  AND ($6::timestamptz IS NULL OR s.created_at >= $6)
  AND ($7::timestamptz IS NULL OR s.created_at < $7)
"""

COUNT_SESSIONS = "SELECT count(*) " + _FROM_WHERE

# The latest score is the newest Say Meter; the final score is the same reading, but only once
# the session has ended (what the interview finished on).
SELECT_SESSIONS = (
    """
SELECT s.id, s.status, s.round_number, s.candidate_name, s.created_at, s.started_at,
       s.ended_at,
       p.id AS persona_id, p.name AS persona_name, p.role AS persona_role,
       coalesce(p.blueprint, sp.blueprint) AS blueprint, p.difficulty AS persona_difficulty,
       sc.id AS scenario_id, sc.name AS scenario_name,
       coalesce((SELECT c.message_count FROM session_counters c WHERE c.session_id = s.id),
                0) AS message_count,
       (SELECT va.meter_score FROM voice_analysis va
        WHERE va.session_id = s.id AND va.analysis_type = 'say_meter'
        ORDER BY va.triggered_at DESC, va.created_at DESC LIMIT 1) AS latest_score
"""
    + _FROM_WHERE
    + """
ORDER BY s.created_at DESC, s.id DESC
LIMIT $8 OFFSET $9
"""
)


def _args(f: SessionFilters) -> list[Any]:
    return [f.status, f.blueprint, f.persona_id, f.scenario_id, f.candidate, f.since, f.until]


async def list_sessions(
    pool: asyncpg.Pool, filters: SessionFilters, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of sessions and how many match, read in one snapshot."""
    args = _args(filters)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        total = await conn.fetchval(COUNT_SESSIONS, *args)
        rows = await conn.fetch(SELECT_SESSIONS, *args, limit, offset)
    return [dict(r) for r in rows], int(total)
