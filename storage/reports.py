"""Everything a finished (or running) interview left behind, read for its report.

All reads of one report happen in one repeatable-read transaction, so the transcript, the
scores, the suggestions and the commands agree with each other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

__all__ = ["ReportRows", "load_report_rows", "load_transcript_rows"]

SELECT_SESSION = """
SELECT s.id, s.status, s.round_number, s.candidate_name, s.created_at, s.started_at,
       s.ended_at,
       p.id AS persona_id, p.name AS persona_name, p.role AS persona_role,
       coalesce(p.blueprint, sp.blueprint) AS blueprint, p.difficulty AS persona_difficulty,
       coalesce(p.language, 'en') AS language,
       sc.id AS scenario_id, sc.name AS scenario_name, sc.blueprint AS scenario_blueprint,
       coalesce(c.message_count, 0) AS message_count
FROM interview_sessions s
LEFT JOIN interview_scope_packages sp ON sp.session_id = s.id
LEFT JOIN personas p ON p.id = sp.selected_persona_id
LEFT JOIN scenarios sc ON sc.id = sp.selected_scenario_id
LEFT JOIN session_counters c ON c.session_id = s.id
WHERE s.id = $1
"""

SELECT_TRANSCRIPT = """
SELECT id, seq, round_number, role, text, timestamp, word_count
FROM voice_transcripts
WHERE session_id = $1
ORDER BY round_number, timestamp, created_at, seq NULLS LAST
"""

SELECT_RUNS = """
SELECT run_id, round_number, meter_score, coalesce(meter_factors, '{}'::jsonb) AS meter_factors,
       reasoning, rubric, analyzer, triggered_at
FROM voice_analysis
WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at, created_at
"""

# What happened to each suggestion, decided in one place: applied (a command exists), asked
# (a follow-up the interviewer marked), dismissed, expired (a later analysis made it moot),
# else open.
SELECT_SUGGESTIONS = """
SELECT va.id, va.run_id, va.round_number,
       coalesce(va.suggestion_category, va.analysis_type) AS type,
       va.suggestion_text AS text, va.label, va.priority, va.triggered_at,
       c.id AS command_id,
       CASE WHEN c.id IS NOT NULL OR va.applied_at IS NOT NULL THEN 'applied'
            WHEN va.asked_at IS NOT NULL THEN 'asked'
            WHEN coalesce(va.dismissed, false) THEN 'dismissed'
            WHEN va.expired_at IS NOT NULL THEN 'expired'
            ELSE 'open' END AS status,
       coalesce(va.applied_at, va.asked_at, va.dismissed_at, va.expired_at) AS acted_at,
       va.responds_to
FROM voice_analysis va
LEFT JOIN voice_commands c ON c.suggestion_id = va.id
WHERE va.session_id = $1 AND va.analysis_type <> 'say_meter'
ORDER BY va.triggered_at, va.created_at, va.id
"""

SELECT_COMMANDS = """
SELECT id, round_number, command_type, payload, coalesce(source, 'manual') AS source,
       suggestion_id, status, created_at, delivered_at
FROM voice_commands
WHERE session_id = $1
ORDER BY created_at, id
"""

SELECT_ALERTS = """
SELECT event_id, payload, created_at FROM live_events
WHERE session_id = $1 AND event_type = 'alert'
ORDER BY event_id
"""


@dataclass(frozen=True, slots=True)
class ReportRows:
    session: dict[str, Any]
    transcript: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


async def load_report_rows(pool: asyncpg.Pool, session_id: uuid.UUID) -> ReportRows | None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        session = await conn.fetchrow(SELECT_SESSION, session_id)
        if session is None:
            return None
        return ReportRows(
            session=dict(session),
            transcript=[dict(r) for r in await conn.fetch(SELECT_TRANSCRIPT, session_id)],
            runs=[dict(r) for r in await conn.fetch(SELECT_RUNS, session_id)],
            suggestions=[dict(r) for r in await conn.fetch(SELECT_SUGGESTIONS, session_id)],
            commands=[dict(r) for r in await conn.fetch(SELECT_COMMANDS, session_id)],
            alerts=[dict(r) for r in await conn.fetch(SELECT_ALERTS, session_id)],
        )


async def load_transcript_rows(
    pool: asyncpg.Pool, session_id: uuid.UUID
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        session = await conn.fetchrow(SELECT_SESSION, session_id)
        if session is None:
            return None
        rows = await conn.fetch(SELECT_TRANSCRIPT, session_id)
    return dict(session), [dict(r) for r in rows]
