"""Graceful shutdown: in-flight frames are committed and acked, then every socket gets 1001."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.auth import Role
from handlers.app import create_app
from tests.helpers import create_session, make_settings
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


async def test_shutdown_acks_what_it_stored_and_closes_1001(
    aiohttp_server: Callable[..., Any],
    tmp_path: Path,
    db_dsn: str,
    pool: asyncpg.Pool,
    token: Callable[..., str],
) -> None:
    settings = make_settings(tmp_path, ws_rate_per_s=10_000, ws_rate_burst=10_000)
    server = await aiohttp_server(create_app(settings, db_dsn))
    base = f"http://127.0.0.1:{server.port}"
    sessions = [await create_session(pool) for _ in range(3)]
    sockets = [
        await open_ws(ws_url(base, "candidate", sid, token(Role.CANDIDATE, sid)))
        for sid in sessions
    ]
    panel = await open_ws(ws_url(base, "panel", sessions[0], token(Role.INTERVIEWER, sessions[0])))
    await recv_until(panel, "snapshot")
    for ws in sockets:
        await recv(ws)
        for seq in range(1, 101):
            await send(ws, transcript(seq))
    acked: dict[uuid.UUID, set[int]] = {sid: set() for sid in sessions}
    # Shut down once the gateway has stored something: many frames are still in flight then.
    first = await recv_until(sockets[0], "ack")
    acked[sessions[0]].add(first["seq"])
    closing = asyncio.create_task(server.close())

    codes = []
    for sid, ws in zip(sessions, sockets, strict=True):
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frame = await recv(ws)
                if frame["type"] == "ack":
                    acked[sid].add(frame["seq"])
        assert closed.value.rcvd is not None
        codes.append(closed.value.rcvd.code)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await recv(panel)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    await closing
    assert codes == [1001, 1001, 1001]
    for sid in sessions:
        rows = await pool.fetch("SELECT seq FROM voice_transcripts WHERE session_id = $1", sid)
        # Every committed frame was acked before the socket closed, and nothing else was.
        assert {r["seq"] for r in rows} == acked[sid]
    assert sum(len(a) for a in acked.values()) > 0
