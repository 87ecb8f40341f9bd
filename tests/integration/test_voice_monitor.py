"""Monitor mode against the fake ElevenLabs monitor socket: the gateway reads the call itself.

The conversation is opened by a raw client (standing in for the candidate's browser), the
candidate reports its id, and the gateway's monitor stores each line once and in order (with
duplicated and out-of-order events, and a dropped monitor socket), applies the correction, and
sends Apply/commands back as monitor control commands."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from websockets.asyncio.client import connect

from gateway.auth import Role
from gateway.settings import Settings
from handlers.app import create_app
from services.voice.monitor import EventOrder, MonitorEvent, parse_event, seq_for
from tests.fakes.fake_elevenlabs_conversation import FakeConversationServer, Faults, script_of
from tests.helpers import make_settings
from tests.wsclient import open_ws, recv_until, send, ws_url

SCRIPT = script_of(
    ("assistant", "Hi, this is Sarah Chen. What did you want to cover today?"),
    ("user", "Thanks for the time. How is dispatch going?"),
    ("assistant", "Honestly it is a mess, we lose trucks every", "Honestly, it is a mess."),
    ("user", "What does a lost truck cost you?"),
    ("assistant", "A few thousand dollars a day."),
    ("user", "Who feels that the most?"),
)
# The fake numbers events 1, 2, ...: the correction takes the id after its line.
EXPECTED = [
    (seq_for(1, "assistant"), "assistant", SCRIPT[0].text),
    (seq_for(2, "user"), "user", SCRIPT[1].text),
    (seq_for(3, "assistant"), "assistant", "Honestly, it is a mess."),
    (seq_for(5, "user"), "user", SCRIPT[3].text),
    (seq_for(6, "assistant"), "assistant", SCRIPT[4].text),
    (seq_for(7, "user"), "user", SCRIPT[5].text),
]


@pytest.fixture
async def el(request: pytest.FixtureRequest) -> AsyncIterator[FakeConversationServer]:
    faults = getattr(request, "param", None) or Faults()
    server = FakeConversationServer(SCRIPT, interval_s=0.03, autoplay=False, faults=faults)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(tmp_path: Path, el: FakeConversationServer) -> Settings:
    return make_settings(
        tmp_path,
        voice_transcript_source="monitor",
        elevenlabs_api_key=el.api_key,
        elevenlabs_monitor_url=el.ws_url,
    )


async def _stored(pool: asyncpg.Pool, session_id: uuid.UUID, n: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for _ in range(200):
        rows = [tuple(r) for r in await pool.fetch(
            "SELECT seq, role, text FROM voice_transcripts WHERE session_id = $1 "
            "ORDER BY created_at, seq", session_id,
        )]
        if len(rows) >= n and all(r[2] != SCRIPT[2].text for r in rows):
            break
        await asyncio.sleep(0.05)
    return rows


async def _report(server_url: str, session_id: uuid.UUID, token: str, conversation_id: str,
                  ) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(server_url) as http, http.post(
        "/api/voice/conversation",
        json={"session_id": str(session_id), "conversation_id": conversation_id},
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    "el",
    [
        Faults(),
        Faults(monitor_duplicates=True, monitor_out_of_order=True),
        Faults(monitor_drop_after=4),
    ],
    ids=["clean", "duplicated-out-of-order", "dropped"],
    indirect=True,
)
async def test_monitor_stores_the_call_once_in_order_and_steers_it(
    server_url: str, pool: asyncpg.Pool, session_id: uuid.UUID, token: Callable[..., str],
    el: FakeConversationServer,
) -> None:
    candidate = token(Role.CANDIDATE, session_id)
    async with connect(el.url("agent_x")) as call:  # the candidate's browser, in the call
        conv = await el.wait_conversation()
        status, body = await _report(server_url, session_id, candidate, conv.conversation_id)
        assert status == 202 and body["started"] is True
        status, body = await _report(server_url, session_id, candidate, conv.conversation_id)
        assert status == 200 and body["started"] is False
        conv.go.set()  # the script plays while the gateway monitors
        await asyncio.wait_for(conv.script_done.wait(), 10)
        rows = await _stored(pool, session_id, len(EXPECTED))
        assert rows == EXPECTED
        count = await pool.fetchval(
            "SELECT message_count FROM session_counters WHERE session_id = $1", session_id
        )
        assert count == len(EXPECTED)  # the correction is not a message
        previous = await pool.fetchval("SELECT previous_text FROM voice_transcript_revisions")
        assert previous == SCRIPT[2].text

        panel = await open_ws(ws_url(server_url, "panel", session_id,
                                     token(Role.INTERVIEWER, session_id)))
        await recv_until(panel, "snapshot")
        await send(panel, {"type": "command", "command_type": "difficulty_change",
                           "payload": {"context_injection": "Mention the budget freeze"}})
        await recv_until(panel, "command_delivered")
        await conv.until(lambda c: bool(c.contextual_updates))
        assert conv.contextual_updates == ["[Interviewer guidance] Mention the budget freeze"]
        assert conv.monitor_commands[-1] == {
            "command_type": "contextual_update",
            "parameters": {"contextual_update": "[Interviewer guidance] Mention the budget freeze"},
        }
        await send(panel, {"type": "command", "command_type": "end_call", "payload": {}})
        await asyncio.wait_for(conv.finished.wait(), 10)
        assert conv.ended == "end_call"
        await recv_until(panel, "command_delivered")
        await panel.close()
        del call


async def test_client_mode_refuses_the_report(
    tmp_path: Path, db_dsn: str, session_id: uuid.UUID,
    token: Callable[..., str], aiohttp_client: Callable[..., Any],
) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path), db_dsn))
    r = await client.post(
        "/api/voice/conversation",
        json={"session_id": str(session_id), "conversation_id": "conv_1"},
        headers={"Authorization": f"Bearer {token(Role.CANDIDATE, session_id)}"},
    )
    assert r.status == 409 and (await r.json())["error"]["code"] == "not_applicable"


def _line(event_id: int, role: str = "user") -> MonitorEvent:
    return MonitorEvent(event_id, "line", role, f"line {event_id}")  # type: ignore[arg-type]


def test_event_order_reorders_dedups_and_never_waits_forever() -> None:
    order = EventOrder(hold_s=0.25)
    order.push(_line(1), 0.0)
    assert [e.event_id for e in order.ready(0.0)] == [1]
    order.done(_line(1))
    order.push(_line(3), 0.1)
    assert order.ready(0.1) == []  # 2 may still come
    order.push(_line(2), 0.15)
    order.push(_line(2), 0.15)  # a duplicate
    assert [e.event_id for e in order.ready(0.15)] == [2, 3]
    order.push(_line(1), 0.2)  # replayed after a reconnect: already applied
    assert order.ready(0.2) == []
    order.push(_line(6), 1.0)
    assert order.wait_s(1.1) == pytest.approx(0.15)
    assert [e.event_id for e in order.ready(1.3)] == [6]  # 4 and 5 never came


def test_parse_event_ignores_what_is_not_a_line() -> None:
    assert parse_event({"type": "ping", "ping_event": {"event_id": 1}}) is None
    assert parse_event({"type": "user_transcript", "user_transcription_event": {}}) is None
    assert parse_event({"type": "agent_response",
                        "agent_response_event": {"agent_response": "x", "event_id": True}}) is None
    event = parse_event({"type": "agent_response_correction",
                         "agent_response_correction_event": {
                             "corrected_agent_response": "Sure.", "event_id": 7}})
    assert event == MonitorEvent(7, "correction", "assistant", "Sure.")
