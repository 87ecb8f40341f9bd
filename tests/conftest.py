"""Shared fixtures: a real PostgreSQL per test run, a fresh database per test, the app factory.

PostgreSQL is the embedded server (started once per run in a temp dir) or, when
`DATABASE_URL` is set, that server (the URL must allow CREATE DATABASE). A template database is
migrated and seeded once; each test gets its own copy, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.auth import Role, issue_token
from gateway.settings import Settings
from handlers.app import create_app
from storage.database import with_database_name
from storage.embedded import EmbeddedPostgres
from storage.migrate import apply_migrations
from storage.pool import connect, create_pool
from storage.seed import apply_seeds
from tests.helpers import TEST_SECRET, create_session, make_settings


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    # Not pytest's tmp_path: concurrent pytest runs prune each other's numbered temp dirs.
    root = Path(tempfile.mkdtemp(prefix="ig-pg-"))
    server = EmbeddedPostgres(root / "pgdata", delete_on_stop=True)
    uri = server.start()
    try:
        yield uri
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _admin_exec(admin_dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(pg_admin_dsn: str) -> Iterator[str]:
    """A migrated, seeded database that each test's database is copied from."""
    name = f"ig_tmpl_{uuid.uuid4().hex[:10]}"
    dsn = with_database_name(pg_admin_dsn, name)

    async def build() -> None:
        await _admin_exec(pg_admin_dsn, f'CREATE DATABASE "{name}"')
        await apply_migrations(dsn)
        conn = await connect(dsn)
        try:
            await apply_seeds(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield name
    asyncio.run(_admin_exec(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db_dsn(pg_admin_dsn: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated and seeded database for this test only."""
    name = f"ig_t_{uuid.uuid4().hex[:12]}"
    await _admin_exec(pg_admin_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield with_database_name(pg_admin_dsn, name)
    await _admin_exec(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_db_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """An empty database (no schema), for migration runner tests."""
    name = f"ig_e_{uuid.uuid4().hex[:12]}"
    await _admin_exec(pg_admin_dsn, f'CREATE DATABASE "{name}"')
    yield with_database_name(pg_admin_dsn, name)
    await _admin_exec(pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_dsn, min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(
    settings: Settings, db_dsn: str, aiohttp_client: Callable[..., Any]
) -> TestClient[Any, Any]:
    app = create_app(settings, db_dsn)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
def token() -> Callable[..., str]:
    """Make a bearer token: token(Role.ADMIN) or token("candidate", session_id=...)."""

    def make(role: Role | str, session_id: uuid.UUID | str | None = None, ttl_s: int = 3600) -> str:
        return issue_token(TEST_SECRET, role, session_id=session_id, ttl_s=ttl_s)

    return make


@pytest.fixture
def admin_headers(token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(Role.ADMIN)}"}


@pytest.fixture
async def session_id(pool: asyncpg.Pool) -> uuid.UUID:
    return await create_session(pool)


@pytest.fixture
async def server_url(aiohttp_server: Callable[..., Any], settings: Settings, db_dsn: str) -> str:
    """The app on a real port, for real WebSocket clients; returns `http://127.0.0.1:PORT`."""
    server = await aiohttp_server(create_app(settings, db_dsn))
    return f"http://127.0.0.1:{server.port}"
