from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from storage.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, discover
from storage.pool import connect


async def test_apply_twice_is_a_noop(empty_db_dsn: str) -> None:
    first = await apply_migrations(empty_db_dsn)
    assert [m.version for m in first] == [m.version for m in discover()]
    assert await apply_migrations(empty_db_dsn) == []
    conn = await connect(empty_db_dsn)
    try:
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in discover()]
        assert all(len(r["checksum"]) == 64 for r in rows)
    finally:
        await conn.close()


async def test_edited_applied_migration_is_refused(empty_db_dsn: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    await apply_migrations(empty_db_dsn, copy)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        await apply_migrations(empty_db_dsn, copy)


async def test_failed_migration_leaves_nothing_behind(empty_db_dsn: str, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "9999_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_function();\n"
    )
    with pytest.raises(MigrationError, match="9999_broken"):
        await apply_migrations(empty_db_dsn, copy)
    conn = await connect(empty_db_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert not await conn.fetchval(
            "SELECT count(*) FROM schema_migrations WHERE version='9999'"
        )
    finally:
        await conn.close()


async def test_concurrent_runners_take_turns(empty_db_dsn: str) -> None:
    import asyncio

    results = await asyncio.gather(*(apply_migrations(empty_db_dsn) for _ in range(3)))
    assert sorted(len(r) for r in results) == [0, 0, len(discover())]


async def test_design_constraints_hold(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO personas (name, role, blueprint, difficulty, company_context,"
                " communication_style, prompt_template, first_message_template)"
                " VALUES ('x','y','sales',6,'c','s','p','f')"
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO personas (name, role, blueprint, difficulty, company_context,"
                " communication_style, prompt_template, first_message_template)"
                " VALUES ('x','y','plumbing',3,'c','s','p','f')"
            )
        idx = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_personas_blueprint_difficulty'"
        )
        assert "WHERE (is_active = true)" in idx
        before = await conn.fetchrow("SELECT id, updated_at FROM personas LIMIT 1")
        await conn.execute("UPDATE personas SET name = name || '!' WHERE id = $1", before["id"])
        after = await conn.fetchval("SELECT updated_at FROM personas WHERE id = $1", before["id"])
        assert after > before["updated_at"]
        default_source = await conn.fetchval(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_name = 'voice_commands' AND column_name = 'source'"
        )
        assert "manual" in default_source
