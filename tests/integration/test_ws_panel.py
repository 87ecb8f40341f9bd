"""Panels: snapshot then ordered events; steering commands reach the candidate; gap-free resume."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.auth import Role
from handlers.app import create_app
from tests.helpers import make_settings, seed_suggestions
from tests.wsclient import UNIT, open_ws, recv, recv_until, send, transcript, ws_url


def urls(server_url: str, sid: uuid.UUID, token: Callable[..., str]) -> tuple[str, str]:
    return (
        ws_url(server_url, "candidate", sid, token(Role.CANDIDATE, sid)),
        ws_url(server_url, "panel", sid, token(Role.INTERVIEWER, sid)),
    )


async def collect_events(ws: Any, n: int) -> list[dict[str, Any]]:
    events = []
    while len(events) < n:
        frame = await recv(ws)
        if "event_id" in frame:
            events.append(frame)
    return events


async def test_snapshot_then_ordered_transcript_events(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    await seed_suggestions(pool, session_id)
    cand_url, panel_url = urls(server_url, session_id, token)
    async with await open_ws(panel_url) as panel:
        snap = await recv(panel)
        assert snap["type"] == "snapshot"
        assert snap["say_meter"]["score"] == 71 and snap["say_meter"]["band"] == "yellow"
        assert {s["type"] for s in snap["suggestions"]} == {
            "context_injection",
            "curveball",
            "followup_question",
        }
        assert [f["name"] for f in snap["session"]["rubric"]["factors"]] == [
            "rapport",
            "discovery",
            "objection_handling",
            "value_articulation",
            "closing_momentum",
        ]
        assert snap["session"]["persona"]["name"]
        first_id = snap["last_event_id"] + 1
        async with await open_ws(cand_url) as cand:
            await recv(cand)
            for seq in range(1, 6):
                await send(cand, transcript(seq))
            events = [e for e in await collect_events(panel, 6) if e["type"] == "transcript"]
        assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
        assert [e["message_count"] for e in events] == [1, 2, 3, 4, 5]
    ids = [e["event_id"] for e in events]
    assert ids == sorted(ids) and ids[0] >= first_id


async def test_apply_dismiss_and_manual_command_reach_candidate(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    ids = await seed_suggestions(pool, session_id)
    cand_url, panel_url = urls(server_url, session_id, token)
    async with (
        await open_ws(cand_url) as cand,
        await open_ws(panel_url) as panel,
        await open_ws(panel_url) as other,
    ):
        await recv(cand)
        await recv_until(panel, "snapshot")
        await recv_until(other, "snapshot")

        await send(panel, {"type": "apply", "suggestion_id": str(ids["curveball"])})
        command = await recv_until(cand, "command")
        assert command["command_type"] == "curveball_inject"
        assert command["payload"] == {
            "curveball": "Your CFO just asked for competitive quotes",
            "label": "Competitive Pressure",
        }
        assert command["source"] == "ai_suggested"
        updated = await recv_until(other, "suggestion_updated")
        assert updated["status"] == "applied" and updated["command_id"] == command["command_id"]

        await send(panel, {"type": "apply", "suggestion_id": str(ids["curveball"])})  # double click
        await send(panel, {"type": "apply", "suggestion_id": str(ids["context_injection"])})
        injection = await recv_until(cand, "command")
        assert injection["command_type"] == "difficulty_change"
        assert injection["payload"] == {"context_injection": "Mention budget pressure from the CFO"}

        await send(panel, {"type": "apply", "suggestion_id": str(ids["followup_question"])})
        err = await recv_until(panel, "error")
        assert err["code"] == "not_applicable"
        await send(panel, {"type": "apply", "suggestion_id": str(uuid.uuid4())})
        assert (await recv_until(panel, "error"))["code"] == "unknown_suggestion"

        await send(panel, {"type": "dismiss", "suggestion_id": str(ids["followup_question"])})
        dismissed = await recv_until(other, "suggestion_updated")
        while dismissed["status"] != "dismissed":
            dismissed = await recv_until(other, "suggestion_updated")
        assert dismissed["suggestion_id"] == str(ids["followup_question"])

        await send(
            panel,
            {
                "type": "command",
                "command_type": "context_update",
                "payload": {"text": "Mention a hiring freeze"},
            },
        )
        manual = await recv_until(cand, "command")
        assert manual["source"] == "manual" and manual["payload"] == {
            "text": "Mention a hiring freeze"
        }

        await send(cand, {"type": "command_ack", "command_id": manual["command_id"]})
        delivered = await recv_until(other, "command_delivered")
        assert delivered["command_id"] == manual["command_id"]

    rows = await pool.fetch(
        "SELECT command_type, source, status FROM voice_commands ORDER BY created_at"
    )
    assert [(r["command_type"], r["source"]) for r in rows] == [
        ("curveball_inject", "ai_suggested"),
        ("difficulty_change", "ai_suggested"),
        ("context_update", "manual"),
    ]
    assert [r["status"] for r in rows] == ["pending", "pending", "delivered"]
    assert await pool.fetchval(
        "SELECT dismissed FROM voice_analysis WHERE id = $1", ids["followup_question"]
    )


async def test_command_applied_while_candidate_offline_arrives_on_reconnect(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    ids = await seed_suggestions(pool, session_id)
    cand_url, panel_url = urls(server_url, session_id, token)
    async with await open_ws(panel_url) as panel:
        await recv_until(panel, "snapshot")
        await send(panel, {"type": "apply", "suggestion_id": str(ids["context_injection"])})
        applied = await recv_until(panel, "suggestion_updated")
    async with await open_ws(cand_url) as cand:
        assert (await recv(cand))["type"] == "hello"
        command = await recv_until(cand, "command")
        assert command["command_id"] == applied["command_id"]
        await send(cand, {"type": "command_ack", "command_id": command["command_id"]})
        await asyncio.sleep(0.2)
    async with await open_ws(cand_url) as cand:
        await recv(cand)
        with pytest.raises(TimeoutError):
            await recv_until(cand, "command", within=0.5)  # delivered: not sent again


async def test_panel_resume_after_disconnect_has_no_gap_and_no_duplicate(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    cand_url, panel_url = urls(server_url, session_id, token)
    async with await open_ws(cand_url) as cand:
        await recv(cand)
        async with await open_ws(panel_url) as panel:
            await recv_until(panel, "snapshot")
            for seq in range(1, 4):
                await send(cand, transcript(seq))
            seen = await collect_events(panel, 3)
            while seen[-1].get("seq") != 3:
                seen += await collect_events(panel, 1)
        last = seen[-1]["event_id"]
        for seq in range(4, 9):  # sent while the panel is away
            await send(cand, transcript(seq))
            await recv_until(cand, "ack")
        async with await open_ws(f"{panel_url}&after={last}") as panel:
            for seq in range(9, 11):
                await send(cand, transcript(seq))
            events = await collect_events(panel, 7)
    ids = [e["event_id"] for e in events]
    assert ids == list(range(last + 1, last + 8))
    seqs = [e["seq"] for e in events if e["type"] == "transcript"]
    assert seqs == list(range(4, 11))


async def test_panel_resume_after_gateway_restart(
    aiohttp_server: Callable[..., Any],
    tmp_path: Path,
    db_dsn: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
) -> None:
    settings = make_settings(tmp_path)
    first = await aiohttp_server(create_app(settings, db_dsn))
    base = f"http://127.0.0.1:{first.port}"
    cand_url, panel_url = urls(base, session_id, token)
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv(cand)
        for seq in range(1, 4):
            await send(cand, transcript(seq))
        seen = await collect_events(panel, 3)
        while seen[-1].get("seq") != 3:
            seen += await collect_events(panel, 1)
        last = seen[-1]["event_id"]
        for seq in range(4, 7):
            await send(cand, transcript(seq))
            await recv_until(cand, "ack")
        await first.close()  # graceful shutdown: every socket gets 1001
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(panel)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    second = await aiohttp_server(create_app(settings, db_dsn))
    cand_url, panel_url = urls(f"http://127.0.0.1:{second.port}", session_id, token)
    async with await open_ws(f"{panel_url}&after={last}") as panel, await open_ws(cand_url) as cand:
        assert (await recv(cand))["last_seq"] == 6
        await send(cand, transcript(7))
        events = await collect_events(panel, 5)  # seq 4..6, a presence event, seq 7
    transcripts = [e["seq"] for e in events if e["type"] == "transcript"]
    ids = [e["event_id"] for e in events]
    assert ids == list(range(last + 1, last + 1 + len(ids)))
    assert transcripts[:3] == [4, 5, 6]


async def test_stalled_panel_is_closed_and_others_keep_up(
    aiohttp_server: Callable[..., Any],
    tmp_path: Path,
    db_dsn: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
) -> None:
    settings = make_settings(tmp_path, outbox_max=64, ws_rate_per_s=10_000, ws_rate_burst=10_000)
    server = await aiohttp_server(create_app(settings, db_dsn))
    cand_url, panel_url = urls(f"http://127.0.0.1:{server.port}", session_id, token)
    # The stalled panel never reads, and its tiny receive buffer fills at once.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    raw.setblocking(False)
    big = "x" * 3500
    n = 1200  # ~4 MB of events: far more than the stalled socket's buffers hold
    async with (
        await open_ws(panel_url, max_queue=1, sock=raw) as stalled,
        await open_ws(panel_url) as healthy,
        await open_ws(cand_url) as cand,
    ):
        await recv_until(healthy, "snapshot")
        await recv(cand)
        received = 0

        async def read_healthy() -> None:
            nonlocal received
            while received < n:
                frame = await recv(healthy, within=UNIT)
                received += frame["type"] == "transcript"

        reader = asyncio.create_task(read_healthy())
        for start in range(1, n + 1, 20):  # a fast but paced candidate: 20 frames per ack round
            for seq in range(start, start + 20):
                await send(cand, transcript(seq, big))
            while (await recv_until(cand, "ack"))["seq"] < start + 19:
                pass
        await asyncio.wait_for(reader, 4 * UNIT)
        assert received == n
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(stalled, within=UNIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def test_panel_bad_input_and_auth(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    _, panel_url = urls(server_url, session_id, token)
    async with await open_ws(panel_url) as panel:
        await recv_until(panel, "snapshot")
        await send(panel, transcript(1))
        assert (await recv_until(panel, "error"))["code"] == "role_not_allowed"
        await send(panel, {"type": "apply", "suggestion_id": "nope", "ref": "click-1"})
        err = await recv_until(panel, "error")
        assert err["code"] == "validation_error" and err["ref"] == "click-1"
        await send(panel, {"type": "command", "command_type": "launch_missiles"})
        assert (await recv_until(panel, "error"))["code"] == "validation_error"
        nul = {"type": "command", "command_type": "context_update", "payload": {"text": "a\x00"}}
        await send(panel, nul)  # jsonb cannot hold NUL: refused before the database
        assert (await recv_until(panel, "error"))["code"] == "validation_error"
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for bad, status in [
            (ws_url(server_url, "panel", session_id, token(Role.CANDIDATE, session_id)), 403),
            (f"{panel_url}&after=-1", 422),
        ]:
            with pytest.raises(aiohttp.WSServerHandshakeError) as hs:
                await http.ws_connect(bad)
            assert hs.value.status == status
