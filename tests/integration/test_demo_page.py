"""`interview-gateway demo --page`: the candidate page's loop without a browser.

The demo starts a scripted ElevenLabs conversation server for the offline agents; the signed
URL the candidate page would open plays the transcript, and the candidate page is served."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import orjson
from websockets.asyncio.client import connect

from tests.integration.demo_process import CLI, Output, demo_env

CANDIDATE_URL = re.compile(
    r"^\s+(http://127\.0\.0\.1:\d+)/candidate/([0-9a-f-]{36})\?token=(\S+)$"
)


async def test_demo_page_serves_the_candidate_page_and_a_conversation(
    tmp_path: Path, db_dsn: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "demo", "--page", "--port", "0", "--rate", "50",
        env=demo_env(tmp_path, db_dsn),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = Output(proc.stdout)
        base, session_id, token = (await out.wait_for(CANDIDATE_URL)).groups()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(base) as http:
            async with http.get(f"/candidate/{session_id}", params={"token": token}) as page:
                assert page.status == 200
                assert 'data-transcript-source="client"' in await page.text()
            async with http.post("/api/voice/elevenlabs-session", headers=headers,
                                 json={"session_id": session_id}) as r:
                agent = await r.json()
        assert agent["provider"] == "offline"
        assert agent["signed_url"].startswith("ws://127.0.0.1:")
        async with connect(agent["signed_url"]) as call:
            await call.send(orjson.dumps({"type": "conversation_initiation_client_data"}).decode())
            first = orjson.loads(await asyncio.wait_for(call.recv(), 10))
            assert first["type"] == "conversation_initiation_metadata"
            line = orjson.loads(await asyncio.wait_for(call.recv(), 10))
            assert line["type"] in ("agent_response", "user_transcript")
        await out.wait_for(r"candidate page plays")
        assert not [x for x in out.lines if x.startswith("[candidate]")]  # no replay
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        err = (await proc.stderr.read()).decode()
        assert "Traceback" not in err, err
        await out.wait_for(r"^stopping: gateway, conversation server, database$")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
