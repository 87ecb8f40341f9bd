"""Idempotent seed data: personas and scenarios from `seeds/*.json`, keyed by fixed ids.

Re-running inserts only what is missing and never overwrites a row an admin has edited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from storage.pool import Conn

__all__ = ["SEEDS_DIR", "SeedResult", "apply_seeds"]

log = logging.getLogger(__name__)

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"

INSERT_PERSONA = """
INSERT INTO personas (id, name, role, blueprint, difficulty, company_context, personality_traits,
                      communication_style, objection_patterns, prompt_template,
                      first_message_template, language)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO NOTHING
"""

INSERT_SCENARIO = """
INSERT INTO scenarios (id, name, description, industry, company_size, pain_points, budget_range,
                       decision_timeline, blueprint)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class SeedResult:
    personas_added: int
    scenarios_added: int


def _load(path: Path) -> list[dict[str, Any]]:
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list")
    return data


async def apply_seeds(conn: Conn, directory: Path = SEEDS_DIR) -> SeedResult:
    personas = _load(directory / "personas.json")
    scenarios = _load(directory / "scenarios.json")
    added_p = added_s = 0
    async with conn.transaction():
        for s in scenarios:
            status = await conn.execute(
                INSERT_SCENARIO,
                s["id"],
                s["name"],
                s["description"],
                s["industry"],
                s["company_size"],
                s.get("pain_points", []),
                s["budget_range"],
                s["decision_timeline"],
                s.get("blueprint"),
            )
            added_s += status.endswith(" 1")
        for p in personas:
            status = await conn.execute(
                INSERT_PERSONA,
                p["id"],
                p["name"],
                p["role"],
                p["blueprint"],
                p["difficulty"],
                p["company_context"],
                p.get("personality_traits", []),
                p["communication_style"],
                p.get("objection_patterns", []),
                p["prompt_template"],
                p["first_message_template"],
                p.get("language", "en"),
            )
            added_p += status.endswith(" 1")
    log.info("seeds: %d personas and %d scenarios added", added_p, added_s)
    return SeedResult(personas_added=added_p, scenarios_added=added_s)
