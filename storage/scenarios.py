"""Scenarios: list with filters, get, create, partial update."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from storage.catalog import Table, get_row, insert_row, list_rows, update_row

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
    defaults={"pain_points": [], "is_active": True},
)


async def list_scenarios(
    pool: asyncpg.Pool, filters: Mapping[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    return await list_rows(pool, TABLE, filters, limit, offset)


async def get_scenario(pool: asyncpg.Pool, scenario_id: uuid.UUID) -> dict[str, Any] | None:
    return await get_row(pool, TABLE, scenario_id)


async def create_scenario(pool: asyncpg.Pool, data: Mapping[str, Any]) -> dict[str, Any]:
    return await insert_row(pool, TABLE, data)


async def update_scenario(
    pool: asyncpg.Pool, scenario_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Apply `changes` (only WRITABLE columns); None when the scenario does not exist."""
    return await update_row(pool, TABLE, scenario_id, changes)
