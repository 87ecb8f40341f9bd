"""The candidate socket: durable acks, idempotent resends, bad input, auth before upgrade."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import aiohttp
import asyncpg
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.auth import Role
from tests.helpers import create_session
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


async def test_ack_only_after_commit(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        hello = await recv(ws)
        assert hello["type"] == "hello" and hello["last_seq"] == 0
        await send(ws, transcript(1, "Hello, thanks for taking the call. How are things?"))
        ack = await recv_until(ws, "ack")
        assert ack["seq"] == 1 and ack["duplicate"] is False
        # The ack promises durability: the row is visible to any other connection now.
        row = await pool.fetchrow(
            "SELECT id, text, word_count, seq FROM voice_transcripts WHERE session_id = $1",
            session_id,
        )
        assert row is not None
        assert str(row["id"]) == ack["message_id"]
        assert row["word_count"] == 9
        count = await pool.fetchval(
            "SELECT message_count FROM session_counters WHERE session_id = $1", session_id
        )
        assert count == 1


async def test_resend_is_acked_as_duplicate_and_stored_once(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        await send(ws, transcript(1, "same words"))
        first = await recv_until(ws, "ack")
        await send(ws, transcript(1, "same words"))
        second = await recv_until(ws, "ack")
        assert second["duplicate"] is True
        assert second["message_id"] == first["message_id"]
        await send(ws, transcript(1, "different words"))
        err = await recv_until(ws, "error")
        assert err["code"] == "seq_conflict" and err["ref"] == "1"
    assert await pool.fetchval("SELECT count(*) FROM voice_transcripts") == 1
    assert (
        await pool.fetchval(
            "SELECT message_count FROM session_counters WHERE session_id=$1", session_id
        )
        == 1
    )


async def test_reconnect_and_resend_unacked_stores_each_frame_once_in_order(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    acked: set[int] = set()
    async with await open_ws(url) as ws:
        await recv(ws)
        for seq in range(1, 31):
            await send(ws, transcript(seq, role="user" if seq % 2 else "assistant"))
        while len(acked) < 12:
            frame = await recv(ws)
            if frame["type"] == "ack":
                acked.add(frame["seq"])
        ws.transport.abort()  # drop the connection without a close handshake
    async with await open_ws(url) as ws:
        hello = await recv(ws)
        assert hello["last_seq"] >= max(acked)
        for seq in range(1, 31):
            if seq not in acked:
                await send(ws, transcript(seq, role="user" if seq % 2 else "assistant"))
        while len(acked) < 30:
            frame = await recv(ws)
            if frame["type"] == "ack":
                acked.add(frame["seq"])
    rows = await pool.fetch(
        "SELECT seq FROM voice_transcripts WHERE session_id = $1 ORDER BY created_at, seq",
        session_id,
    )
    assert [r["seq"] for r in rows] == list(range(1, 31))
    assert (
        await pool.fetchval(
            "SELECT message_count FROM session_counters WHERE session_id=$1", session_id
        )
        == 30
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ('{"seq": 1}', "unknown_type"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "apply", "suggestion_id": "x"}', "role_not_allowed"),
        ('{"type": "transcript", "seq": 1, "role": "user"}', "validation_error"),
        ('{"type": "transcript", "seq": 0, "role": "user", "text": "x"}', "validation_error"),
        ('{"type": "transcript", "seq": 1, "role": "boss", "text": "x"}', "validation_error"),
        (
            '{"type": "transcript", "seq": 1, "role": "user", "text": "x", "evil": 1}',
            "validation_error",
        ),
        ('{"type": "command_ack", "command_id": "nope"}', "validation_error"),
        # PostgreSQL cannot store NUL: refused alone, never failing the batch it would join
        (
            '{"type": "transcript", "seq": 1, "role": "user", "text": "a\\u0000b"}',
            "validation_error",
        ),
    ],
)
async def test_bad_frames_get_error_and_socket_stays_open(
    server_url: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
    raw: str,
    code: str,
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        await ws.send(raw)
        err = await recv_until(ws, "error")
        assert err["code"] == code, err
        await send(ws, transcript(7, "still here"))
        assert (await recv_until(ws, "ack"))["seq"] == 7
    assert await pool.fetchval("SELECT count(*) FROM voice_transcripts") == 1


async def test_text_over_limit_is_refused(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        await send(ws, transcript(1, "x" * 4001))
        err = await recv_until(ws, "error")
        assert err["code"] == "text_too_long" and err["ref"] == "1"
    assert await pool.fetchval("SELECT count(*) FROM voice_transcripts") == 0


async def test_oversized_frame_closes_1009(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        await ws.send(orjson.dumps(transcript(1, "y" * 70_000)).decode())
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_binary_frame_closes_1003(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        await ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_auth_is_checked_before_upgrade(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    other = uuid.uuid4()
    cases = [
        (f"{server_url}/ws/candidate/{session_id}", 401),
        (f"{server_url}/ws/candidate/{session_id}?token=garbage", 401),
        (f"{server_url}/ws/candidate/{session_id}?token={token(Role.CANDIDATE, other)}", 403),
        (
            f"{server_url}/ws/candidate/{session_id}?token={token(Role.INTERVIEWER, session_id)}",
            403,
        ),
        (f"{server_url}/ws/candidate/{other}?token={token(Role.ADMIN)}", 404),
        (f"{server_url}/ws/candidate/not-a-uuid?token={token(Role.ADMIN)}", 404),
    ]
    async with aiohttp.ClientSession() as http:
        for url, status in cases:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(url)
            assert err.value.status == status, url
        good = f"{server_url}/ws/candidate/{session_id}?token={token(Role.CANDIDATE, session_id)}"
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(good, origin="https://evil.example")
        assert err.value.status == 403
        ended = await create_session(pool)
        await pool.execute(
            "UPDATE interview_sessions SET status = 'completed', ended_at = now() WHERE id = $1",
            ended,
        )
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(
                f"{server_url}/ws/candidate/{ended}?token={token(Role.CANDIDATE, ended)}"
            )
        assert err.value.status == 410


async def test_ws_refuses_compression(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url, compression="deflate") as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await recv(ws)


async def test_rate_limit_answers_then_closes_1008(
    aiohttp_server: Callable[..., object],
    tmp_path: object,
    db_dsn: str,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    from pathlib import Path

    from handlers.app import create_app
    from tests.helpers import create_session, make_settings

    assert isinstance(tmp_path, Path)
    settings = make_settings(tmp_path, ws_rate_per_s=1.0, ws_rate_burst=2)
    server = await aiohttp_server(create_app(settings, db_dsn))  # type: ignore[operator]
    sid = await create_session(pool)
    url = ws_url(f"http://127.0.0.1:{server.port}", "candidate", sid, token(Role.CANDIDATE, sid))
    async with await open_ws(url) as ws:
        await recv(ws)
        for seq in range(1, 60):
            await send(ws, transcript(seq))
        codes = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frame = await recv(ws)
                codes.append(frame.get("code") or frame["type"])
        assert "rate_limited" in codes
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    await asyncio.sleep(0)


async def test_socket_closes_4002_when_its_token_expires(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = ws_url(server_url, "panel", session_id, token(Role.INTERVIEWER, session_id, ttl_s=2))
    async with await open_ws(url) as ws:
        await recv_until(ws, "snapshot")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(ws, within=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
