"""Voice agents per session: the locked read that serializes agent creation, and clean-up.

Creation is serialized per session by `SELECT ... FOR UPDATE` on the scope package row, so two
concurrent requests (even in two processes) create one agent: the second waits for the first
transaction and then finds `voice_agent_id` set.

A vendor create whose outcome is unknown (it timed out, say) may still have made the agent, and
the failed request's transaction rolls back. So `note_agent_attempt` records the attempt on its
own, committed, before the locked transaction starts, and `store_agent` deletes the record with
the transaction that stores the agent: a request that finds a record looks for that agent first.
Both run under `agent_creation_lock` (a session-level advisory lock on the request's own
connection), so a concurrent click waiting for the first one never counts as an earlier attempt.

Clean-up uses a lease: `claim_cleanups` pushes `agent_cleanup_after` forward for the rows it
takes (`FOR UPDATE SKIP LOCKED`, so several sweepers never take the same row) and the vendor
call happens outside any transaction; a crash mid-call only delays the retry until the lease
runs out.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from storage.pool import Conn

__all__ = [
    "AgentSetup",
    "CleanupJob",
    "agent_creation_lock",
    "cached_agent",
    "claim_cleanups",
    "forget_agent_attempt",
    "lock_agent_setup",
    "mark_agent_deleted",
    "mark_cleanup_failed",
    "note_agent_attempt",
    "session_status",
    "store_agent",
]


@dataclass(frozen=True, slots=True)
class AgentSetup:
    session_id: uuid.UUID
    status: str
    voice_agent_id: str | None
    voice_agent_provider: str | None
    persona: dict[str, Any] | None
    scenario: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CleanupJob:
    session_id: uuid.UUID
    agent_id: str
    provider: str | None
    attempts: int


SELECT_CACHED = """
SELECT voice_agent_id, voice_agent_provider FROM interview_scope_packages
WHERE session_id = $1 AND voice_agent_id IS NOT NULL
"""

LOCK_SETUP = """
SELECT s.status, sp.voice_agent_id, sp.voice_agent_provider,
       sp.selected_persona_id, sp.selected_scenario_id
FROM interview_scope_packages sp
JOIN interview_sessions s ON s.id = sp.session_id
WHERE sp.session_id = $1
FOR UPDATE OF sp
"""
SELECT_PERSONA = """
SELECT name, role, blueprint, difficulty, company_context, personality_traits,
       communication_style, objection_patterns, prompt_template, first_message_template, language
FROM personas WHERE id = $1
"""
SELECT_SCENARIO = """
SELECT name, description, industry, company_size, pain_points, budget_range, decision_timeline
FROM scenarios WHERE id = $1
"""
SESSION_EXISTS = "SELECT status FROM interview_sessions WHERE id = $1"

_LOCK_CLASS = 0x5641  # "VA": the advisory-lock namespace of voice agent creation
ADVISORY_LOCK = f"SELECT pg_advisory_lock({_LOCK_CLASS}, hashtext($1))"
ADVISORY_UNLOCK = f"SELECT pg_advisory_unlock({_LOCK_CLASS}, hashtext($1))"

NOTE_ATTEMPT = """
INSERT INTO voice_agent_attempts (session_id) VALUES ($1)
ON CONFLICT (session_id) DO UPDATE SET attempts = voice_agent_attempts.attempts + 1
RETURNING attempts
"""
FORGET_ATTEMPT = "DELETE FROM voice_agent_attempts WHERE session_id = $1"

STORE_AGENT = """
WITH attempt_done AS (DELETE FROM voice_agent_attempts WHERE session_id = $1)
UPDATE interview_scope_packages
SET voice_agent_id = $2, voice_agent_provider = $3, rendered_prompt = $4,
    rendered_first_message = $5, agent_deleted_at = NULL, agent_cleanup_attempts = 0,
    agent_cleanup_after = NULL
WHERE session_id = $1
"""

CLAIM_CLEANUPS = """
UPDATE interview_scope_packages sp
SET agent_cleanup_after = now() + make_interval(secs => $2::double precision)
FROM (
  SELECT p.id FROM interview_scope_packages p
  JOIN interview_sessions s ON s.id = p.session_id
  WHERE p.voice_agent_id IS NOT NULL AND p.agent_deleted_at IS NULL
    AND (p.agent_cleanup_after <= now()
         OR (p.agent_cleanup_after IS NULL AND s.status IN ('completed', 'cancelled')))
  ORDER BY p.agent_cleanup_after NULLS FIRST
  LIMIT $1
  FOR UPDATE OF p SKIP LOCKED
) due
WHERE sp.id = due.id
RETURNING sp.session_id, sp.voice_agent_id, sp.voice_agent_provider, sp.agent_cleanup_attempts
"""
MARK_DELETED = """
UPDATE interview_scope_packages SET agent_deleted_at = now(), agent_cleanup_after = NULL
WHERE session_id = $1 AND voice_agent_id = $2
"""
MARK_FAILED = """
UPDATE interview_scope_packages
SET agent_cleanup_attempts = agent_cleanup_attempts + 1,
    agent_cleanup_after = now() + make_interval(secs => $3::double precision)
WHERE session_id = $1 AND voice_agent_id = $2
"""


async def cached_agent(pool: asyncpg.Pool, session_id: uuid.UUID) -> tuple[str, str | None] | None:
    """The session's agent id and provider, when one was created already (no lock)."""
    row = await pool.fetchrow(SELECT_CACHED, session_id)
    return (row["voice_agent_id"], row["voice_agent_provider"]) if row is not None else None


async def session_status(pool: asyncpg.Pool, session_id: uuid.UUID) -> str | None:
    value = await pool.fetchval(SESSION_EXISTS, session_id)
    return str(value) if value is not None else None


async def lock_agent_setup(conn: Conn, session_id: uuid.UUID) -> AgentSetup | None:
    """Inside a transaction: lock the scope package and read what rendering needs."""
    row = await conn.fetchrow(LOCK_SETUP, session_id)
    if row is None:
        return None
    persona = scenario = None
    if row["selected_persona_id"] is not None:
        p = await conn.fetchrow(SELECT_PERSONA, row["selected_persona_id"])
        persona = dict(p) if p is not None else None
    if row["selected_scenario_id"] is not None:
        s = await conn.fetchrow(SELECT_SCENARIO, row["selected_scenario_id"])
        scenario = dict(s) if s is not None else None
    return AgentSetup(
        session_id=session_id,
        status=row["status"],
        voice_agent_id=row["voice_agent_id"],
        voice_agent_provider=row["voice_agent_provider"],
        persona=persona,
        scenario=scenario,
    )


@contextlib.asynccontextmanager
async def agent_creation_lock(conn: Conn, session_id: uuid.UUID) -> AsyncIterator[None]:
    """One agent creation per session at a time, across processes, held outside transactions
    (the attempt record is committed inside it). Keyed by the session id's hash: a collision
    only makes two sessions take turns. If the unlock cannot run (cancelled, the connection
    failed), the connection is closed, which releases the lock: the pool does not reset
    session state on release (`storage.pool`)."""
    await conn.execute(ADVISORY_LOCK, str(session_id))
    try:
        yield
    finally:
        try:
            await conn.execute(ADVISORY_UNLOCK, str(session_id))
        except BaseException:
            conn.terminate()
            raise


async def note_agent_attempt(conn: Conn, session_id: uuid.UUID) -> bool:
    """Record that an agent create may be about to start; True when an earlier one left a record.

    Call it under `agent_creation_lock`, outside any transaction (it must stay committed when
    the create fails), and before `lock_agent_setup`: on the same connection, so a request
    never holds one pooled connection while waiting for another.
    """
    attempts = await conn.fetchval(NOTE_ATTEMPT, session_id)
    return int(attempts) > 1


async def forget_agent_attempt(conn: Conn, session_id: uuid.UUID) -> None:
    """Drop the record of a create that turned out not to be needed (the agent exists)."""
    await conn.execute(FORGET_ATTEMPT, session_id)


async def store_agent(
    conn: Conn,
    session_id: uuid.UUID,
    agent_id: str,
    provider: str,
    rendered_prompt: str,
    rendered_first_message: str,
) -> None:
    """Inside the locked transaction: keep the agent and drop the record of its attempt."""
    await conn.execute(
        STORE_AGENT, session_id, agent_id, provider, rendered_prompt, rendered_first_message
    )


async def claim_cleanups(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[CleanupJob]:
    rows = await pool.fetch(CLAIM_CLEANUPS, limit, lease_s)
    return [
        CleanupJob(
            session_id=r["session_id"],
            agent_id=r["voice_agent_id"],
            provider=r["voice_agent_provider"],
            attempts=r["agent_cleanup_attempts"],
        )
        for r in rows
    ]


async def mark_agent_deleted(pool: asyncpg.Pool, session_id: uuid.UUID, agent_id: str) -> None:
    await pool.execute(MARK_DELETED, session_id, agent_id)


async def mark_cleanup_failed(
    pool: asyncpg.Pool, session_id: uuid.UUID, agent_id: str, retry_in_s: float
) -> None:
    await pool.execute(MARK_FAILED, session_id, agent_id, retry_in_s)
