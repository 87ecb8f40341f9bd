"""Personas: list with filters, get, create, partial update, soft delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from storage.catalog import Table, get_row, insert_row, list_rows, update_row

__all__ = [
    "create_persona",
    "get_persona",
    "list_personas",
    "soft_delete_persona",
    "update_persona",
]

COLUMNS = """
id, name, role, blueprint, difficulty, company_context, personality_traits,
communication_style, objection_patterns, prompt_template, first_message_template, language,
COALESCE(is_active, true) AS is_active,
COALESCE(created_at, now()) AS created_at, COALESCE(updated_at, now()) AS updated_at
"""

# Columns a caller may set; the SET clause is built only from these fixed names.
WRITABLE = (
    "name",
    "role",
    "blueprint",
    "difficulty",
    "company_context",
    "personality_traits",
    "communication_style",
    "objection_patterns",
    "prompt_template",
    "first_message_template",
    "language",
    "is_active",
)

# Only flips an active row, so deleting twice does not move `updated_at` again.
SOFT_DELETE = """
WITH flipped AS (
  UPDATE personas SET is_active = false WHERE id = $1 AND is_active IS DISTINCT FROM false
)
SELECT EXISTS (SELECT 1 FROM personas WHERE id = $1)
"""

# Filters: fixed fragments, values always passed as parameters.
_FILTER_SQL = {
    "blueprint": "blueprint = ${n}",
    "difficulty": "difficulty = ${n}",
    "is_active": "COALESCE(is_active, true) = ${n}",
}

TABLE = Table(
    name="personas",
    columns=COLUMNS,
    writable=WRITABLE,
    filters=_FILTER_SQL,
    order="ORDER BY blueprint, difficulty, name, id",
    defaults={"personality_traits": [], "objection_patterns": [], "language": "en",
              "is_active": True},
)


async def list_personas(
    pool: asyncpg.Pool, filters: Mapping[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    return await list_rows(pool, TABLE, filters, limit, offset)


async def get_persona(pool: asyncpg.Pool, persona_id: uuid.UUID) -> dict[str, Any] | None:
    return await get_row(pool, TABLE, persona_id)


async def create_persona(pool: asyncpg.Pool, data: Mapping[str, Any]) -> dict[str, Any]:
    return await insert_row(pool, TABLE, data)


async def update_persona(
    pool: asyncpg.Pool, persona_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply `changes` (only WRITABLE columns); None when the persona does not exist."""
    return await update_row(pool, TABLE, persona_id, changes)


async def soft_delete_persona(pool: asyncpg.Pool, persona_id: uuid.UUID) -> bool:
    """Mark inactive; True when the persona exists (deleting twice is harmless)."""
    return bool(await pool.fetchval(SOFT_DELETE, persona_id))
