"""The asyncpg pool: one per process, jsonb/json decoded with orjson on every connection."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from storage.errors import DatabaseUnavailable

__all__ = [
    "DB",
    "Conn",
    "DatabaseUnavailable",
    "Pool",
    "Record",
    "connect",
    "create_pool",
    "setup_connection",
]

# The one set of driver types the layers above name (they never import asyncpg themselves).
Record: TypeAlias = asyncpg.Record
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
# A single connection (dedicated or borrowed from the pool), or anything that can run a query.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
DB: TypeAlias = "Conn | asyncpg.Pool[asyncpg.Record]"


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def setup_connection(conn: asyncpg.Connection) -> None:
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename, schema="pg_catalog", encoder=_dumps, decoder=orjson.loads, format="text"
        )


async def _release_as_is(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own (an open transaction rolled
    back, listeners dropped).

    asyncpg's default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    on every release: a round trip after every group commit, before its acks can go out. No
    pooled connection here keeps session state: nothing SETs, LISTENs (the bus has its own
    connection) or declares cursors outside a transaction, and the one session-level advisory
    lock (`storage.agents.agent_creation_lock`) is released by its holder or its connection is
    closed."""


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, timeout_s: float = 10.0
) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=setup_connection,
            reset=_release_as_is,
            timeout=timeout_s,
            command_timeout=60,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise DatabaseUnavailable(f"cannot connect to the database: {_one_line(err)}") from None
    assert pool is not None
    return pool


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


async def connect(dsn: str, *, timeout_s: float = 10.0) -> asyncpg.Connection:
    """A dedicated connection (migrations, LISTEN), with the same one-line failure as the pool."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        raise DatabaseUnavailable(f"cannot connect to the database: {_one_line(err)}") from None
    await setup_connection(conn)
    return conn
