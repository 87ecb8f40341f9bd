"""Forward-only SQL migrations: numbered files, a `schema_migrations` table, an advisory lock.

Each file and its bookkeeping row commit in one transaction, so a failed file leaves nothing
behind. An applied file whose checksum changed stops the runner: edits belong in a new file.
Several gateway processes may start at once; the advisory lock makes them take turns.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from storage.pool import Conn, connect

__all__ = [
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationError",
    "apply_migrations",
    "discover",
    "pending_migrations",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x1A7E_6A7E  # arbitrary, fixed: "interview gateway migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  checksum   TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"migration file name not understood: {path.name} (want NNNN_name.sql)"
            )
        found.append(Migration(match.group(1), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


async def _applied(conn: Conn) -> dict[str, tuple[str, str]]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch(SELECT_APPLIED)
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


def _check(applied: dict[str, tuple[str, str]], files: list[Migration]) -> list[Migration]:
    """Return the pending migrations, or raise if history and files disagree."""
    by_version = {m.version: m for m in files}
    for version, (name, checksum) in applied.items():
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"migration {version}_{name} is applied in the database but its file is missing"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version}_{migration.name}.sql was edited after it was applied "
                f"(checksum differs); put the change in a new migration file instead"
            )
    return [m for m in files if m.version not in applied]


async def pending_migrations(conn: Conn, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return _check(await _applied(conn), discover(directory))


async def apply_migrations(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration in order; return those applied (empty when up to date)."""
    files = discover(directory)
    conn = await connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(CREATE_TABLE)
            pending = _check(await _applied(conn), files)
            for migration in pending:
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            INSERT_APPLIED, migration.version, migration.name, migration.checksum
                        )
                except asyncpg.PostgresError as err:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name}.sql failed: {err}"
                    ) from None
                log.info("applied migration %s_%s", migration.version, migration.name)
            return pending
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
