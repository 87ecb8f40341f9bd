"""Voice commands: applying suggestions, manual commands, delivery acks. Callers own the
transaction so the command, the suggestion's state and their events commit together."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from storage.pool import DB, Conn

__all__ = [
    "dismiss_suggestion",
    "get_command",
    "insert_command",
    "lock_suggestion",
    "mark_applied",
    "mark_asked",
    "mark_delivered",
    "pending_commands",
]

LOCK_SUGGESTION = """
SELECT id, session_id, round_number, analysis_type, suggestion_category, suggestion_text, label,
       coalesce(dismissed, false) AS dismissed, applied_at, asked_at,
       (SELECT c.id FROM voice_commands c WHERE c.suggestion_id = voice_analysis.id) AS command_id
FROM voice_analysis
WHERE id = $1 AND session_id = $2 AND analysis_type <> 'say_meter'
FOR UPDATE
"""

INSERT_COMMAND = """
INSERT INTO voice_commands (session_id, round_number, command_type, payload, source, suggestion_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, session_id, command_type, payload, source, suggestion_id, created_at
"""

MARK_APPLIED = """
UPDATE voice_analysis SET applied_at = now(), dismissed = false WHERE id = $1
"""

MARK_ASKED = """
UPDATE voice_analysis SET asked_at = now() WHERE id = $1 AND asked_at IS NULL
"""

DISMISS = """
UPDATE voice_analysis SET dismissed = true, dismissed_at = now() WHERE id = $1
"""

MARK_DELIVERED = """
UPDATE voice_commands SET status = 'delivered', delivered_at = now()
WHERE id = $1 AND session_id = $2 AND status = 'pending'
RETURNING id
"""

SELECT_PENDING = """
SELECT id, session_id, command_type, payload, source, suggestion_id, created_at
FROM voice_commands WHERE session_id = $1 AND status = 'pending'
ORDER BY created_at, id
"""


async def lock_suggestion(
    conn: Conn, session_id: uuid.UUID, suggestion_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_SUGGESTION, suggestion_id, session_id)


async def insert_command(
    conn: Conn,
    session_id: uuid.UUID,
    round_number: int,
    command_type: str,
    payload: dict[str, Any],
    source: str,
    suggestion_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        INSERT_COMMAND, session_id, round_number, command_type, payload, source, suggestion_id
    )
    assert row is not None
    return row


async def mark_applied(conn: Conn, suggestion_id: uuid.UUID) -> None:
    await conn.execute(MARK_APPLIED, suggestion_id)


async def mark_asked(conn: Conn, suggestion_id: uuid.UUID) -> None:
    await conn.execute(MARK_ASKED, suggestion_id)


async def dismiss_suggestion(conn: Conn, suggestion_id: uuid.UUID) -> None:
    await conn.execute(DISMISS, suggestion_id)


async def mark_delivered(conn: Conn, session_id: uuid.UUID, command_id: uuid.UUID) -> bool:
    return await conn.fetchval(MARK_DELIVERED, command_id, session_id) is not None


SELECT_COMMAND = """
SELECT id, session_id, command_type, payload, source, suggestion_id, created_at
FROM voice_commands WHERE id = $1
"""


async def get_command(conn: DB, command_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_COMMAND, command_id)


async def pending_commands(conn: DB, session_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(SELECT_PENDING, session_id))
