"""candidate.js against the real gateway and the fake ElevenLabs conversation socket.

Node runs the module (tests/node/bridge.mjs) with a raw ElevenLabs WebSocket attached: the
scripted call is stored once and in order, pings are answered, a manual command from a panel
reaches the fake ElevenLabs server as `contextual_update`, and `end_call` hangs the call up.
The browser version of this loop (the candidate page) comes with the page itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.auth import Role
from tests.fakes.fake_elevenlabs_conversation import FakeConversationServer, script_of
from tests.wsclient import open_ws, recv_until, send, ws_url

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "tests" / "node" / "bridge.mjs"
SCRIPT = script_of(
    ("assistant", "Hi, this is Sarah Chen. What did you want to cover today?"),
    ("user", "Thanks for the time, Sarah. How is dispatch going this quarter?"),
    ("assistant", "Honestly, it is a mess. We lose trucks to bad routing every week."),
    ("user", "What does a lost truck cost you, roughly?"),
    ("assistant", "A few thousand dollars a day, more in peak season."),
    ("user", "And who feels that pain the most on your team?"),
)


def _node_with_websocket() -> list[str]:
    """`node` plus the flag its version needs for a global WebSocket (Node 20: experimental)."""
    node = shutil.which("node")
    if node is None:
        message = "Node.js is not installed: run `apt-get install nodejs` for the client tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    for flags in ([], ["--experimental-websocket"]):
        probe = subprocess.run([node, *flags, "-p", "typeof WebSocket"], capture_output=True,
                               text=True, timeout=30, check=False)
        if probe.stdout.strip() == "function":
            return [node, "--no-warnings", *flags]
    pytest.skip("this Node.js has no WebSocket client (Node 20 or newer is needed)")


async def _stored(pool: asyncpg.Pool, session_id: uuid.UUID, n: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for _ in range(200):
        rows = [tuple(r) for r in await pool.fetch(
            "SELECT seq, role, text FROM voice_transcripts WHERE session_id = $1 ORDER BY seq",
            session_id,
        )]
        if len(rows) >= n:
            break
        await asyncio.sleep(0.05)
    return rows


async def test_candidate_js_bridges_a_call_to_the_gateway(
    server_url: str, pool: asyncpg.Pool, session_id: uuid.UUID, token: Callable[..., str],
) -> None:
    node = _node_with_websocket()
    el = FakeConversationServer(SCRIPT, interval_s=0.02, init_wait_s=0.2, ping_interval_s=0.05)
    await el.start()
    config = {
        "gatewayUrl": server_url,
        "sessionId": str(session_id),
        "token": token(Role.CANDIDATE, session_id),
        "elevenlabsUrl": el.url("agent_test"),
        "timeoutMs": 20000,
    }
    proc = await asyncio.create_subprocess_exec(
        *node, str(BRIDGE), orjson.dumps(config).decode(),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        conv = await el.wait_conversation()
        await asyncio.wait_for(conv.script_done.wait(), 10)
        rows = await _stored(pool, session_id, len(SCRIPT))
        assert rows == [(n, line.role, line.text) for n, line in enumerate(SCRIPT, 1)]
        await conv.until(lambda c: len(c.pongs) >= 1)

        panel = await open_ws(ws_url(server_url, "panel", session_id,
                                     token(Role.INTERVIEWER, session_id)))
        await recv_until(panel, "snapshot")
        await send(panel, {"type": "command", "command_type": "context_update",
                           "payload": {"text": "Mention a hiring freeze"}})
        await recv_until(panel, "command_delivered")
        assert conv.contextual_updates == ["Mention a hiring freeze"]
        await send(panel, {"type": "command", "command_type": "end_call",
                           "payload": {"reason": "time is up"}})
        await recv_until(panel, "command_delivered")
        await panel.close()
        await asyncio.wait_for(conv.finished.wait(), 10)
        assert conv.ended == "client_closed"
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, (stdout + stderr).decode()[-4000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(Exception):
                await proc.wait()
        await el.stop()
    events = [orjson.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    statuses = [e["status"] for e in events if e["event"] == "status"]
    assert statuses[:2] == ["connecting", "live"] and statuses[-1] == "ended"
    commands = [(e["type"], e["text"]) for e in events if e["event"] == "command"]
    assert commands == [("context_update", "Mention a hiring freeze"), ("end_call", None)]
    closed = next(e for e in events if e["event"] == "elevenlabs_closed")
    assert closed["conversationId"] == conv.conversation_id
    assert not [e for e in events if e["event"] == "error"], events
    delivered = await pool.fetchval(
        "SELECT count(*) FROM voice_commands WHERE session_id = $1 AND delivered_at IS NOT NULL",
        session_id,
    )
    assert delivered == 2
