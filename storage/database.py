"""Where the database comes from: `DATABASE_URL`, or an embedded server this process owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.embedded import EmbeddedPostgres
from storage.errors import DatabaseUnavailable

__all__ = ["EMBEDDED_DB_NAME", "database", "with_database_name"]

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "interview_gateway"


def with_database_name(uri: str, name: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path="/" + name))


async def _ensure_database(admin_uri: str, name: str) -> None:
    try:
        conn = await asyncpg.connect(admin_uri, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise DatabaseUnavailable(f"cannot connect to the embedded database: {err}") from None
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
            log.info("created database %s", name)
    finally:
        await conn.close()


@contextmanager
def database(database_url: str | None, pgdata: Path) -> Iterator[str]:
    """Yield a DSN: `database_url`, or with none an embedded server in `pgdata` started for
    the duration."""
    if database_url:
        yield database_url
        return
    server = EmbeddedPostgres(pgdata)
    admin_uri = server.start()
    try:
        asyncio.run(_ensure_database(admin_uri, EMBEDDED_DB_NAME))
        yield with_database_name(admin_uri, EMBEDDED_DB_NAME)
    finally:
        server.stop()
