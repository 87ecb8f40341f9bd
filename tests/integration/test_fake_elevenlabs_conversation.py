"""The fake ElevenLabs conversation and monitor sockets, driven by the `websockets` client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from tests.fakes.fake_elevenlabs import FakeElevenLabs, SignatureBook
from tests.fakes.fake_elevenlabs_conversation import (
    FakeConversationServer,
    Faults,
    ScriptLine,
    load_script,
    script_of,
)

KEY = "xi-monitor-key"
SCRIPT = script_of(
    ("assistant", "Hi, this is Sarah Chen."),
    ("user", "Thanks for the time, Sarah."),
    ("assistant", "Sure. What did you want to cover today?", "Sure."),
    ("user", "Your dispatch process."),
)
ROOT = Path(__file__).resolve().parents[2]


async def _server(script: list[ScriptLine] = SCRIPT, **kwargs: Any) -> FakeConversationServer:
    server = FakeConversationServer(script, api_key=KEY, **kwargs)
    await server.start()
    return server


@pytest.fixture
async def server() -> AsyncIterator[FakeConversationServer]:
    s = await _server()
    yield s
    await s.stop()


async def _events(ws: ClientConnection, n: int, *, skip_garbage: bool = False) -> list[Any]:
    out: list[Any] = []
    async with asyncio.timeout(5):
        while len(out) < n:
            raw = await ws.recv()
            try:
                out.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                if not skip_garbage:
                    out.append(raw)
    return out


def _texts(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for e in events:
        if e["type"] == "agent_response":
            found.append(("assistant", e["agent_response_event"]["agent_response"]))
        elif e["type"] == "user_transcript":
            found.append(("user", e["user_transcription_event"]["user_transcript"]))
        elif e["type"] == "agent_response_correction":
            found.append(("correction", e["agent_response_correction_event"]
                          ["corrected_agent_response"]))
    return found


EXPECTED = [
    ("assistant", "Hi, this is Sarah Chen."),
    ("user", "Thanks for the time, Sarah."),
    ("assistant", "Sure. What did you want to cover today?"),
    ("correction", "Sure."),
    ("user", "Your dispatch process."),
]


async def test_conversation_speaks_the_sdk_handshake_and_plays_the_script(
    server: FakeConversationServer,
) -> None:
    async with connect(server.url("agent_1"), subprotocols=["convai"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "convai"
        await ws.send(orjson.dumps({"type": "conversation_initiation_client_data",
                                    "dynamic_variables": {"x": 1}}).decode())
        events = await _events(ws, 6)
        meta = events[0]
        assert meta["type"] == "conversation_initiation_metadata"
        conv_id = meta["conversation_initiation_metadata_event"]["conversation_id"]
        assert _texts(events[1:]) == EXPECTED
        ids = [e[next(k for k in e if k.endswith("_event"))]["event_id"] for e in events[1:]]
        assert ids == sorted(ids) and len(set(ids)) == 5
        await ws.send(orjson.dumps({"type": "contextual_update", "text": "[Curveball: B] x"}
                                   ).decode())
        await ws.send("not json")
        conv = await server.wait_conversation()
        assert conv.conversation_id == conv_id
        await conv.until(lambda c: bool(c.contextual_updates))
    await asyncio.wait_for(conv.finished.wait(), 5)
    assert conv.initiation is not None and conv.initiation["dynamic_variables"] == {"x": 1}
    assert conv.contextual_updates == ["[Curveball: B] x"]
    assert {"invalid": "not json"} in conv.client_events
    assert conv.ended == "client_closed"
    assert conv.agent_id == "agent_1"


async def test_raw_client_without_initiation_and_pings() -> None:
    server = await _server(ping_interval_s=0.02, init_wait_s=0.05)
    try:
        async with connect(server.url("a")) as ws:
            events = await _events(ws, 8)
            kinds = [e["type"] for e in events]
            assert kinds[0] == "conversation_initiation_metadata"
            pings = [e for e in events if e["type"] == "ping"]
            assert pings, kinds
            for ping in pings:
                await ws.send(orjson.dumps({"type": "pong",
                                            "event_id": ping["ping_event"]["event_id"]}).decode())
            conv = await server.wait_conversation()
            await conv.until(lambda c: len(c.pongs) >= len(pings))
        assert conv.pongs == [p["ping_event"]["event_id"] for p in pings]
        assert conv.initiation is None
        assert all(e["type"] != "ping" for e in conv.events), "pings are not monitorable"
    finally:
        await server.stop()


async def test_end_after_script_closes_1000() -> None:
    server = await _server(end_after_script=True)
    try:
        async with connect(server.url("a")) as ws:
            await _events(ws, 6)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert (await server.wait_conversation()).ended == "script_done"
    finally:
        await server.stop()


async def test_monitor_replays_streams_and_takes_commands() -> None:
    server = await _server(autoplay=False)
    try:
        async with connect(server.url("a")) as client:
            conv = await server.wait_conversation()
            headers = {"xi-api-key": KEY}
            async with connect(server.monitor_url(conv.conversation_id),
                               additional_headers=headers) as monitor:
                first = await _events(monitor, 1)  # the cached initiation metadata
                assert first[0]["type"] == "conversation_initiation_metadata"
                conv.go.set()
                live = await _events(monitor, 5)
                assert _texts(live) == EXPECTED
                await monitor.send(orjson.dumps({
                    "command_type": "contextual_update",
                    "parameters": {"contextual_update": "[Interviewer guidance] dig deeper"},
                }).decode())
                await monitor.send(orjson.dumps({"command_type": "end_call"}).decode())
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(_events(client, 99), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(monitor.recv(), 5)
            # a late monitor gets the replay of the last events
        assert conv.contextual_updates == ["[Interviewer guidance] dig deeper"]
        assert [c.get("command_type") for c in conv.monitor_commands] == [
            "contextual_update", "end_call"]
        assert conv.ended == "end_call"
    finally:
        await server.stop()


async def test_late_monitor_gets_the_cached_events() -> None:
    server = await _server()
    try:
        async with connect(server.url("a")) as client:
            await _events(client, 6)
            conv = await server.wait_conversation()
            await asyncio.wait_for(conv.script_done.wait(), 5)
            async with connect(server.monitor_url(conv.conversation_id),
                               additional_headers={"xi-api-key": KEY}) as monitor:
                replay = await _events(monitor, 6)
        assert _texts(replay[1:]) == EXPECTED
    finally:
        await server.stop()


async def test_monitor_refusals(server: FakeConversationServer) -> None:
    async with connect(server.url("a")):
        conv = await server.wait_conversation()
        with pytest.raises(InvalidStatus) as bad_key:
            async with connect(server.monitor_url(conv.conversation_id),
                               additional_headers={"xi-api-key": "wrong"}):
                pass
        assert bad_key.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as unknown:
            async with connect(server.monitor_url("conv_nope"),
                               additional_headers={"xi-api-key": KEY}):
                pass
        assert unknown.value.response.status_code == 404
    await asyncio.wait_for(conv.finished.wait(), 5)
    with pytest.raises(InvalidStatus) as ended:
        async with connect(server.monitor_url(conv.conversation_id),
                           additional_headers={"xi-api-key": KEY}):
            pass
    assert ended.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as no_agent:
        async with connect(f"{server.ws_url}/v1/convai/conversation"):
            pass
    assert no_agent.value.response.status_code == 400


async def test_faults_garbage_and_drop() -> None:
    server = await _server(faults=Faults(garbage_every=2, drop_after=3))
    try:
        async with connect(server.url("a")) as ws:
            received: list[Any] = []
            with pytest.raises(ConnectionClosedError) as dropped:
                async with asyncio.timeout(5):
                    while True:
                        raw = await ws.recv()
                        try:
                            received.append(orjson.loads(raw))
                        except orjson.JSONDecodeError:
                            received.append(raw)
            assert dropped.value.rcvd is None, "no close frame: the connection was cut"
        garbage = [r for r in received if isinstance(r, str)]
        assert len(garbage) == 1
        # metadata, line 1, line 2, garbage before line 2? (every 2nd), line 3 + its correction
        assert _texts([r for r in received if isinstance(r, dict)][1:]) == EXPECTED[:4]
        assert (await server.wait_conversation()).ended == "dropped"
    finally:
        await server.stop()


async def test_monitor_duplicates_and_out_of_order() -> None:
    server = await _server(
        autoplay=False, faults=Faults(monitor_duplicates=True, monitor_out_of_order=True),
        interval_s=0.0,
    )
    try:
        async with connect(server.url("a")) as client:
            conv = await server.wait_conversation()
            async with connect(server.monitor_url(conv.conversation_id),
                               additional_headers={"xi-api-key": KEY}) as monitor:
                assert (await _events(monitor, 2))[0]["type"] == (
                    "conversation_initiation_metadata")
                conv.go.set()
                events = await _events(monitor, 10)
            await _events(client, 6)
        texts = _texts(events)
        assert sorted(set(texts)) == sorted(EXPECTED)
        assert all(texts.count(t) == 2 for t in EXPECTED), texts
        deduped = list(dict.fromkeys(texts))
        assert deduped != EXPECTED, "neighbours were swapped"
    finally:
        await server.stop()


async def test_monitor_drop_after() -> None:
    server = await _server(faults=Faults(monitor_drop_after=2), autoplay=False)
    try:
        async with connect(server.url("a")):
            conv = await server.wait_conversation()
            async with connect(server.monitor_url(conv.conversation_id),
                               additional_headers={"xi-api-key": KEY}) as monitor:
                conv.go.set()
                with pytest.raises(ConnectionClosedError) as dropped:
                    await _events(monitor, 10)
                assert dropped.value.rcvd is None
    finally:
        await server.stop()


async def test_signed_urls_from_the_http_fake_open_one_conversation_each() -> None:
    now = [1000.0]
    book = SignatureBook(ttl_s=900, clock=lambda: now[0])
    http = FakeElevenLabs(api_key=KEY, signatures=book)
    await http.start()
    server = await _server(signatures=book)
    http.conversation_url = server.ws_url
    agent = http.add_agent("Sarah Chen (Session x)")
    try:
        async with aiohttp.ClientSession() as session:

            async def signed(agent_id: str) -> tuple[int, Any]:
                async with session.get(
                    f"{http.base_url}/v1/convai/conversation/get-signed-url",
                    params={"agent_id": agent_id}, headers={"xi-api-key": KEY},
                ) as resp:
                    return resp.status, await resp.json()

            status, body = await signed(agent)
            assert status == 200
            url = body["signed_url"]
            assert url.startswith(f"{server.ws_url}/v1/convai/conversation?agent_id={agent}&")
            assert "conversation_signature=" in url
            async with connect(url) as ws:
                assert (await _events(ws, 1))[0]["type"] == "conversation_initiation_metadata"
            with pytest.raises(InvalidStatus) as reused:
                async with connect(url):
                    pass
            assert reused.value.response.status_code == 403
            with pytest.raises(InvalidStatus) as unsigned:
                async with connect(server.url(agent)):
                    pass
            assert unsigned.value.response.status_code == 403
            _, other = await signed(agent)
            token = other["signed_url"].rsplit("conversation_signature=", 1)[1]
            with pytest.raises(InvalidStatus) as wrong_agent:
                async with connect(server.url("agent_other", token)):
                    pass
            assert wrong_agent.value.response.status_code == 403
            _, late = await signed(agent)
            now[0] += 901
            with pytest.raises(InvalidStatus) as expired:
                async with connect(late["signed_url"]):
                    pass
            assert expired.value.response.status_code == 403
            assert [why for _, why in server.refusals] == [
                "unknown or already used conversation_signature",
                "unknown or already used conversation_signature",
                "conversation_signature is for another agent",
                "conversation_signature expired",
            ]
            assert (await signed("agent_missing"))[0] == 404
            async with session.get(f"{http.base_url}/v1/convai/conversation/get-signed-url",
                                   headers={"xi-api-key": KEY}) as resp:
                assert resp.status == 422
            async with session.get(f"{http.base_url}/v1/convai/conversation/get-signed-url",
                                   params={"agent_id": agent}) as resp:
                assert resp.status == 401
    finally:
        await server.stop()
        await http.stop()


def test_load_script_reads_the_seed_transcripts(tmp_path: Path) -> None:
    lines = load_script(ROOT / "seeds" / "transcripts" / "strong.json")
    assert len(lines) >= 20 and lines[0].role == "assistant"
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "user", "text": "x", "corrected": "y"}]}')
    with pytest.raises(ValueError, match="only assistant lines"):
        load_script(bad)
    good = tmp_path / "good.json"
    good.write_text('[{"role": "assistant", "text": "long answer", "corrected": "long"}]')
    assert load_script(good) == [ScriptLine("assistant", "long answer", "long")]


async def test_delay_fault_holds_the_next_event() -> None:
    server = await _server(faults=Faults(delay_s=30.0), init_wait_s=0.01)
    try:
        async with connect(server.url("a")) as ws:
            assert (await _events(ws, 1))[0]["type"] == "conversation_initiation_metadata"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
    finally:
        await server.stop()
