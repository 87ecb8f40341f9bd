"""Personas and scenarios: the admin's catalogue (list, get, create, update, deactivate)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from gateway.errors import NotFoundError
from storage import personas, scenarios
from storage.pool import Pool

__all__ = ["Catalog"]

Row = dict[str, Any]


def _found(row: Row | None, what: str) -> Row:
    if row is None:
        raise NotFoundError(f"{what} not found")
    return row


class Catalog:
    """Reads and writes of the catalogue; an unknown id is a `NotFoundError`."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def list_personas(
        self, filters: Mapping[str, Any], limit: int, offset: int
    ) -> tuple[list[Row], int]:
        return await personas.list_personas(self._pool, filters, limit, offset)

    async def persona(self, persona_id: uuid.UUID) -> Row:
        return _found(await personas.get_persona(self._pool, persona_id), "persona")

    async def create_persona(self, data: Mapping[str, Any]) -> Row:
        return await personas.create_persona(self._pool, data)

    async def update_persona(self, persona_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
        row = await personas.update_persona(self._pool, persona_id, changes)
        return _found(row, "persona")

    async def deactivate_persona(self, persona_id: uuid.UUID) -> None:
        if not await personas.soft_delete_persona(self._pool, persona_id):
            raise NotFoundError("persona not found")

    async def list_scenarios(
        self, filters: Mapping[str, Any], limit: int, offset: int
    ) -> tuple[list[Row], int]:
        return await scenarios.list_scenarios(self._pool, filters, limit, offset)

    async def scenario(self, scenario_id: uuid.UUID) -> Row:
        return _found(await scenarios.get_scenario(self._pool, scenario_id), "scenario")

    async def create_scenario(self, data: Mapping[str, Any]) -> Row:
        return await scenarios.create_scenario(self._pool, data)

    async def update_scenario(self, scenario_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
        row = await scenarios.update_scenario(self._pool, scenario_id, changes)
        return _found(row, "scenario")
