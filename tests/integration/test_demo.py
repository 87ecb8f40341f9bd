"""`interview-gateway demo` as a person runs it: a real subprocess, a panel, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import orjson
from websockets.asyncio.client import connect

CLI = [sys.executable, "-m", "gateway"]
PANEL_URL = re.compile(r"^\s+(http://127\.0\.0\.1:\d+/panel/([0-9a-f-]{36})\?token=(\S+))$")


def demo_env(tmp_path: Path, dsn: str) -> dict[str, str]:
    ours = ("GATEWAY_", "OPENAI", "ELEVEN", "VOICE_AGENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        DATABASE_URL=dsn, GATEWAY_DATA_DIR=str(tmp_path / "data"), GATEWAY_ANALYZER="offline"
    )
    return env


class Output:
    """Collects a subprocess's stdout lines; `wait_for(pattern)` returns the first match."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode().rstrip("\n"))
                self._changed.notify_all()

    async def wait_for(self, pattern: re.Pattern[str] | str) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found() -> re.Match[str] | None:
            return next((m for line in self.lines if (m := regex.search(line))), None)

        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: found() is not None or self._task.done())
        match = found()
        assert match is not None, f"{regex.pattern!r} never printed:\n" + "\n".join(self.lines)
        return match


async def test_demo_serves_a_panel_replays_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, db_dsn: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--port", "0", "--rate", "20",
        env=demo_env(tmp_path, db_dsn),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = Output(proc.stdout)
        url, session_id, interviewer_token = (await out.wait_for(PANEL_URL)).groups()
        base = url.split("/panel/")[0]
        async with aiohttp.ClientSession() as http, http.get(url) as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]

        panel_ws = f"ws{base.removeprefix('http')}/ws/panel/{session_id}?token={interviewer_token}"
        async with connect(panel_ws) as panel:
            snapshot = orjson.loads(await panel.recv())
            assert snapshot["type"] == "snapshot"
            assert snapshot["session"]["persona"]["name"] == "Sarah Chen"
            await out.wait_for(r"^\[candidate\] ack seq 3$")
            # The interviewer steers; the candidate client injects it into the voice agent.
            await panel.send(orjson.dumps({
                "type": "command", "command_type": "context_update",
                "payload": {"text": "Mention a hiring freeze"},
            }).decode())
            await out.wait_for(
                r'^\[candidate\] -> ElevenLabs \{"type":"contextual_update",'
                r'"text":"Mention a hiring freeze"\}$'
            )
            delivered = None
            while delivered is None:
                event = orjson.loads(await asyncio.wait_for(panel.recv(), 10))
                if event["type"] == "command_delivered":
                    delivered = event

        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        err = (await proc.stderr.read()).decode()
        assert "Traceback" not in err, err
        await out.wait_for(r"^stopping: candidate client, gateway, database$")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_demo_on_a_busy_port_says_so(tmp_path: Path, db_dsn: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *CLI, "demo", "--port", str(port),
            env=demo_env(tmp_path, db_dsn),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    last = err.decode().strip().splitlines()[-1]
    assert last == (
        f"interview-gateway: error: port {port} is in use; "
        "try `interview-gateway demo --port 0` (any free port)"
    )
