"""`POST /api/voice/elevenlabs-session` against a local fake ElevenLabs, and agent clean-up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.auth import Role
from gateway.elevenlabs import RetryPolicy
from handlers.app import create_app
from handlers.keys import AGENT_SWEEPER, ELEVENLABS_RETRY
from tests.conftest import make_settings
from tests.fakes.fake_elevenlabs import Delay, Fail, FakeElevenLabs, Garbage

Client = TestClient[Any, Any]
SARAH = "3125e776-a5ee-4740-84ba-8a9535b83281"
LOGISTICS = "97247e0f-ad06-4af3-9c88-a71b28bb3e1b"
KEY = "xi-secret-key-do-not-log"
URL = "/api/voice/elevenlabs-session"


@pytest.fixture
async def fake() -> AsyncIterator[FakeElevenLabs]:
    server = FakeElevenLabs(api_key=KEY)
    await server.start()
    yield server
    await server.stop()


async def _client(aiohttp_client: Callable[..., Any], tmp_path: Path, db_dsn: str,
                  **overrides: Any) -> Client:
    settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, db_dsn)
    app[ELEVENLABS_RETRY] = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.01)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
async def el_client(
    aiohttp_client: Callable[..., Any], tmp_path: Path, db_dsn: str, fake: FakeElevenLabs
) -> Client:
    return await _client(
        aiohttp_client, tmp_path, db_dsn, voice_agent_provider="elevenlabs",
        elevenlabs_api_key=KEY, elevenlabs_base_url=fake.base_url, elevenlabs_timeout_s=0.5,
    )


async def _session(client: Client, admin_headers: Any) -> tuple[str, dict[str, str]]:
    resp = await client.post(
        "/api/sessions", json={"persona_id": SARAH, "scenario_id": LOGISTICS},
        headers=admin_headers,
    )
    body = await resp.json()
    return body["session_id"], {"Authorization": f"Bearer {body['candidate_token']}"}


async def test_creates_then_reuses_agent(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200, await resp.text()
    first = await resp.json()
    assert first == {"agent_id": "agent_0001", "cached": False, "provider": "elevenlabs"}
    [call] = fake.create_calls
    assert call.headers["xi-api-key"] == KEY
    body = call.json
    assert body["name"] == f"Sarah Chen (Session {sid})"
    agent = body["conversation_config"]["agent"]
    assert agent["prompt"]["llm"] == "gpt-4o"
    assert "You are Sarah Chen, VP of Operations" in agent["prompt"]["prompt"]
    assert "{" not in agent["prompt"]["prompt"]
    assert agent["first_message"].startswith("Hi, this is Sarah Chen.")

    again = await (await el_client.post(URL, json={"session_id": sid}, headers=cand)).json()
    assert again == {"agent_id": "agent_0001", "cached": True, "provider": "elevenlabs"}
    assert len(fake.create_calls) == 1
    row = await pool.fetchrow(
        "SELECT voice_agent_id, voice_agent_provider, rendered_prompt FROM"
        " interview_scope_packages WHERE session_id = $1", uuid.UUID(sid),
    )
    assert row is not None and row[0] == "agent_0001" and row[1] == "elevenlabs"
    assert row[2] == agent["prompt"]["prompt"]


async def test_double_click_creates_one_agent(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", Delay(0.2))
    r1, r2 = await asyncio.gather(
        el_client.post(URL, json={"session_id": sid}, headers=cand),
        el_client.post(URL, json={"session_id": sid}, headers=cand),
    )
    b1, b2 = await r1.json(), await r2.json()
    assert r1.status == r2.status == 200
    assert b1["agent_id"] == b2["agent_id"]
    assert sorted([b1["cached"], b2["cached"]]) == [False, True]
    assert len(fake.create_calls) == 1


async def test_retries_429_and_500_then_succeeds(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", Fail(429, retry_after=0), Fail(503))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200
    assert len(fake.create_calls) == 3


async def test_vendor_keeps_failing_is_502_and_logged_without_key(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", *[Fail(500, detail="model overloaded")] * 3)
    with caplog.at_level(logging.WARNING, logger="gateway.elevenlabs"):
        resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    err = (await resp.json())["error"]
    assert err["code"] == "upstream_error" and "ElevenLabs" in err["message"]
    assert len(fake.create_calls) == 3
    assert "model overloaded" in caplog.text
    assert KEY not in caplog.text and KEY not in err["message"]
    # nothing stored: a later call tries again
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200 and (await resp.json())["cached"] is False


async def test_vendor_refusal_is_502_without_retry(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", Fail(422, detail="prompt too long"))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert len(fake.create_calls) == 1
    assert "prompt too long" in caplog.text


@pytest.mark.parametrize("garbage", [Garbage("<html>oops</html>"), Garbage('{"id": "x"}'),
                                     Garbage('{"agent_id": ""}'), Garbage("[1]")])
async def test_garbage_answer_is_502(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, garbage: Garbage
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", garbage)
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "upstream_error"


async def test_timeouts_are_retried_then_502(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", Delay(1.0), Delay(1.0), Delay(1.0))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert "timed out" in (await resp.json())["error"]["message"]


async def test_connection_refused_is_502(
    aiohttp_client: Callable[..., Any], tmp_path: Path, db_dsn: str, admin_headers: Any
) -> None:
    client = await _client(
        aiohttp_client, tmp_path, db_dsn, voice_agent_provider="elevenlabs",
        elevenlabs_api_key=KEY, elevenlabs_base_url="http://127.0.0.1:9",
    )
    sid, cand = await _session(client, admin_headers)
    resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert "connection error" in (await resp.json())["error"]["message"]


async def test_wrong_key_is_502(
    aiohttp_client: Callable[..., Any], tmp_path: Path, db_dsn: str, admin_headers: Any,
    fake: FakeElevenLabs,
) -> None:
    client = await _client(
        aiohttp_client, tmp_path, db_dsn, voice_agent_provider="elevenlabs",
        elevenlabs_api_key="xi-wrong", elevenlabs_base_url=fake.base_url,
    )
    sid, cand = await _session(client, admin_headers)
    resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502 and "HTTP 401" in (await resp.json())["error"]["message"]


async def test_missing_key_is_503(
    aiohttp_client: Callable[..., Any], tmp_path: Path, db_dsn: str, admin_headers: Any
) -> None:
    client = await _client(aiohttp_client, tmp_path, db_dsn, voice_agent_provider="elevenlabs")
    sid, cand = await _session(client, admin_headers)
    resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 503
    message = (await resp.json())["error"]["message"]
    assert "ELEVENLABS_API_KEY" in message and "VOICE_AGENT_PROVIDER=offline" in message


async def test_offline_provider_is_deterministic_and_stores_prompt(
    client: Client, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(client, admin_headers)
    resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    first = await resp.json()
    assert resp.status == 200 and first["provider"] == "offline" and first["cached"] is False
    assert first["agent_id"].startswith("offline-")
    row = await pool.fetchrow(
        "SELECT voice_agent_id, rendered_prompt, rendered_first_message FROM"
        " interview_scope_packages WHERE session_id = $1", uuid.UUID(sid),
    )
    assert row is not None
    from handlers.rest_voice_agent import offline_agent_id

    assert row[0] == offline_agent_id(uuid.UUID(sid), row[1], row[2]) == first["agent_id"]
    assert "Sarah Chen" in row[1] and "{persona." not in row[1]
    assert (await (await client.post(URL, json={"session_id": sid}, headers=cand)).json())[
        "cached"
    ] is True


async def test_auth_and_validation(
    client: Client, admin_headers: Any, token: Callable[..., str]
) -> None:
    sid, cand = await _session(client, admin_headers)
    other = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id=uuid.uuid4())}"}
    inter = {"Authorization": f"Bearer {token(Role.INTERVIEWER, session_id=sid)}"}
    assert (await client.post(URL, json={"session_id": sid})).status == 401
    assert (await client.post(URL, json={"session_id": sid}, headers=other)).status == 403
    assert (await client.post(URL, json={"session_id": sid}, headers=inter)).status == 403
    assert (await client.post(URL, json={"session_id": sid}, headers=cand)).status == 200
    assert (await client.post(URL, json={"session_id": sid}, headers=admin_headers)).status == 200
    resp = await client.post(URL, json={"session_id": str(uuid.uuid4())}, headers=admin_headers)
    assert resp.status == 404
    resp = await client.post(URL, json={"session_id": "x"}, headers=admin_headers)
    assert resp.status == 422
    resp = await client.post(URL, json={}, headers=admin_headers)
    assert resp.status == 422
    resp = await client.post(URL, data=b"{", headers={**admin_headers,
                                                     "Content-Type": "application/json"})
    assert resp.status == 400


async def test_ended_session_is_409(client: Client, admin_headers: Any) -> None:
    sid, cand = await _session(client, admin_headers)
    assert (await client.post(f"/api/sessions/{sid}/end", headers=admin_headers)).status == 200
    resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "session_ended"


async def _wait_for(pool: asyncpg.Pool, sql: str, *args: Any) -> Any:
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        value = await pool.fetchval(sql, *args)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {sql}")
        await asyncio.sleep(0.02)


DELETED_AT = "SELECT agent_deleted_at FROM interview_scope_packages WHERE session_id = $1"


async def test_end_triggers_agent_deletion(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    agent_id = (await (await el_client.post(URL, json={"session_id": sid}, headers=cand)).json())[
        "agent_id"
    ]
    assert (await el_client.post(f"/api/sessions/{sid}/end", headers=admin_headers)).status == 200
    await _wait_for(pool, DELETED_AT, uuid.UUID(sid))
    assert fake.deleted == [agent_id]
    [call] = fake.calls("DELETE")
    assert call.headers["xi-api-key"] == KEY


async def test_cleanup_failure_backs_off_and_retries(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    sid_u = uuid.UUID(sid)
    await el_client.post(URL, json={"session_id": sid}, headers=cand)
    fake.script("delete", *[Fail(500)] * 3)
    await el_client.post(f"/api/sessions/{sid}/end", headers=admin_headers)
    await _wait_for(
        pool, "SELECT agent_cleanup_attempts FROM interview_scope_packages WHERE session_id=$1",
        sid_u,
    )
    row = await pool.fetchrow(
        "SELECT agent_deleted_at, agent_cleanup_after > now() + interval '30 seconds'"
        " FROM interview_scope_packages WHERE session_id = $1", sid_u,
    )
    assert row is not None and row[0] is None and row[1] is True  # backed off
    sweeper = el_client.app[AGENT_SWEEPER]
    assert await sweeper.sweep_once() == 0  # not due yet
    await pool.execute(
        "UPDATE interview_scope_packages SET agent_cleanup_after = now() WHERE session_id = $1",
        sid_u,
    )
    assert await sweeper.sweep_once() == 1
    assert await pool.fetchval(DELETED_AT, sid_u) is not None
    assert await sweeper.sweep_once() == 0


async def test_sweep_picks_up_sessions_ended_elsewhere_and_offline_agents(
    client: Client, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(client, admin_headers)
    await client.post(URL, json={"session_id": sid}, headers=cand)
    # ended without the REST route (e.g. by an operator): no agent_cleanup_after set
    await pool.execute(
        "UPDATE interview_sessions SET status = 'cancelled', ended_at = now() WHERE id = $1",
        uuid.UUID(sid),
    )
    assert await client.app[AGENT_SWEEPER].sweep_once() == 1
    assert await pool.fetchval(DELETED_AT, uuid.UUID(sid)) is not None
