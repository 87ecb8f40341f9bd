"""Interview sessions: create (session + scope package + counters), read, end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.pool import DB, Pool, Record

__all__ = [
    "EndResult",
    "SessionRow",
    "SetupRejected",
    "create_session",
    "end_session",
    "ended_at",
    "get_session_detail",
    "load_session_row",
]


class SetupRejected(Exception):
    """The persona or scenario cannot be used; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class EndResult:
    session_id: uuid.UUID
    status: str
    ended_at: datetime | None
    already_ended: bool
    message_count: int


# FOR SHARE: a concurrent soft delete waits until the session row references the persona.
LOCK_PERSONA = """
SELECT blueprint, COALESCE(is_active, true) AS is_active FROM personas WHERE id = $1 FOR SHARE
"""
LOCK_SCENARIO = "SELECT is_active, blueprint FROM scenarios WHERE id = $1 FOR SHARE"

INSERT_SESSION = """
INSERT INTO interview_sessions (round_number, candidate_name, status)
VALUES ($1, $2, 'active')
RETURNING id, status, round_number
"""
INSERT_PACKAGE = """
INSERT INTO interview_scope_packages (session_id, blueprint, selected_persona_id,
                                      selected_scenario_id)
VALUES ($1, $2, $3, $4)
"""
INSERT_COUNTERS = "INSERT INTO session_counters (session_id) VALUES ($1) ON CONFLICT DO NOTHING"

# The one read of a session with its persona, scenario, agent and counters (the hub's warm-up,
# the snapshot and `GET /api/sessions/{id}` all use it).
SELECT_SESSION = """
SELECT s.id, s.status, s.round_number, s.candidate_name, s.started_at, s.ended_at,
       sp.voice_agent_id, sp.voice_agent_provider,
       coalesce(p.blueprint, sp.blueprint, 'sales') AS blueprint,
       coalesce(p.language, 'en') AS language,
       p.id AS persona_id, p.name AS persona_name, p.role AS persona_role,
       p.blueprint AS persona_blueprint, p.difficulty AS persona_difficulty,
       p.language AS persona_language,
       sc.id AS scenario_id, sc.name AS scenario_name, sc.industry AS scenario_industry,
       sc.blueprint AS scenario_blueprint,
       COALESCE(c.message_count,
                (SELECT count(*) FROM voice_transcripts t WHERE t.session_id = s.id))::int
         AS message_count,
       coalesce(c.last_event_id, 0) AS last_event_id
FROM interview_sessions s
LEFT JOIN interview_scope_packages sp ON sp.session_id = s.id
LEFT JOIN personas p ON p.id = sp.selected_persona_id
LEFT JOIN scenarios sc ON sc.id = sp.selected_scenario_id
LEFT JOIN session_counters c ON c.session_id = s.id
WHERE s.id = $1
"""
SELECT_ENDED_AT = "SELECT ended_at FROM interview_sessions WHERE id = $1"
SELECT_LATEST_METER = """
SELECT meter_score, COALESCE(meter_factors, '{}'::jsonb) AS meter_factors, label, reasoning,
       triggered_at
FROM voice_analysis
WHERE session_id = $1 AND analysis_type = 'say_meter'
ORDER BY triggered_at DESC, created_at DESC
LIMIT 1
"""

LOCK_SESSION = "SELECT status, ended_at FROM interview_sessions WHERE id = $1 FOR UPDATE"
SELECT_TRANSCRIPT = """
SELECT round_number, role, text, timestamp, seq, word_count
FROM voice_transcripts
WHERE session_id = $1
ORDER BY round_number, timestamp, created_at, seq NULLS LAST
"""
MARK_ENDED = """
UPDATE interview_sessions
SET status = 'completed', ended_at = now(), transcript_artifact = $2
WHERE id = $1
RETURNING status, ended_at
"""
# The agent sweeper picks this up (and is nudged right away by the handler).
SCHEDULE_AGENT_CLEANUP = """
UPDATE interview_scope_packages SET agent_cleanup_after = now()
WHERE session_id = $1 AND voice_agent_id IS NOT NULL AND agent_deleted_at IS NULL
"""
COUNT_MESSAGES = "SELECT count(*) FROM voice_transcripts WHERE session_id = $1"


async def create_session(
    pool: Pool,
    persona_id: uuid.UUID,
    scenario_id: uuid.UUID,
    round_number: int,
    candidate_name: str | None,
) -> dict[str, Any]:
    """Create the session, its scope package and its counters in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        persona = await conn.fetchrow(LOCK_PERSONA, persona_id)
        if persona is None:
            raise SetupRejected("persona_id", "persona does not exist")
        if not persona["is_active"]:
            raise SetupRejected("persona_id", "persona is inactive (deleted)")
        scenario = await conn.fetchrow(LOCK_SCENARIO, scenario_id)
        if scenario is None:
            raise SetupRejected("scenario_id", "scenario does not exist")
        if not scenario["is_active"]:
            raise SetupRejected("scenario_id", "scenario is inactive")
        row = await conn.fetchrow(INSERT_SESSION, round_number, candidate_name)
        assert row is not None
        await conn.execute(INSERT_PACKAGE, row["id"], persona["blueprint"], persona_id, scenario_id)
        await conn.execute(INSERT_COUNTERS, row["id"])
    return {
        **dict(row),
        "persona_blueprint": persona["blueprint"],
        "scenario_blueprint": scenario["blueprint"],
    }


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as `SELECT_SESSION` reads it; `persona` and `scenario` are None when unset."""

    id: uuid.UUID
    status: str
    round_number: int
    candidate_name: str | None
    started_at: datetime | None
    ended_at: datetime | None
    voice_agent_id: str | None
    voice_agent_provider: str | None
    blueprint: str
    language: str
    persona: dict[str, Any] | None
    scenario: dict[str, Any] | None
    message_count: int
    last_event_id: int


_PERSONA_COLUMNS = ("id", "name", "role", "blueprint", "difficulty", "language")
_SCENARIO_COLUMNS = ("id", "name", "industry", "blueprint")


async def load_session_row(conn: DB, session_id: uuid.UUID) -> SessionRow | None:
    row = await conn.fetchrow(SELECT_SESSION, session_id)
    if row is None:
        return None
    persona = (
        {c: row[f"persona_{c}"] for c in _PERSONA_COLUMNS} if row["persona_id"] else None
    )
    scenario = (
        {c: row[f"scenario_{c}"] for c in _SCENARIO_COLUMNS} if row["scenario_id"] else None
    )
    return SessionRow(
        id=row["id"],
        status=row["status"],
        round_number=row["round_number"],
        candidate_name=row["candidate_name"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        voice_agent_id=row["voice_agent_id"],
        voice_agent_provider=row["voice_agent_provider"],
        blueprint=row["blueprint"],
        language=row["language"],
        persona=persona,
        scenario=scenario,
        message_count=row["message_count"],
        last_event_id=row["last_event_id"],
    )


async def ended_at(conn: DB, session_id: uuid.UUID) -> datetime | None:
    value: datetime | None = await conn.fetchval(SELECT_ENDED_AT, session_id)
    return value


async def get_session_detail(
    pool: Pool, session_id: uuid.UUID
) -> tuple[SessionRow, dict[str, Any] | None] | None:
    """The session and its latest Say Meter row (None before the first analysis)."""
    async with pool.acquire() as conn:
        session = await load_session_row(conn, session_id)
        if session is None:
            return None
        meter = await conn.fetchrow(SELECT_LATEST_METER, session_id)
    return session, dict(meter) if meter is not None else None


def _artifact(session_id: uuid.UUID, rows: list[Record]) -> dict[str, Any]:
    return {
        "session_id": str(session_id),
        "message_count": len(rows),
        "messages": [
            {
                "round_number": r["round_number"],
                "role": r["role"],
                "text": r["text"],
                "timestamp": r["timestamp"],  # jsonb: orjson writes ISO 8601
                "seq": r["seq"],
                "word_count": r["word_count"],
            }
            for r in rows
        ],
    }


async def end_session(pool: Pool, session_id: uuid.UUID) -> EndResult | None:
    """Mark completed, keep the transcript as one artifact, schedule agent clean-up.

    None when the session does not exist. Ending an ended session changes nothing and reports
    `already_ended`.
    """
    async with pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(LOCK_SESSION, session_id)
        if current is None:
            return None
        if current["status"] in ("completed", "cancelled"):
            count = await conn.fetchval(COUNT_MESSAGES, session_id)
            return EndResult(
                session_id, current["status"], current["ended_at"], True, int(count)
            )
        rows = await conn.fetch(SELECT_TRANSCRIPT, session_id)
        artifact = _artifact(session_id, rows)
        ended = await conn.fetchrow(MARK_ENDED, session_id, artifact)
        assert ended is not None
        await conn.execute(SCHEDULE_AGENT_CLEANUP, session_id)
    return EndResult(session_id, ended["status"], ended["ended_at"], False, len(rows))
