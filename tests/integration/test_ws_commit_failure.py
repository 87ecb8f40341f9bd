"""A failed commit never lets a candidate's later frames be stored before the failed one.

The database refuses one group-commit batch (the connection drops mid-commit): the gateway
answers `unavailable` for that batch's frames and every later frame of the socket, stores none
of them, and closes the socket with 1011 once all are answered. The client reconnects, reads
`last_seq` from `hello` and resends: the stored transcript is in `seq` order with no gap.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

import services.live
from gateway.auth import Role
from storage.transcripts import FrameResult, NewFrame
from tests.wsclient import UNIT, open_ws, recv, send, transcript, ws_url

FRAMES = 60


async def test_frames_after_a_failed_commit_wait_for_the_resend(
    server_url: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = services.live.insert_frames_isolating
    calls = {"n": 0}

    async def flaky(conn: Any, frames: Sequence[NewFrame]) -> list[FrameResult]:
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch: some frames are already stored
            await asyncio.sleep(0.05)  # later frames queue up behind it meanwhile
            raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
        return await real(conn, frames)

    monkeypatch.setattr(services.live, "insert_frames_isolating", flaky)
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))

    acked: set[int] = set()
    refused: set[int] = set()
    async with await open_ws(url) as ws:
        assert (await recv(ws))["type"] == "hello"
        await send(ws, transcript(1))
        assert (await recv(ws))["type"] == "ack"
        acked.add(1)
        for seq in range(2, FRAMES + 1):
            await send(ws, transcript(seq))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frame = await recv(ws, UNIT)
                if frame["type"] == "ack":
                    acked.add(frame["seq"])
                elif frame["type"] == "error":
                    assert frame["code"] == "unavailable", frame
                    refused.add(int(frame["ref"]))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    assert acked | refused == set(range(1, FRAMES + 1)) and not acked & refused
    assert refused, "the failed batch's frames are answered"
    first_refused = min(refused)
    assert all(seq < first_refused for seq in acked), "nothing after the failure was stored"
    stored = [r["seq"] for r in await pool.fetch(
        "SELECT seq FROM voice_transcripts WHERE session_id = $1 ORDER BY message_number",
        session_id,
    )]
    assert stored == sorted(acked)

    # The reconnect: resume after `last_seq`, resend the rest in order.
    async with await open_ws(url) as ws:
        hello = await recv(ws)
        assert hello["last_seq"] == max(acked)
        for seq in range(hello["last_seq"] + 1, FRAMES + 1):
            await send(ws, transcript(seq))
        last = 0
        while last < FRAMES:
            frame = await recv(ws)
            assert frame["type"] == "ack", frame
            last = frame["seq"]
    rows = await pool.fetch(
        "SELECT seq FROM voice_transcripts WHERE session_id = $1 ORDER BY message_number",
        session_id,
    )
    assert [r["seq"] for r in rows] == list(range(1, FRAMES + 1))
