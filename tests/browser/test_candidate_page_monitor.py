"""The candidate page in monitor mode: no gateway socket; it reports the conversation and the
gateway reads the call from the (fake) ElevenLabs monitor socket, steering it the same way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.settings import Settings
from services.voice.monitor import seq_for
from tests.browser.candidate_script import FINAL, SCRIPT, candidate_url
from tests.fakes.fake_elevenlabs_conversation import FakeConversationServer
from tests.helpers import make_settings, seed_suggestions

pytestmark = pytest.mark.browser


@pytest.fixture
async def el() -> AsyncIterator[FakeConversationServer]:
    server = FakeConversationServer(SCRIPT, interval_s=0.15, init_wait_s=0.3)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(tmp_path: Path, el: FakeConversationServer) -> Settings:
    return make_settings(
        tmp_path,
        elevenlabs_conversation_url=el.ws_url,
        voice_transcript_source="monitor",
        elevenlabs_api_key=el.api_key,
        elevenlabs_monitor_url=el.ws_url,
    )


async def test_monitor_mode_page_reports_the_call_and_the_gateway_reads_it(
    interview: dict[str, Any], el: FakeConversationServer, pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    sid = uuid.UUID(interview["session_id"])
    suggestions = await seed_suggestions(pool, sid)
    panel = await open_page(interview["panel_url"])
    await panel.wait_for_selector("#connection-state[data-state=live]")
    page = await open_page(candidate_url(interview))
    assert await page.get_attribute("body", "data-gateway") == "monitor"
    await page.click("#start-call")
    await page.wait_for_selector("body[data-call=in_call]")
    conv = await el.wait_conversation()
    await asyncio.wait_for(conv.script_done.wait(), 15)
    await page.wait_for_function(
        "() => document.body.dataset.conversationId === " + repr(conv.conversation_id)
    )
    rows: list[tuple[Any, ...]] = []
    for _ in range(200):
        rows = [tuple(r) for r in await pool.fetch(
            "SELECT role, text FROM voice_transcripts WHERE session_id = $1 "
            "ORDER BY created_at, seq", sid)]
        if len(rows) == len(SCRIPT) and rows[2][1] == FINAL[2]:
            break
        await asyncio.sleep(0.05)
    assert rows == [(line.role, FINAL[n]) for n, line in enumerate(SCRIPT)]
    seqs = [r["seq"] for r in await pool.fetch(
        "SELECT seq FROM voice_transcripts WHERE session_id = $1 ORDER BY created_at", sid)]
    assert seqs[0] == seq_for(1, "assistant")
    await panel.wait_for_function(
        f"() => document.querySelectorAll('#transcript .line').length === {len(SCRIPT)}"
    )

    await panel.click(f'[data-suggestion-id="{suggestions["curveball"]}"] button.apply')
    await conv.until(lambda c: bool(c.contextual_updates))
    assert conv.contextual_updates == [
        "[Curveball: Competitive Pressure] Your CFO just asked for competitive quotes"
    ]
    assert conv.monitor_commands[-1]["command_type"] == "contextual_update"
    await panel.screenshot(path=str(output_dir / "candidate-page-monitor-panel.png"),
                           full_page=True)
