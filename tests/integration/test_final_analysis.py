"""The whole call is scored: a final analysis on REST end, on an `end_call` command and after
ANALYSIS_IDLE_SECONDS of silence, only when messages arrived since the previous run. Real
sockets, real PostgreSQL, the offline analyzer in its process pool."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from gateway.auth import Role
from handlers.app import create_app
from tests.helpers import make_settings
from tests.wsclient import UNIT, open_ws, recv, recv_until, send, transcript, ws_url

LINES = [
    ("assistant", "Hi, I have twenty minutes. What did you want to discuss?"),
    ("user", "Thanks for the time. How does your team plan routes today?"),
    ("assistant", "Mostly spreadsheets, and it takes the dispatchers all morning."),
    ("user", "What happens on the days a driver calls in sick?"),
    ("assistant", "We scramble. Last week we missed three deliveries."),
    ("user", "So the mornings and the sick days cost you the most. Could we book a demo Tuesday?"),
]

Make = Callable[..., AsyncIterator[str]]


@pytest.fixture
def make_gateway(
    aiohttp_server: Callable[..., Any], tmp_path: Path, db_dsn: str
) -> Callable[..., Any]:
    async def make(**overrides: Any) -> str:
        settings = make_settings(tmp_path, **overrides)
        server = await aiohttp_server(create_app(settings, db_dsn))
        return f"http://127.0.0.1:{server.port}"

    return make


async def say(cand: Any, lines: list[tuple[str, str]], first_seq: int = 1) -> None:
    for i, (role, text) in enumerate(lines):
        await send(cand, transcript(first_seq + i, text, role=role))
    for _ in lines:
        await recv_until(cand, "ack")


async def next_event(panel: Any, *kinds: str, within: float = UNIT) -> dict[str, Any]:
    """The next event (by `event_id`) of one of `kinds`, skipping transcripts and presence."""
    while True:
        frame = await recv(panel, within)
        if frame.get("type") in kinds:
            return frame
        assert frame.get("type") in ("transcript", "presence", "ack", "command"), frame


async def history(url: str, sid: uuid.UUID, token: Callable[..., str]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token(Role.INTERVIEWER, sid)}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{url}/api/sessions/{sid}/analysis") as resp:
            assert resp.status == 200, await resp.text()
            items = (await resp.json())["items"]
    assert isinstance(items, list)
    return items


async def end_session(url: str, sid: uuid.UUID, token: Callable[..., str]) -> None:
    headers = {"Authorization": f"Bearer {token(Role.INTERVIEWER, sid)}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{url}/api/sessions/{sid}/end") as resp:
            assert resp.status == 200, await resp.text()


def sockets(url: str, sid: uuid.UUID, token: Callable[..., str]) -> tuple[str, str]:
    return (
        ws_url(url, "candidate", sid, token(Role.CANDIDATE, sid)),
        ws_url(url, "panel", sid, token(Role.INTERVIEWER, sid)),
    )


async def test_rest_end_runs_a_final_analysis_the_panel_sees_before_the_end(
    make_gateway: Callable[..., Any],
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    url = await make_gateway(analysis_every=100, analysis_idle_s=0)
    cand_url, panel_url = sockets(url, session_id, token)
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv_until(cand, "hello")
        await say(cand, LINES)
        await end_session(url, session_id, token)
        final = await next_event(panel, "analysis", "session_ended")
        assert final["type"] == "analysis", "the final score must reach the panel first"
        assert final["final"] is True and final["message_count"] == len(LINES)
        ended = await next_event(panel, "session_ended")
        assert ended["event_id"] > final["event_id"]
    [item] = await history(url, session_id, token)
    assert item["final"] is True and item["message_count"] == len(LINES)
    assert item["analysis_id"] == final["analysis_id"]
    row = await pool.fetchrow(
        "SELECT is_final, message_count FROM voice_analysis"
        " WHERE session_id = $1 AND analysis_type = 'say_meter'",
        session_id,
    )
    assert row is not None and row["is_final"] is True and row["message_count"] == len(LINES)


async def test_silence_after_the_last_frame_runs_a_final_analysis_each_time(
    make_gateway: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = await make_gateway(analysis_every=100, analysis_idle_s=0.3)
    cand_url, panel_url = sockets(url, session_id, token)
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv_until(cand, "hello")
        await say(cand, LINES[:4])
        first = await next_event(panel, "analysis")
        assert first["final"] is True and first["message_count"] == 4
        # The call goes on: the clock restarts with the next frame, and the quiet after it
        # is scored again.
        await say(cand, LINES[4:], first_seq=5)
        second = await next_event(panel, "analysis")
        assert second["final"] is True and second["message_count"] == len(LINES)
        assert second["analysis_id"] != first["analysis_id"]
    items = await history(url, session_id, token)
    assert [(i["final"], i["message_count"]) for i in items] == [(True, 6), (True, 4)]


async def test_no_final_run_when_nothing_arrived_since_the_last_one(
    make_gateway: Callable[..., Any],
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    url = await make_gateway(analysis_every=4, analysis_idle_s=0)
    cand_url, panel_url = sockets(url, session_id, token)
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv_until(cand, "hello")
        await say(cand, LINES[:4])
        counted = await next_event(panel, "analysis")
        assert counted["final"] is False and counted["message_count"] == 4
        await end_session(url, session_id, token)
        # Straight to the end: the last run already covered every message.
        ended = await next_event(panel, "analysis", "session_ended")
        assert ended["type"] == "session_ended"
    runs = await pool.fetchval(
        "SELECT count(*) FROM voice_analysis WHERE session_id = $1 AND analysis_type = 'say_meter'",
        session_id,
    )
    assert runs == 1
    # ...and that run is the call's final one in the history.
    [item] = await history(url, session_id, token)
    assert item["analysis_id"] == counted["analysis_id"] and item["final"] is True


async def test_an_end_call_command_scores_the_call(
    make_gateway: Callable[..., Any], session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = await make_gateway(analysis_every=100, analysis_idle_s=0)
    cand_url, panel_url = sockets(url, session_id, token)
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv_until(cand, "hello")
        await say(cand, LINES[:4])
        await send(
            panel,
            {"type": "command", "command_type": "end_call", "payload": {"reason": "done"}},
        )
        final = await next_event(panel, "analysis")
        assert final["final"] is True and final["message_count"] == 4
        assert (await recv_until(cand, "command"))["command_type"] == "end_call"
