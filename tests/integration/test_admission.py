"""Limits that outlive one connection (issue 13's gaps): connect rates per token and per address,
panel sockets per token, the frame bucket across reconnects, connections per address, header
and body timeouts, same-origin behind a TLS balancer and trusted proxies, the session's round."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import web
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.auth import Role
from handlers.app import create_app
from handlers.connguard import GuardedAppRunner, runner_options
from tests.conftest import make_settings
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


async def _serve(tmp_path: Path, db_dsn: str, **overrides: Any) -> AsyncIterator[str]:
    """The app under the runner `serve` uses (connection guard included) on a free port."""
    settings = make_settings(tmp_path, **overrides)
    runner = GuardedAppRunner(
        create_app(settings, db_dsn), handle_signals=False, **runner_options(settings)
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
def serve(tmp_path: Path, db_dsn: str) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return _serve(tmp_path, db_dsn, **overrides)

    return make


async def _refused(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(url, **kwargs)
    response = refused.value.response
    return response.status_code, orjson.loads(response.body)


async def test_connects_per_token_are_limited(
    serve: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    async for base in serve(ws_connects_per_minute=6.0):  # a burst of 3, then one per 10 s
        url = ws_url(base, "candidate", session_id, token(Role.CANDIDATE, session_id))
        for _ in range(3):
            async with await open_ws(url) as ws:
                await recv(ws)
        status, body = await _refused(url)
        assert status == 429 and body["error"]["code"] == "rate_limited"
        other = ws_url(base, "candidate", session_id, token(Role.CANDIDATE, session_id))
        async with await open_ws(other) as ws:  # another token is not affected
            assert (await recv(ws))["type"] == "hello"


async def test_connects_per_address_are_limited(
    serve: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    async for base in serve(ws_connects_per_minute_per_address=9.0):  # a burst of 3
        for _ in range(3):
            url = ws_url(base, "panel", session_id, token(Role.INTERVIEWER, session_id))
            async with await open_ws(url) as ws:
                await recv_until(ws, "snapshot")
        url = ws_url(base, "panel", session_id, token(Role.INTERVIEWER, session_id))
        status, body = await _refused(url)
        assert status == 429 and "address" in body["error"]["message"]


async def test_panel_sockets_per_token_are_capped_with_4003(
    serve: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    async for base in serve(ws_panels_per_token=2):
        url = ws_url(base, "panel", session_id, token(Role.INTERVIEWER, session_id))
        first, second = await open_ws(url), await open_ws(url)
        for ws in (first, second):
            await recv_until(ws, "snapshot")
        async with await open_ws(url) as third:
            err = await recv_until(third, "error")
            assert err["code"] == "too_many_connections"
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(third)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003
        await first.close()
        await asyncio.sleep(0.2)
        async with await open_ws(url) as again:  # a slot freed: accepted
            await recv_until(again, "snapshot")
        await second.close()


async def test_reconnecting_does_not_refill_the_frame_bucket(
    serve: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    async for base in serve(ws_rate_per_s=0.5, ws_rate_burst=5):
        url = ws_url(base, "candidate", session_id, token(Role.CANDIDATE, session_id))
        async with await open_ws(url) as ws:
            await recv(ws)
            for seq in range(1, 6):
                await send(ws, transcript(seq))
                await recv_until(ws, "ack")
        async with await open_ws(url) as ws:
            await recv(ws)
            await send(ws, transcript(6))
            assert (await recv_until(ws, "error"))["code"] == "rate_limited"


async def test_wrong_round_is_refused(
    serve: Callable[..., Any],
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    async for base in serve():
        url = ws_url(base, "candidate", session_id, token(Role.CANDIDATE, session_id))
        async with await open_ws(url) as ws:
            assert (await recv(ws))["round_number"] == 1
            await send(ws, transcript(1, round_number=2))
            err = await recv_until(ws, "error")
            assert err["code"] == "wrong_round" and err["ref"] == "1"
            await send(ws, transcript(1, round_number=1))
            await recv_until(ws, "ack")
        async with aiohttp.ClientSession() as http:
            body = {"session_id": str(session_id), "role": "user", "text": "x", "round_number": 3}
            headers = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id)}"}
            resp = await http.post(f"{base}/api/voice/transcript", json=body, headers=headers)
            assert resp.status == 422
            assert (await resp.json())["error"]["code"] == "wrong_round"
    assert await pool.fetchval("SELECT count(*) FROM voice_transcripts") == 1


async def test_connections_per_address_are_capped(serve: Callable[..., Any]) -> None:
    async for base in serve(max_connections_per_address=3):
        port = int(base.rsplit(":", 1)[1])
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 503")
        assert b'"too_many_connections"' in answer
        writer.close()
        _, w = held.pop()
        w.close()
        await w.wait_closed()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as http:  # a slot freed: served
            assert (await http.get(f"{base}/healthz")).status == 200
        for _, w in held:
            w.close()


async def test_slow_headers_are_cut_off(serve: Callable[..., Any]) -> None:
    async for base in serve(http_header_timeout_s=0.5):
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the gateway
        took = time.monotonic() - started
        assert 0.4 < took < 3, took
        print(f"\nslow-header connection closed after {took:.2f} s (timeout 0.5 s)")
        writer.close()


async def test_slow_body_is_408(
    serve: Callable[..., Any], admin_headers: dict[str, str]
) -> None:
    async for base in serve(http_body_timeout_s=0.3):
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/personas HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: {admin_headers['Authorization']}\r\n".encode()
            + b"Content-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408")
        writer.close()


async def test_same_origin_comes_from_the_public_url(
    serve: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    async for base in serve(public_url="https://gateway.example"):
        url = ws_url(base, "panel", session_id, token(Role.INTERVIEWER, session_id))
        async with await open_ws(url, origin="https://gateway.example") as ws:
            await recv_until(ws, "snapshot")
        status, body = await _refused(url, origin=base)  # the Host header's origin is not ours
        assert status == 403 and body["error"]["code"] == "forbidden"


async def test_forwarded_headers_only_from_trusted_proxies(
    serve: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    def url(base: str) -> str:
        return ws_url(base, "panel", session_id, token(Role.INTERVIEWER, session_id))

    host = "gateway.example"
    origin = f"https://{host}"
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": host}
    async for base in serve():  # nobody trusted: the headers are ignored
        status, _ = await _refused(url(base), origin=origin, additional_headers=headers)
        assert status == 403
    async for base in serve(trusted_proxies=["127.0.0.0/8"]):
        async with await open_ws(url(base), origin=origin, additional_headers=headers) as ws:
            await recv_until(ws, "snapshot")
        forwarded = {"Forwarded": f'for=203.0.113.7;proto=https;host="{host}"'}
        async with await open_ws(url(base), origin=origin, additional_headers=forwarded) as ws:
            await recv_until(ws, "snapshot")
    # Behind a trusted proxy the per-address limit counts the client, not the proxy.
    async for base in serve(trusted_proxies=["127.0.0.1"], ws_connects_per_minute_per_address=9.0):
        for client in ("203.0.113.7", "203.0.113.8"):
            for _ in range(3):
                hop = {"X-Forwarded-For": client}
                async with await open_ws(url(base), additional_headers=hop) as ws:
                    await recv_until(ws, "snapshot")
        hop = {"X-Forwarded-For": "203.0.113.7"}
        status, _ = await _refused(url(base), additional_headers=hop)
        assert status == 429


def test_settings_refuse_bad_proxies_and_urls(tmp_path: Path) -> None:
    from gateway.settings import SettingsError

    with pytest.raises(SettingsError, match="GATEWAY_TRUSTED_PROXIES"):
        make_settings(tmp_path, trusted_proxies=["not-an-ip"])
    with pytest.raises(SettingsError, match="GATEWAY_PUBLIC_URL"):
        make_settings(tmp_path, public_url="gateway.example")
