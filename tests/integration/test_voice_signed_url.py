"""Signed conversation URLs from `POST /api/voice/elevenlabs-session`, against the local fakes.

Agents are created private; every call fetches a fresh signed URL (never cached), ElevenLabs
failures map to the route's 502/503 answers with the create call's retries, the key never
leaves the server, and the URL really opens the fake conversation socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import connect

from analysis.retry import RetryPolicy
from gateway.settings import SettingsError
from handlers.app import create_app
from handlers.keys import ELEVENLABS_RETRY
from tests.conftest import make_settings
from tests.fakes.fake_elevenlabs import Delay, Fail, FakeElevenLabs, Garbage, SignatureBook
from tests.fakes.fake_elevenlabs_conversation import FakeConversationServer, script_of

Client = TestClient[Any, Any]
SARAH = "3125e776-a5ee-4740-84ba-8a9535b83281"
LOGISTICS = "97247e0f-ad06-4af3-9c88-a71b28bb3e1b"
KEY = "xi-secret-key-do-not-leak"
URL = "/api/voice/elevenlabs-session"
SIGNED = "/v1/convai/conversation/get-signed-url"


@pytest.fixture
async def book() -> SignatureBook:
    return SignatureBook()


@pytest.fixture
async def conversations(book: SignatureBook) -> AsyncIterator[FakeConversationServer]:
    server = FakeConversationServer(script_of(("assistant", "Hi, this is Sarah Chen.")),
                                    signatures=book, init_wait_s=0.05)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake(
    book: SignatureBook, conversations: FakeConversationServer
) -> AsyncIterator[FakeElevenLabs]:
    server = FakeElevenLabs(api_key=KEY, signatures=book, conversation_url=conversations.ws_url)
    await server.start()
    yield server
    await server.stop()


async def _client(aiohttp_client: Callable[..., Any], tmp_path: Path, db_dsn: str,
                  **overrides: Any) -> Client:
    app = create_app(make_settings(tmp_path, **overrides), db_dsn)
    app[ELEVENLABS_RETRY] = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


def _el_settings(fake: FakeElevenLabs, **more: Any) -> dict[str, Any]:
    return {"voice_agent_provider": "elevenlabs", "elevenlabs_api_key": KEY,
            "elevenlabs_base_url": fake.base_url, "elevenlabs_timeout_s": 0.5, **more}


@pytest.fixture
async def el_client(
    tmp_path: Path, db_dsn: str, fake: FakeElevenLabs, aiohttp_client: Callable[..., Any]
) -> Client:
    return await _client(aiohttp_client, tmp_path, db_dsn, **_el_settings(fake))


async def _session(client: Client, admin_headers: Any) -> tuple[str, dict[str, str]]:
    resp = await client.post(
        "/api/sessions", json={"persona_id": SARAH, "scenario_id": LOGISTICS},
        headers=admin_headers,
    )
    body = await resp.json()
    return body["session_id"], {"Authorization": f"Bearer {body['candidate_token']}"}


async def test_private_agent_and_a_signed_url_that_opens_one_conversation(
    el_client: Client, fake: FakeElevenLabs, conversations: FakeConversationServer,
    admin_headers: Any,
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    text = await resp.text()
    assert resp.status == 200, text
    assert KEY not in text
    body = orjson.loads(text)
    [create] = fake.create_calls
    assert create.json["platform_settings"] == {"auth": {"enable_auth": True}}
    [call] = fake.signed_url_calls
    assert call.query == {"agent_id": body["agent_id"]}
    assert call.headers["xi-api-key"] == KEY
    url = body["signed_url"]
    assert url.startswith(f"{conversations.ws_url}/v1/convai/conversation?agent_id=agent_0001&")
    async with connect(url, subprotocols=["convai"]) as ws:  # type: ignore[list-item]
        first = orjson.loads(await ws.recv())
    assert first["type"] == "conversation_initiation_metadata"
    conv = await conversations.wait_conversation()
    assert conv.agent_id == body["agent_id"]
    # the same URL does not open a second conversation: the next call brings a new one
    assert len(book_tokens := fake.signatures.redeemed) == 1 and book_tokens[0] in url


async def test_a_fresh_signed_url_at_every_call_even_for_a_cached_agent(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    bodies = [await (await el_client.post(URL, json={"session_id": sid}, headers=cand)).json()
              for _ in range(3)]
    assert [b["cached"] for b in bodies] == [False, True, True]
    assert len(fake.create_calls) == 1
    assert len(fake.signed_url_calls) == 3
    assert len({b["signed_url"] for b in bodies}) == 3


async def test_signed_url_5xx_and_429_are_retried(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("signed_url", Fail(503), Fail(429, retry_after=0))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 200
    assert len(fake.signed_url_calls) == 3


async def test_signed_url_failing_is_502_and_the_agent_is_kept(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("signed_url", *[Fail(500, detail="signing service down")] * 3)
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    err = (await resp.json())["error"]
    assert err["code"] == "upstream_error" and "signed URL" in err["message"]
    assert "signing service down" in caplog.text and KEY not in caplog.text
    assert len(fake.signed_url_calls) == 3
    again = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    body = await again.json()
    assert again.status == 200 and body["cached"] is True and body["signed_url"]
    assert len(fake.create_calls) == 1


async def test_signed_url_timeouts_are_502(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("signed_url", Delay(2.0), Delay(2.0), Delay(2.0))
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert "timed out" in (await resp.json())["error"]["message"]


@pytest.mark.parametrize("behaviour", [Garbage("not json"), Garbage('{"signed_url": 5}'),
                                       Garbage('{"signed_url": "https://not-a-socket"}'),
                                       Fail(404, detail="agent not found")])
async def test_malformed_or_refused_signed_url_is_502_without_retry(
    el_client: Client, fake: FakeElevenLabs, admin_headers: Any, behaviour: Garbage | Fail
) -> None:
    sid, cand = await _session(el_client, admin_headers)
    fake.script("signed_url", behaviour)
    resp = await el_client.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "upstream_error"
    assert len(fake.signed_url_calls) == 1


async def test_key_removed_after_the_agent_was_made_is_503(
    tmp_path: Path, db_dsn: str, fake: FakeElevenLabs,
    admin_headers: Any, aiohttp_client: Callable[..., Any],
) -> None:
    with_key = await _client(aiohttp_client, tmp_path, db_dsn, **_el_settings(fake))
    sid, cand = await _session(with_key, admin_headers)
    assert (await with_key.post(URL, json={"session_id": sid}, headers=cand)).status == 200
    without = await _client(aiohttp_client, tmp_path / "b", db_dsn,
                            **_el_settings(fake, elevenlabs_api_key=None))
    resp = await without.post(URL, json={"session_id": sid}, headers=cand)
    assert resp.status == 503
    assert "ELEVENLABS_API_KEY" in (await resp.json())["error"]["message"]


async def test_offline_agents_get_the_local_conversation_url(
    tmp_path: Path, db_dsn: str, admin_headers: Any, aiohttp_client: Callable[..., Any],
) -> None:
    local = FakeConversationServer(script_of(("assistant", "Offline hello.")), init_wait_s=0.05)
    await local.start()
    try:
        client = await _client(aiohttp_client, tmp_path, db_dsn,
                               elevenlabs_conversation_url=local.ws_url + "/")
        sid, cand = await _session(client, admin_headers)
        body = await (await client.post(URL, json={"session_id": sid}, headers=cand)).json()
        assert body["provider"] == "offline"
        assert body["signed_url"] == (
            f"{local.ws_url}/v1/convai/conversation?agent_id={body['agent_id']}")
        async with connect(body["signed_url"]) as ws:
            first = orjson.loads(await ws.recv())
            second = orjson.loads(await ws.recv())
        assert first["type"] == "conversation_initiation_metadata"
        assert second["agent_response_event"]["agent_response"] == "Offline hello."
    finally:
        await local.stop()


async def test_offline_without_a_conversation_url_has_none(
    client: Client, admin_headers: Any
) -> None:
    sid, cand = await _session(client, admin_headers)
    body = await (await client.post(URL, json={"session_id": sid}, headers=cand)).json()
    assert body["provider"] == "offline" and body["signed_url"] is None


def test_conversation_url_setting_must_be_a_websocket_url(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ELEVENLABS_CONVERSATION_URL"):
        make_settings(tmp_path, elevenlabs_conversation_url="http://127.0.0.1:9")
    assert make_settings(tmp_path, elevenlabs_conversation_url="wss://x").elevenlabs_conversation_url
