"""Personas: list with filters, get, create, partial update, soft delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

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

SELECT_ONE = f"SELECT {COLUMNS} FROM personas WHERE id = $1"

INSERT = f"""
INSERT INTO personas (name, role, blueprint, difficulty, company_context, personality_traits,
                      communication_style, objection_patterns, prompt_template,
                      first_message_template, language, is_active)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING {COLUMNS}
"""

# Only flips an active row, so deleting twice does not move `updated_at` again.
SOFT_DELETE = """
WITH flipped AS (
  UPDATE personas SET is_active = false WHERE id = $1 AND is_active IS DISTINCT FROM false
)
SELECT EXISTS (SELECT 1 FROM personas WHERE id = $1)
"""

# Filters: fixed fragments, values always passed as parameters.
_FILTERS = {
    "blueprint": "blueprint = ${n}",
    "difficulty": "difficulty = ${n}",
    "is_active": "COALESCE(is_active, true) = ${n}",
}
_ORDER = "ORDER BY blueprint, difficulty, name, id"


def _where(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for key, fragment in _FILTERS.items():
        if filters.get(key) is not None:
            args.append(filters[key])
            clauses.append(fragment.replace("${n}", f"${len(args)}"))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_personas(
    pool: asyncpg.Pool, filters: Mapping[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, args = _where(filters)
    n = len(args)
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM personas{where}", *args)
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM personas{where} {_ORDER} LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
    return [dict(r) for r in rows], int(total)


async def get_persona(pool: asyncpg.Pool, persona_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(SELECT_ONE, persona_id)
    return dict(row) if row is not None else None


async def create_persona(pool: asyncpg.Pool, data: Mapping[str, Any]) -> dict[str, Any]:
    row = await pool.fetchrow(
        INSERT,
        data["name"],
        data["role"],
        data["blueprint"],
        data["difficulty"],
        data["company_context"],
        list(data.get("personality_traits", [])),
        data["communication_style"],
        list(data.get("objection_patterns", [])),
        data["prompt_template"],
        data["first_message_template"],
        data.get("language", "en"),
        data.get("is_active", True),
    )
    assert row is not None
    return dict(row)


async def update_persona(
    pool: asyncpg.Pool, persona_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply `changes` (only WRITABLE columns); None when the persona does not exist."""
    sets: list[str] = []
    args: list[Any] = [persona_id]
    for column in WRITABLE:
        if column in changes:
            args.append(changes[column])
            sets.append(f"{column} = ${len(args)}")
    if not sets:
        return await get_persona(pool, persona_id)
    sql = f"UPDATE personas SET {', '.join(sets)} WHERE id = $1 RETURNING {COLUMNS}"
    row = await pool.fetchrow(sql, *args)
    return dict(row) if row is not None else None


async def soft_delete_persona(pool: asyncpg.Pool, persona_id: uuid.UUID) -> bool:
    """Mark inactive; True when the persona exists (deleting twice is harmless)."""
    return bool(await pool.fetchval(SOFT_DELETE, persona_id))
