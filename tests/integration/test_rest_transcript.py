"""The design's REST transcript path goes through the same pipeline as the WebSocket."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.auth import Role
from handlers.keys import LIVE
from tests.helpers import create_session
from tests.wsclient import open_ws, recv_until, ws_url


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_post_stores_fans_out_and_counts(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    sid = await create_session(pool)
    base = str(client.make_url("")).rstrip("/")
    async with await open_ws(ws_url(base, "panel", sid, token(Role.INTERVIEWER, sid))) as panel:
        await recv_until(panel, "snapshot")
        body = {
            "session_id": str(sid),
            "round_number": 1,
            "role": "user",
            "text": "How do you handle this today?",
            "timestamp": datetime.now(UTC).isoformat(),  # within MAX_CLOCK_SKEW_SECONDS
        }
        resp = await client.post(
            "/api/voice/transcript", json=body, headers=auth(token(Role.CANDIDATE, sid))
        )
        assert resp.status == 201, await resp.text()
        stored = await resp.json()
        assert stored["message_count"] == 1 and stored["word_count"] == 6
        assert stored["duplicate"] is False and stored["seq"] is None
        event = await recv_until(panel, "transcript")
        assert event["message_id"] == stored["message_id"]
    # Without seq there is no idempotency: the same body is a new message.
    resp = await client.post("/api/voice/transcript", json=body, headers=auth(token(Role.ADMIN)))
    assert resp.status == 201 and (await resp.json())["message_count"] == 2


async def test_seq_makes_resends_idempotent(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    sid = await create_session(pool)
    headers = auth(token(Role.CANDIDATE, sid))
    body = {"session_id": str(sid), "role": "assistant", "text": "Budget is tight.", "seq": 5}
    first = await client.post("/api/voice/transcript", json=body, headers=headers)
    second = await client.post("/api/voice/transcript", json=body, headers=headers)
    assert (first.status, second.status) == (201, 200)
    a, b = await first.json(), await second.json()
    assert b["duplicate"] is True and b["message_id"] == a["message_id"] and b["message_count"] == 1
    conflict = await client.post(
        "/api/voice/transcript", json={**body, "text": "Something else"}, headers=headers
    )
    assert conflict.status == 409
    assert (await conflict.json())["error"]["code"] == "seq_conflict"
    assert (
        await pool.fetchval("SELECT count(*) FROM voice_transcripts WHERE session_id=$1", sid) == 1
    )


async def test_tenth_message_triggers_analysis_path(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    """Counts come from the database, so the trigger point is exact with either frame path."""
    sid = await create_session(pool)
    headers = auth(token(Role.CANDIDATE, sid))
    triggered: list[int | None] = []
    live = client.app[LIVE]
    previous = live.on_trigger
    live.on_trigger = lambda trigger: triggered.append(trigger.message_count)
    try:
        for i in range(1, 21):
            role = "user" if i % 2 else "assistant"
            resp = await client.post(
                "/api/voice/transcript",
                headers=headers,
                json={"session_id": str(sid), "role": role, "text": f"line {i}", "seq": i},
            )
            assert resp.status == 201
    finally:
        live.on_trigger = previous
    assert triggered == [10, 20]


async def test_bad_requests(
    client: TestClient[Any, Any], pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    sid = await create_session(pool)
    headers = auth(token(Role.CANDIDATE, sid))
    ok = {"session_id": str(sid), "role": "user", "text": "hi"}
    cases: list[tuple[dict[str, Any] | str, dict[str, str], int, str]] = [
        (ok, {}, 401, "unauthorized"),
        (ok, auth(token(Role.CANDIDATE, uuid.uuid4())), 403, "forbidden"),
        (ok, auth(token(Role.INTERVIEWER, sid)), 403, "forbidden"),
        ({**ok, "role": "boss"}, headers, 422, "validation_error"),
        ({**ok, "seq": 0}, headers, 422, "validation_error"),
        ({**ok, "extra": 1}, headers, 422, "validation_error"),
        ({**ok, "text": "nul \x00 inside"}, headers, 422, "validation_error"),
        ({**ok, "text": "x" * 4001}, headers, 422, "text_too_long"),
        ({**ok, "session_id": str(uuid.uuid4())}, auth(token(Role.ADMIN)), 404, "not_found"),
        ("{not json", headers, 400, "invalid_json"),
    ]
    for body, hdrs, status, code in cases:
        if isinstance(body, str):
            resp = await client.post(
                "/api/voice/transcript",
                data=body,
                headers={**hdrs, "Content-Type": "application/json"},
            )
        else:
            resp = await client.post("/api/voice/transcript", json=body, headers=hdrs)
        assert resp.status == status, (body, await resp.text())
        assert (await resp.json())["error"]["code"] == code
    resp = await client.post(
        "/api/voice/transcript", data="x", headers={**headers, "Content-Type": "text/plain"}
    )
    assert resp.status == 415
    await pool.execute(
        "UPDATE interview_sessions SET status='completed', ended_at=now() WHERE id=$1", sid
    )
    other = await create_session(pool)
    await pool.execute(
        "UPDATE interview_sessions SET status='completed', ended_at=now() WHERE id=$1", other
    )
    resp = await client.post(
        "/api/voice/transcript",
        json={**ok, "session_id": str(other)},
        headers=auth(token(Role.CANDIDATE, other)),
    )
    assert resp.status == 410
    assert await pool.fetchval("SELECT count(*) FROM voice_transcripts") == 0
