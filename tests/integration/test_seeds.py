from __future__ import annotations

import asyncpg

from storage.seed import apply_seeds

BLUEPRINTS = {"sales", "agentic_eng", "fullstack", "marketing", "implementation", "HR", "security"}


async def test_seeded_personas_cover_every_blueprint(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        "SELECT blueprint, count(*) AS n, min(difficulty) AS lo, max(difficulty) AS hi"
        " FROM personas WHERE is_active GROUP BY blueprint"
    )
    counts = {r["blueprint"]: r["n"] for r in rows}
    assert set(counts) == BLUEPRINTS
    assert all(n >= 2 for n in counts.values())
    difficulties = {
        r["d"] for r in await pool.fetch("SELECT DISTINCT difficulty AS d FROM personas")
    }
    assert difficulties == {1, 2, 3, 4, 5}
    assert await pool.fetchval("SELECT count(*) FROM scenarios") >= 5


async def test_reseeding_changes_nothing(pool: asyncpg.Pool) -> None:
    async def snapshot() -> list[tuple[object, ...]]:
        rows = await pool.fetch(
            "SELECT id, name, prompt_template, updated_at FROM personas"
            " UNION ALL SELECT id, name, description, updated_at FROM scenarios ORDER BY 1"
        )
        return [tuple(r) for r in rows]

    before = await snapshot()
    async with pool.acquire() as conn:
        result = await apply_seeds(conn)
    assert (result.personas_added, result.scenarios_added) == (0, 0)
    assert await snapshot() == before


async def test_reseeding_keeps_admin_edits(pool: asyncpg.Pool) -> None:
    pid = await pool.fetchval("SELECT id FROM personas ORDER BY name LIMIT 1")
    await pool.execute("UPDATE personas SET name = 'Edited by admin' WHERE id = $1", pid)
    async with pool.acquire() as conn:
        await apply_seeds(conn)
    assert await pool.fetchval("SELECT name FROM personas WHERE id = $1", pid) == "Edited by admin"
