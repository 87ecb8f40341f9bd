"""`interview-gateway demo` as a person runs it: a real subprocess, a panel, Ctrl-C."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from pathlib import Path

import aiohttp
import orjson
from websockets.asyncio.client import connect

from tests.integration.demo_process import CLI, Output, demo_env

PANEL_URL = re.compile(r"^\s+(http://127\.0\.0\.1:\d+/panel/([0-9a-f-]{36})\?token=(\S+))$")


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
