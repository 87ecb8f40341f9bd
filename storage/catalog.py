"""What personas and scenarios have in common: filtered, paged lists and partial updates.

Column and filter names come from fixed `Table` descriptions, never from the request; values
always travel as `$n` parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

__all__ = ["Table", "get_row", "insert_row", "list_rows", "update_row"]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: str  # the SELECT list, also the RETURNING list
    writable: tuple[str, ...]  # columns a partial update may set
    filters: Mapping[str, str]  # filter name -> SQL fragment with `${n}` for its parameter
    order: str  # a stable ORDER BY for paging
    defaults: Mapping[str, Any] = field(default_factory=dict)  # for columns a create omits

    @property
    def insert(self) -> str:
        """INSERT of every writable column, in `writable` order, returning `columns`."""
        names = ", ".join(self.writable)
        values = ", ".join(f"${i}" for i in range(1, len(self.writable) + 1))
        return f"INSERT INTO {self.name} ({names}) VALUES ({values}) RETURNING {self.columns}"

    def where(self, filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        for key, fragment in self.filters.items():
            if filters.get(key) is not None:
                args.append(filters[key])
                clauses.append(fragment.replace("${n}", f"${len(args)}"))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def list_rows(
    pool: asyncpg.Pool, table: Table, filters: Mapping[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of rows and the total matching the filters (read in one snapshot)."""
    where, args = table.where(filters)
    n = len(args)
    page = (
        f"SELECT {table.columns} FROM {table.name}{where} {table.order}"
        f" LIMIT ${n + 1} OFFSET ${n + 2}"
    )
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        total = await conn.fetchval(f"SELECT count(*) FROM {table.name}{where}", *args)
        rows = await conn.fetch(page, *args, limit, offset)
    return [dict(r) for r in rows], int(total)


async def insert_row(pool: asyncpg.Pool, table: Table, data: Mapping[str, Any]) -> dict[str, Any]:
    """Create a row from `data` (every writable column; `defaults` fill the ones left out)."""
    values = [data[c] if c in data else table.defaults.get(c) for c in table.writable]
    row = await pool.fetchrow(table.insert, *values)
    assert row is not None
    return dict(row)


async def get_row(pool: asyncpg.Pool, table: Table, row_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT {table.columns} FROM {table.name} WHERE id = $1", row_id)
    return dict(row) if row is not None else None


async def update_row(
    pool: asyncpg.Pool, table: Table, row_id: uuid.UUID, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Set the `writable` columns present in `changes`; None when the row does not exist."""
    sets: list[str] = []
    args: list[Any] = [row_id]
    for column in table.writable:
        if column in changes:
            args.append(changes[column])
            sets.append(f"{column} = ${len(args)}")
    if not sets:
        return await get_row(pool, table, row_id)
    sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE id = $1 RETURNING {table.columns}"
    row = await pool.fetchrow(sql, *args)
    return dict(row) if row is not None else None
