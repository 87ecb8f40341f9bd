"""Scenarios: list with filters, get, create, partial update."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from storage.catalog import Table, get_row, list_rows, update_row

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

INSERT = f"""
INSERT INTO scenarios (name, description, industry, company_size, pain_points, budget_range,
                       decision_timeline, blueprint, is_active)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING {COLUMNS}
"""

_FILTER_SQL = {
    "blueprint": "blueprint = ${n}",
    "is_active": "is_active = ${n}",
}

TABLE = Table(
    name="scenarios",
    columns=COLUMNS,
    writable=WRITABLE,
    filters=_FILTER_SQL,
    order="ORDER BY blueprint NULLS LAST, name, id",
)


async def list_scenarios(
    pool: asyncpg.Pool, filters: Mapping[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    return await list_rows(pool, TABLE, filters, limit, offset)


async def get_scenario(pool: asyncpg.Pool, scenario_id: uuid.UUID) -> dict[str, Any] | None:
    return await get_row(pool, TABLE, scenario_id)


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
    """Apply `changes` (only WRITABLE columns); None when the scenario does not exist."""
    return await update_row(pool, TABLE, scenario_id, changes)
