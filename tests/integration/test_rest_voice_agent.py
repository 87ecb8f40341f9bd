"""`POST /api/voice/elevenlabs-session` against a local fake ElevenLabs, and agent clean-up."""

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
from aiohttp.test_utils import TestClient

from analysis.retry import RetryPolicy
from gateway.auth import Role
from gateway.errors import UpstreamError
from handlers.app import create_app
from handlers.keys import AGENT_SWEEPER, ELEVENLABS_RETRY
from services.voice.elevenlabs import ElevenLabsClient
from tests.fakes.fake_elevenlabs import Delay, Fail, FakeElevenLabs, Garbage
from tests.helpers import make_settings

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
    app[ELEVENLABS_RETRY] = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
async def el_client(
    tmp_path: Path, db_dsn: str, fake: FakeElevenLabs, aiohttp_client: Callable[..., Any]
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
    assert first.pop("signed_url").startswith("wss://")
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
    assert again.pop("signed_url").startswith("wss://")
    assert again == {"agent_id": "agent_0001", "cached": True, "provider": "elevenlabs"}
    assert len(fake.create_calls) == 1
    row = await pool.fetchrow(
        "SELECT voice_agent_id, voice_agent_provider, rendered_prompt FROM"
        " interview_scope_packages WHERE session_id = $1", uuid.UUID(sid),
    )
    assert row is not None and row[0] == "agent_0001" and row[1] == "elevenlabs"
    assert row[2] == agent["prompt"]["prompt"]


async def test_double_click_creates_one_agent(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
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
    assert fake.list_calls == []  # the waiting click found the agent stored, not in doubt
    attempts = "SELECT count(*) FROM voice_agent_attempts WHERE session_id = $1"
    assert await pool.fetchval(attempts, uuid.UUID(sid)) == 0


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
    with caplog.at_level(logging.WARNING, logger="services.voice.elevenlabs"):
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
    # the stalled creates land after the request gave up (an earlier one would be adopted)
    fake.script("create", Delay(2.0), Delay(2.0), Delay(2.0))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert "timed out" in (await resp.json())["error"]["message"]


async def test_connection_refused_is_502(
    tmp_path: Path, db_dsn: str, admin_headers: Any, aiohttp_client: Callable[..., Any]
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
    tmp_path: Path, db_dsn: str, admin_headers: Any,
    fake: FakeElevenLabs, aiohttp_client: Callable[..., Any],
) -> None:
    client = await _client(
        aiohttp_client, tmp_path, db_dsn, voice_agent_provider="elevenlabs",
        elevenlabs_api_key="xi-wrong", elevenlabs_base_url=fake.base_url,
    )
    sid, cand = await _session(client, admin_headers)
    resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502 and "HTTP 401" in (await resp.json())["error"]["message"]


async def test_missing_key_is_503(
    tmp_path: Path, db_dsn: str, admin_headers: Any, aiohttp_client: Callable[..., Any]
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
    from services.voice.agents import offline_agent_id

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


# --- no orphan or duplicate agents after an ambiguous create failure -------------------------

ATTEMPTS = "SELECT count(*) FROM voice_agent_attempts WHERE session_id = $1"
STORED = "SELECT voice_agent_id FROM interview_scope_packages WHERE session_id = $1"


async def _wait_for_agents(fake: FakeElevenLabs, count: int) -> None:
    """The fake finishes stalled creates after the client gave up; wait for them to land."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while len(fake.agents) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"fake has {len(fake.agents)} agents, expected {count}")
        await asyncio.sleep(0.02)


async def test_create_timed_out_but_made_the_agent_retry_adopts_it(
    tmp_path: Path, db_dsn: str, admin_headers: Any,
    fake: FakeElevenLabs, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture,
    aiohttp_client: Callable[..., Any],
) -> None:
    client = await _client(
        aiohttp_client, tmp_path, db_dsn, voice_agent_provider="elevenlabs",
        elevenlabs_api_key=KEY, elevenlabs_base_url=fake.base_url, elevenlabs_timeout_s=1.0,
    )
    sid, cand = await _session(client, admin_headers)
    # the create lands at 1.3 s, after the client's 1 s timeout; the lookup that follows
    # answers at about 1.6 s (within its own timeout), by when the agent exists
    fake.script("create", Delay(1.3))
    fake.script("list", Delay(0.6))
    with caplog.at_level(logging.INFO, logger="services.voice.elevenlabs"):
        resp = await client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body.pop("signed_url").startswith("wss://")
    assert body == {"agent_id": "agent_0001", "cached": False, "provider": "elevenlabs"}
    assert list(fake.agents) == ["agent_0001"]
    assert len(fake.create_calls) == 1
    [lookup] = fake.list_calls
    assert lookup.query["search"] == f"Sarah Chen (Session {sid})"
    assert lookup.query["page_size"] == "100"
    assert lookup.headers["xi-api-key"] == KEY
    assert await pool.fetchval(STORED, uuid.UUID(sid)) == "agent_0001"
    assert await pool.fetchval(ATTEMPTS, uuid.UUID(sid)) == 0
    assert "adopted existing agent agent_0001" in caplog.text
    assert KEY not in caplog.text


async def test_every_attempt_timed_out_next_request_adopts_oldest_and_deletes_the_rest(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    sid_u = uuid.UUID(sid)
    fake.script("create", *[Delay(1.5)] * 3)  # each lands ~1 s after the client gave up
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert "timed out" in (await resp.json())["error"]["message"]
    assert len(fake.list_calls) == 2  # looked before each retry, found nothing yet
    assert await pool.fetchval(ATTEMPTS, sid_u) == 1
    assert await pool.fetchval(STORED, sid_u) is None

    await _wait_for_agents(fake, 3)  # three orphans-to-be
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["agent_id"] == "agent_0001"
    assert len(fake.create_calls) == 3  # none new
    assert list(fake.agents) == ["agent_0001"]
    assert fake.deleted == ["agent_0002", "agent_0003"]
    assert await pool.fetchval(STORED, sid_u) == "agent_0001"
    assert await pool.fetchval(ATTEMPTS, sid_u) == 0


async def test_lost_create_then_5xx_next_request_adopts_without_creating(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", Delay(1.0), Fail(503), Fail(503))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    await _wait_for_agents(fake, 1)
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200
    body = await resp.json()
    assert body.pop("signed_url").startswith("wss://")
    assert body == {"agent_id": "agent_0001", "cached": False, "provider": "elevenlabs"}
    assert len(fake.create_calls) == 3 and fake.deleted == []
    assert await pool.fetchval(STORED, uuid.UUID(sid)) == "agent_0001"
    assert await pool.fetchval(ATTEMPTS, uuid.UUID(sid)) == 0


async def test_429_is_not_ambiguous_no_lookup(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("create", Fail(429, retry_after=0))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200
    assert len(fake.create_calls) == 2
    assert fake.list_calls == []  # neither before the first create nor before the retry
    assert await pool.fetchval(ATTEMPTS, uuid.UUID(sid)) == 0


@pytest.mark.parametrize("broken", [
    Fail(500), Garbage("not json"), Garbage('{"agents": "none"}'),
    Garbage('{"agents": [{"agent_id": 7, "name": "x"}], "has_more": false}'),
    Garbage('{"agents": [], "has_more": true, "next_cursor": null}'),
], ids=["500", "not-json", "agents-not-a-list", "bad-agent", "more-without-cursor"])
async def test_lookup_failing_does_not_break_creation(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture, broken: Fail | Garbage,
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    sid_u = uuid.UUID(sid)
    # an earlier request left its attempt: look first, and again after the 500
    await pool.execute("INSERT INTO voice_agent_attempts (session_id) VALUES ($1)", sid_u)
    fake.script("list", *[broken] * 6)
    fake.script("create", Fail(500))
    with caplog.at_level(logging.WARNING, logger="services.voice.elevenlabs"):
        resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["agent_id"] == "agent_0001"
    assert list(fake.agents) == ["agent_0001"] and len(fake.create_calls) == 2
    assert fake.list_calls
    assert caplog.text.count("could not look up agent") == 2
    assert await pool.fetchval(ATTEMPTS, sid_u) == 0


@pytest.fixture
async def api(fake: FakeElevenLabs) -> AsyncIterator[ElevenLabsClient]:
    async with aiohttp.ClientSession() as session:
        yield ElevenLabsClient(
            session, base_url=fake.base_url, api_key=KEY, timeout_s=1.0,
            retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.01),
        )


async def test_find_agents_matches_the_exact_name_oldest_first(
    api: ElevenLabsClient, fake: FakeElevenLabs
) -> None:
    name = "Sarah Chen (Session 42)"
    newer = fake.add_agent(name, created_at=2_000)
    fake.add_agent(f"{name} copy", created_at=1_000)
    fake.add_agent("sarah chen (session 42)", created_at=1_000)
    fake.add_agent("Other (Session 42)", created_at=1_000)
    older = fake.add_agent(name, created_at=1_500)
    twin = fake.add_agent(name, created_at=1_500)  # same second: ElevenLabs' order decides
    assert await api.find_agents(name) == [older, twin, newer]
    assert await api.find_agents("Nobody (Session 1)") == []
    [call, _] = fake.list_calls
    assert call.query == {"search": name, "page_size": "100", "sort_by": "created_at",
                          "sort_direction": "asc"}


async def test_find_agents_follows_cursors_up_to_five_pages(
    api: ElevenLabsClient, fake: FakeElevenLabs, caplog: pytest.LogCaptureFixture
) -> None:
    name = "Target (Session 1)"
    for i in range(150):
        fake.add_agent(f"{name} decoy {i}", created_at=i)
    late = fake.add_agent(name, created_at=120)  # on the second page
    assert await api.find_agents(name) == [late]
    first, second = fake.list_calls
    assert "cursor" not in first.query and second.query["cursor"] == "cursor-100"

    for i in range(400):
        fake.add_agent(f"{name} decoy b{i}", created_at=5_000 + i)
    fake.add_agent(name, created_at=20_000)  # on page 6: not read
    fake.requests.clear()
    with caplog.at_level(logging.WARNING, logger="services.voice.elevenlabs"):
        assert await api.find_agents(name) == [late]
    assert len(fake.list_calls) == 5
    assert "more than 5 pages" in caplog.text


async def test_find_agents_retries_and_reports_failure_without_the_key(
    api: ElevenLabsClient, fake: FakeElevenLabs, caplog: pytest.LogCaptureFixture
) -> None:
    agent = fake.add_agent("A (Session 1)")
    fake.script("list", Fail(503))
    assert await api.find_agents("A (Session 1)") == [agent]
    fake.script("list", Fail(503), Fail(503))
    with pytest.raises(UpstreamError, match="list agents"):
        await api.find_agents("A (Session 1)")
    fake.script("list", Garbage('{"agents": [{"agent_id": "x", "name": "y"}], "has_more": false}'))
    with pytest.raises(UpstreamError, match="malformed"):
        await api.find_agents("A (Session 1)")
    assert KEY not in caplog.text


async def test_adoption_keeps_the_oldest_even_when_a_duplicate_will_not_delete(
    api: ElevenLabsClient, fake: FakeElevenLabs, caplog: pytest.LogCaptureFixture
) -> None:
    name = "Sarah Chen (Session 7)"
    newer = fake.add_agent(name, created_at=200)
    oldest = fake.add_agent(name, created_at=100)
    fake.script("create", Fail(502))
    fake.script("delete", Fail(500), Fail(500))
    with caplog.at_level(logging.INFO, logger="services.voice.elevenlabs"):
        agent_id = await api.create_agent(
            name=name, prompt="p", first_message="f", adopt_existing=True
        )
    assert agent_id == oldest
    assert len(fake.create_calls) == 1 and set(fake.agents) == {newer, oldest}
    assert f"could not delete duplicate agent {newer}" in caplog.text


async def test_without_adopt_existing_a_5xx_is_simply_retried(
    api: ElevenLabsClient, fake: FakeElevenLabs
) -> None:
    fake.add_agent("Same (Session 1)")
    fake.script("create", Fail(500))
    await api.create_agent(name="Same (Session 1)", prompt="p", first_message="f")
    assert fake.list_calls == [] and len(fake.create_calls) == 2


async def test_fake_list_validates_page_size_and_searches_case_insensitively(
    fake: FakeElevenLabs,
) -> None:
    agent = fake.add_agent("Sarah Chen (Session 9)")
    headers = {"xi-api-key": KEY}
    url = f"{fake.base_url}/v1/convai/agents"
    async with aiohttp.ClientSession() as session:
        for size in ("0", "101", "x"):
            async with session.get(url, params={"page_size": size}, headers=headers) as resp:
                assert resp.status == 422
        async with session.get(url, params={"search": "SARAH"}) as resp:
            assert resp.status == 401
        async with session.get(url, params={"search": "SARAH"}, headers=headers) as resp:
            body = await resp.json()
    assert [a["agent_id"] for a in body["agents"]] == [agent]
    assert body["has_more"] is False and body["next_cursor"] is None
    assert isinstance(body["agents"][0]["created_at_unix_secs"], int)
