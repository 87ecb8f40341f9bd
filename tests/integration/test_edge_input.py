"""Regression tests for input that used to cost other sessions (issue 13, bugs 1, 2, 4, 6) and
for strict types at the edge: each is refused alone, with an error naming the field."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.auth import Role
from gateway.settings import Settings
from handlers.app import create_app
from tests.helpers import create_session
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url

BEYOND_POSTGRES = "2026-11-24T10:00:00+20:00"  # Python parses it; PostgreSQL takes ±15:59
YEAR_ZERO_IN_UTC = "0001-01-01T00:00:00+05:00"  # stored fine, unreadable in Python afterwards
YEAR_10000_IN_UTC = "9999-12-31T23:59:59-05:00"


def now_iso(offset: str = "Z", skew: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + skew).strftime("%Y-%m-%dT%H:%M:%S") + offset


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "timestamp",
    [
        BEYOND_POSTGRES,
        YEAR_ZERO_IN_UTC,
        YEAR_10000_IN_UTC,
        "2000-01-01T00:00:00Z",  # representable, but far outside MAX_CLOCK_SKEW_SECONDS
        "2126-01-01T00:00:00Z",
    ],
)
async def test_ws_bad_timestamp_is_refused_alone_and_others_store(
    server_url: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
    timestamp: str,
) -> None:
    other = await create_session(pool)
    bad_url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    good_url = ws_url(server_url, "candidate", other, token(Role.CANDIDATE, other))
    async with await open_ws(bad_url) as bad, await open_ws(good_url) as good:
        await recv(bad)
        await recv(good)
        for seq in range(1, 21):  # interleaved, so both join the same group-commit batches
            await send(bad, transcript(seq, timestamp=timestamp))
            await send(good, transcript(seq, timestamp=now_iso("+02:00")))
        errors = [await recv_until(bad, "error") for _ in range(20)]
        assert {e["code"] for e in errors} == {"validation_error"}
        assert all(e["message"].startswith("timestamp") for e in errors), errors[0]
        assert sorted(int(e["ref"]) for e in errors) == list(range(1, 21))
        acks = [await recv_until(good, "ack") for _ in range(20)]
        assert [a["seq"] for a in acks] == list(range(1, 21))
    assert await pool.fetchval(
        "SELECT count(*) FROM voice_transcripts WHERE session_id = $1", session_id
    ) == 0
    assert await pool.fetchval(
        "SELECT count(*) FROM voice_transcripts WHERE session_id = $1", other
    ) == 20


@pytest.mark.parametrize(
    "timestamp", [BEYOND_POSTGRES, YEAR_ZERO_IN_UTC, YEAR_10000_IN_UTC, "1999-01-01T00:00:00Z"]
)
async def test_rest_bad_timestamp_is_422_naming_the_field(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str], timestamp: str
) -> None:
    sid = await create_session(pool)
    body = {"session_id": str(sid), "role": "user", "text": "hello", "timestamp": timestamp}
    resp = await client.post(
        "/api/voice/transcript", json=body, headers=auth(token(Role.CANDIDATE, sid))
    )
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"] for d in error["details"]] == ["timestamp"]
    ok = {**body, "timestamp": now_iso("+15:59")}  # PostgreSQL's widest offset is fine
    resp = await client.post(
        "/api/voice/transcript", json=ok, headers=auth(token(Role.CANDIDATE, sid))
    )
    assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("bound", ["since", "until"])
@pytest.mark.parametrize("value", [BEYOND_POSTGRES, YEAR_ZERO_IN_UTC, YEAR_10000_IN_UTC])
async def test_analytics_bounds_outside_range_are_422(
    client: TestClient[Any, Any], admin_headers: dict[str, str], bound: str, value: str
) -> None:
    resp = await client.get(
        "/api/analytics/suggestions", params={bound: value}, headers=admin_headers
    )
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["details"][0]["loc"] == f"query.{bound}"


async def test_rows_stored_before_the_fix_are_readable(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str], db_dsn: str
) -> None:
    """A row that today's edge refuses, stored by an older gateway: migration 0009 repairs it,
    so the panel's snapshot and ending the session work again."""
    sid = await create_session(pool)
    conn = await asyncpg.connect(db_dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "ALTER TABLE voice_transcripts"
                " DROP CONSTRAINT IF EXISTS voice_transcripts_timestamp_readable"
            )
            await conn.execute(
                "INSERT INTO voice_transcripts"
                " (session_id, round_number, seq, role, text, timestamp, word_count)"
                " VALUES ($1, 1, 1, 'user', 'old', $2::text::timestamptz, 1)",
                sid,
                YEAR_ZERO_IN_UTC,
            )
            await conn.execute(_migration("0009"))
    finally:
        await conn.close()
    base = str(client.make_url("")).rstrip("/")
    async with await open_ws(ws_url(base, "panel", sid, token(Role.INTERVIEWER, sid))) as panel:
        snapshot = await recv_until(panel, "snapshot")
        assert [t["text"] for t in snapshot["transcript"]] == ["old"]
    resp = await client.post(f"/api/sessions/{sid}/end", headers=auth(token(Role.ADMIN)))
    assert resp.status == 200, await resp.text()


def _migration(version: str) -> str:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "migrations"
    (path,) = root.glob(f"{version}_*.sql")
    return path.read_text()


async def test_panel_deep_json_command_is_an_error_frame(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = ws_url(server_url, "panel", session_id, token(Role.INTERVIEWER, session_id))
    async with await open_ws(url) as panel:
        await recv_until(panel, "snapshot")
        for depth in (255, 600, 1023):
            payload = "[" * depth + "]" * depth
            await panel.send(
                '{"type": "command", "command_type": "context_update", "ref": "deep",'
                f' "payload": {{"text": {payload}}}}}'
            )
            err = await recv_until(panel, "error")
            assert err["code"] in {"validation_error", "invalid_json"} and err["ref"] in {
                "deep",
                None,
            }, err
        await send(panel, {"type": "dismiss", "suggestion_id": str(uuid.uuid4()), "ref": "alive"})
        err = await recv_until(panel, "error")  # the handler still answers
        assert err["ref"] == "alive" and err["code"] == "unknown_suggestion"


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", "12"), ("seq", True), ("seq", 12.0), ("round_number", 1e2), ("round_number", "1")],
)
async def test_ws_types_are_strict(
    server_url: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
    field: str,
    value: Any,
) -> None:
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        await send(ws, {**transcript(12), field: value})
        err = await recv_until(ws, "error")
        assert err["code"] == "validation_error" and err["message"].startswith(field), err
    assert await pool.fetchval("SELECT count(*) FROM voice_transcripts") == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("is_active", 0), ("is_active", "true"), ("difficulty", "3"), ("difficulty", True)],
)
async def test_rest_types_are_strict(
    client: TestClient[Any, Any], admin_headers: dict[str, str], field: str, value: Any
) -> None:
    resp = await client.get("/api/personas", headers=admin_headers)
    persona = (await resp.json())["items"][0]
    resp = await client.patch(
        f"/api/personas/{persona['id']}", json={field: value}, headers=admin_headers
    )
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["details"][0]["loc"] == field


async def test_client_hanging_up_mid_body_is_logged_at_info(
    settings: Settings,
    db_dsn: str,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # The runner `serve` uses: unlike aiohttp's test server, it does not cancel a handler whose
    # client went away, so the handler itself meets the hang-up.
    runner = web.AppRunner(create_app(settings, db_dsn), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/personas HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: {admin_headers['Authorization']}\r\n".encode()
            + b"Content-Length: 5000\r\n\r\n"
            + b'{"name": "half'
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await writer.wait_closed()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if any("went away" in r.getMessage() for r in caplog.records):
                break
    finally:
        await runner.cleanup()
    gone = [r for r in caplog.records if "went away" in r.getMessage()]
    assert gone and gone[0].levelno == logging.INFO and gone[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
