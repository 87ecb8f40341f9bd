"""Ending a session tells every connected client, closes them with 4000, and refuses new ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from websockets.exceptions import ConnectionClosed

from gateway.auth import Role
from tests.helpers import create_session
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


async def test_end_closes_sockets_and_refuses_frames(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    sid = await create_session(pool)
    base = str(client.make_url("")).rstrip("/")
    cand_url = ws_url(base, "candidate", sid, token(Role.CANDIDATE, sid))
    panel_url = ws_url(base, "panel", sid, token(Role.INTERVIEWER, sid))
    async with await open_ws(cand_url) as cand, await open_ws(panel_url) as panel:
        await recv(cand)
        await recv_until(panel, "snapshot")
        await send(cand, transcript(1, "Let's wrap up."))
        await recv_until(cand, "ack")
        resp = await client.post(
            f"/api/sessions/{sid}/end",
            headers={"Authorization": f"Bearer {token(Role.INTERVIEWER, sid)}"},
        )
        assert resp.status == 200, await resp.text()
        for ws in (cand, panel):
            ended = await recv_until(ws, "session_ended")
            assert ended["ended_at"]
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(cand_url)
        assert err.value.status == 410
    again = await client.post(
        f"/api/sessions/{sid}/end", headers={"Authorization": f"Bearer {token(Role.ADMIN)}"}
    )
    assert again.status == 200 and (await again.json())["already_ended"] is True
    events = await pool.fetch(
        "SELECT event_type FROM live_events WHERE session_id = $1 ORDER BY event_id", sid
    )
    types = [r["event_type"] for r in events]
    assert types.count("session_ended") == 1
    assert "presence" in types
    logged = await pool.fetchval(  # transcript events are their rows
        "SELECT count(*) FROM voice_transcripts WHERE session_id = $1 AND event_id IS NOT NULL", sid
    )
    assert logged == 1
    artifact = await pool.fetchval(
        "SELECT transcript_artifact FROM interview_sessions WHERE id = $1", sid
    )
    assert [m["text"] for m in artifact["messages"]] == ["Let's wrap up."]
    late = await client.post(
        "/api/voice/transcript",
        json={"session_id": str(sid), "role": "user", "text": "one more thing", "seq": 2},
        headers={"Authorization": f"Bearer {token(Role.CANDIDATE, sid)}"},
    )
    assert late.status == 410
    assert (await late.json())["error"]["code"] == "session_ended"
