"""Scenarios: list with filters, get, create, partial update."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

__all__ = ["create_scenario", "get_scenario", "list_scenarios", "update_scenario"]

COLUMNS = """
id, name, description, industry, company_size, pain_points, budget_range, decision_timeline,
blueprint, is_active, created_at, updated_at
"""

WRITABLE = (
    "name",
    "description",
    "industry",
    "company_size",
    "pain_points",
    "budget_range",
    "decision_timeline",
    "blueprint",
    "is_active",
)

SELECT_ONE = f"SELECT {COLUMNS} FROM scenarios WHERE id = $1"

INSERT = f"""
INSERT INTO scenarios (name, description, industry, company_size, pain_points, budget_range,
                       decision_timeline, blueprint, is_active)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING {COLUMNS}
"""

_FILTERS = {
    "blueprint": "blueprint = ${n}",
    "is_active": "is_active = ${n}",
}
_ORDER = "ORDER BY blueprint NULLS LAST, name, id"


def _where(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for key, fragment in _FILTERS.items():
        if filters.get(key) is not None:
            args.append(filters[key])
            clauses.append(fragment.replace("${n}", f"${len(args)}"))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_scenarios(
    pool: asyncpg.Pool, filters: Mapping[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where, args = _where(filters)
    n = len(args)
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM scenarios{where}", *args)
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM scenarios{where} {_ORDER} LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
    return [dict(r) for r in rows], int(total)


async def get_scenario(pool: asyncpg.Pool, scenario_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(SELECT_ONE, scenario_id)
    return dict(row) if row is not None else None


async def create_scenario(pool: asyncpg.Pool, data: Mapping[str, Any]) -> dict[str, Any]:
    row = await pool.fetchrow(
        INSERT,
        data["name"],
        data["description"],
        data["industry"],
        data["company_size"],
        list(data.get("pain_points", [])),
        data["budget_range"],
        data["decision_timeline"],
        data.get("blueprint"),
        data.get("is_active", True),
    )
    assert row is not None
    return dict(row)


async def update_scenario(
    pool: asyncpg.Pool, scenario_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    sets: list[str] = []
    args: list[Any] = [scenario_id]
    for column in WRITABLE:
        if column in changes:
            args.append(changes[column])
            sets.append(f"{column} = ${len(args)}")
    if not sets:
        return await get_scenario(pool, scenario_id)
    sql = f"UPDATE scenarios SET {', '.join(sets)} WHERE id = $1 RETURNING {COLUMNS}"
    row = await pool.fetchrow(sql, *args)
    return dict(row) if row is not None else None
