"""The reference candidate client against the real gateway: delivery, restart, refusal, CLI."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from client.interviews import create_interview as create_session
from client.simulator import Message, Simulator, load_transcript
from gateway.auth import Role
from gateway.settings import Settings
from handlers.app import create_app

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "transcripts"
CLI = [sys.executable, "-m", "gateway"]

STORED = """
SELECT seq, role, text FROM voice_transcripts WHERE session_id = $1 ORDER BY seq
"""


async def new_session(base: str, token: Callable[..., str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        return await create_session(
            http, base, token(Role.ADMIN),
            persona_name="Sarah Chen", scenario_name="Regional Logistics Dispatch Overhaul",
        )


def ws_base(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


async def test_delivers_every_line_exactly_once_in_order(
    server_url: str, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    created = await new_session(server_url, token)
    messages = load_transcript(SEEDS / "strong.json")[:12]
    out: list[str] = []
    sim = Simulator(
        ws_base(server_url), created["session_id"], created["candidate_token"], messages,
        rate=100, linger=0, out=out.append,
    )
    result = await asyncio.wait_for(sim.run(), 30)
    assert result.exit_code == 0, result.reason
    assert result.acked == 12
    rows = await pool.fetch(STORED, uuid.UUID(created["session_id"]))
    assert [(r["seq"], r["role"], r["text"]) for r in rows] == [
        (n, m.role, m.text) for n, m in enumerate(messages, 1)
    ]
    assert "ack seq 12" in out

    # Running the same transcript again is harmless: every frame is acked as a duplicate.
    again = Simulator(
        ws_base(server_url), created["session_id"], created["candidate_token"], messages,
        rate=100, linger=0, out=out.append,
    )
    result = await asyncio.wait_for(again.run(), 30)
    assert result.exit_code == 0 and again.protocol.duplicates == 12
    assert len(await pool.fetch(STORED, uuid.UUID(created["session_id"]))) == 12


async def test_survives_a_gateway_restart_and_resends_what_was_not_acked(
    aiohttp_server: Callable[..., Any],
    settings: Settings,
    db_dsn: str,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    server: TestServer = await aiohttp_server(create_app(settings, db_dsn))
    port = server.port
    base = f"http://127.0.0.1:{port}"
    created = await new_session(base, token)
    messages = [Message("user" if n % 2 else "assistant", f"line {n}") for n in range(1, 31)]
    out: list[str] = []
    eighth, dropped, retrying = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def note(line: str) -> None:
        out.append(line)
        if line == "ack seq 8":
            eighth.set()
        elif line.startswith("connection closed (1001)"):
            dropped.set()
        elif dropped.is_set() and "retrying" in line:
            retrying.set()

    sim = Simulator(
        ws_base(base), created["session_id"], created["candidate_token"], messages,
        rate=40, linger=0, backoff_base=0.1, backoff_cap=0.3, out=note,
    )
    task = asyncio.create_task(sim.run())
    await asyncio.wait_for(eighth.wait(), 10)
    await server.close()  # graceful: in-flight frames committed and acked, sockets get 1001
    # Events, not a number of tries: the client saw the close and is failing to reconnect,
    # however long this (loaded) machine took to get here; it keeps trying for 60 s.
    await asyncio.wait_for(dropped.wait(), 30)
    await asyncio.wait_for(retrying.wait(), 30)
    restarted: TestServer = await aiohttp_server(create_app(settings, db_dsn), port=port)
    result = await asyncio.wait_for(task, 60)
    assert result.exit_code == 0, result.reason
    assert sim.connections >= 2
    assert any(line.startswith("connection closed (1001)") for line in out)
    rows = await pool.fetch(STORED, uuid.UUID(created["session_id"]))
    assert [r["seq"] for r in rows] == list(range(1, 31))
    await restarted.close()


async def test_replaced_by_a_newer_candidate_stops_with_an_error(
    server_url: str, token: Callable[..., str]
) -> None:
    created = await new_session(server_url, token)
    messages = [Message("user", f"line {n}") for n in range(1, 200)]
    first_ack = asyncio.Event()
    sim = Simulator(
        ws_base(server_url), created["session_id"], created["candidate_token"], messages,
        rate=20, linger=0, out=lambda line: first_ack.set() if line == "ack seq 1" else None,
    )
    task = asyncio.create_task(sim.run())
    await asyncio.wait_for(first_ack.wait(), 10)
    from websockets.asyncio.client import connect

    url = f"{ws_base(server_url)}/ws/candidate/{created['session_id']}"
    headers = {"Authorization": f"Bearer {created['candidate_token']}"}
    async with connect(url, additional_headers=headers) as newer:
        await newer.recv()  # hello: the newer connection took over
        result = await asyncio.wait_for(task, 10)
    assert result.exit_code == 1 and "4001" in result.reason and "replaced" in result.reason


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_simulate_command_replays_and_reports(
    server_url: str, token: Callable[..., str], tmp_path: Path
) -> None:
    created = await new_session(server_url, token)
    transcript = tmp_path / "short.json"
    transcript.write_text(
        '{"messages": [{"role": "assistant", "text": "Hello there."},'
        ' {"role": "user", "text": "Thanks for your time."}]}'
    )
    code, out, err = await run_cli(
        "simulate", "--session", created["session_id"], "--token", created["candidate_token"],
        "--url", ws_base(server_url), "--transcript", str(transcript), "--rate", "50",
        "--linger", "0",
    )
    assert code == 0, err
    assert "ack seq 1" in out and "ack seq 2" in out
    summary = "done: transcript delivered; 2/2 frame(s) acked, 0 command(s) injected"
    assert out.strip().endswith(summary)


@pytest.mark.parametrize(
    ("make_token", "expected"),
    [
        (lambda t, sid: "not-a-token", "HTTP 401"),
        (lambda t, sid: t(Role.INTERVIEWER, session_id=sid), "HTTP 403"),
    ],
)
async def test_simulate_command_refused_token_is_a_clear_error(
    server_url: str,
    token: Callable[..., str],
    make_token: Callable[[Callable[..., str], str], str],
    expected: str,
) -> None:
    created = await new_session(server_url, token)
    code, out, err = await run_cli(
        "simulate", "--session", created["session_id"],
        "--token", make_token(token, created["session_id"]), "--url", ws_base(server_url),
    )
    assert code == 1
    assert err.startswith(f"interview-gateway: error: gateway refused the connection: {expected}")
    assert "Traceback" not in err and "sent seq" not in out
