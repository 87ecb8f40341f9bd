"""PostgreSQL ends the gateway's idle connections (an administrator, a restart, a failover).

The driver reads the server's FATAL error before the socket's close; a pooled connection caught
in between is handed out looking open and fails its first statement with asyncpg's
`InternalClientError` ("cannot switch to state 15; another operation (2) is in progress"),
not with a connection error. That is the database being unavailable, like any lost
connection: REST answers 503 (never 500), a candidate's frame gets `unavailable` and its socket
closes for a reconnect, and a socket's teardown records what it can without an unhandled error.
A relay in front of PostgreSQL holds each close for a moment so the window is hit every time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.auth import Role
from handlers.app import create_app
from tests.helpers import make_settings
from tests.pg_proxy import APP_NAME, HoldingProxy
from tests.wsclient import open_ws, recv, send, transcript, ws_url

HOLD_S = 1.5


@pytest.fixture
async def proxy(db_dsn: str) -> AsyncIterator[HoldingProxy]:
    relay = HoldingProxy(db_dsn, hold_close=HOLD_S)
    await relay.start()
    yield relay
    await relay.close()


async def _end_backends(admin: asyncpg.Pool, relay: HoldingProxy) -> int:
    """Terminate every backend the relay carries (the gateway's connections); return once the
    server has closed them all: their FATAL errors delivered, the closes held."""
    before, links = relay.closed_by_server, relay.links
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend' AND application_name = $1",
        APP_NAME,
    )
    closed = await relay.until_closed_by_server(before + links, within=HOLD_S / 2)
    assert closed, "the server closed every relayed link"
    await asyncio.sleep(0.02)  # the gateway's connections have read their FATAL errors
    return links


async def test_terminated_connections_are_unavailable_not_internal_errors(
    proxy: HoldingProxy,
    db_dsn: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    admin_headers: dict[str, str],
    tmp_path: Path,
    aiohttp_server: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(tmp_path, db_pool_min=3, db_pool_max=3)
    server = await aiohttp_server(create_app(settings, proxy.dsn_through))
    base = f"http://127.0.0.1:{server.port}"
    admin = await asyncpg.create_pool(
        db_dsn, min_size=1, max_size=1, server_settings={"application_name": "ig-test-admin"}
    )
    caplog.set_level(logging.WARNING)
    try:
        async with aiohttp.ClientSession(headers=admin_headers) as http:
            # Every pooled connection has been used once and is idle again.
            for _ in range(6):
                async with http.get(f"{base}/api/sessions/{session_id}") as resp:
                    assert resp.status == 200

            # REST: each poisoned connection fails one request with 503, then it is replaced.
            assert await _end_backends(admin, proxy) >= 3
            statuses = []
            for _ in range(8):
                async with http.get(f"{base}/api/sessions/{session_id}") as resp:
                    statuses.append(resp.status)
                    if resp.status != 200:
                        assert resp.status == 503, await resp.text()
                        assert (await resp.json())["error"]["code"] == "unavailable"
            assert 503 in statuses, f"no request met a terminated connection: {statuses}"

            # WebSocket: a frame meets a poisoned connection; the socket ends for a reconnect.
            url = ws_url(base, "candidate", session_id, token(Role.CANDIDATE, session_id))
            async with await open_ws(url) as ws:
                assert (await recv(ws))["type"] == "hello"
                await send(ws, transcript(1))
                assert (await recv(ws))["type"] == "ack"
                await _end_backends(admin, proxy)
                await send(ws, transcript(2))
                answers: list[dict[str, Any]] = []
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        answers.append(await recv(ws))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
            assert [(a["type"], a.get("code")) for a in answers] == [("error", "unavailable")]

            await asyncio.sleep(HOLD_S + 0.2)  # the held closes are through; the pool refills
            async with await open_ws(url) as ws:
                assert (await recv(ws))["last_seq"] == 1, "nothing half-written"
                await send(ws, transcript(2))
                assert (await recv(ws))["type"] == "ack"
    finally:
        await admin.close()
    unhandled = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert unhandled == [], unhandled
