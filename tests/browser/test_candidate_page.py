"""The candidate page in Chromium against the scripted ElevenLabs conversation server.

The page starts the call (`POST /api/voice/elevenlabs-session` gives the offline agent's local
URL), bridges it to the gateway with /client/candidate.js, and shows the transcript; the panel
watches. Each message is stored once and in order; a correction replaces its line in the
panel and the database; an Apply reaches the fake ElevenLabs as `contextual_update`; an
`end_call` hangs up; a reload, or a gateway restart, mid-call loses nothing.
Screenshots go to test-output/.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from gateway.auth import Role
from gateway.settings import Settings
from handlers.app import create_app
from tests.browser.candidate_script import FINAL, SCRIPT, candidate_url
from tests.fakes.fake_elevenlabs_conversation import FakeConversationServer
from tests.helpers import make_settings, seed_suggestions
from tests.wsclient import open_ws, recv_until, send, ws_url

pytestmark = pytest.mark.browser

@pytest.fixture
async def el(request: pytest.FixtureRequest) -> AsyncIterator[FakeConversationServer]:
    interval = getattr(request, "param", 0.15)
    server = FakeConversationServer(SCRIPT, interval_s=interval, init_wait_s=0.3)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(tmp_path: Path, el: FakeConversationServer) -> Settings:
    return make_settings(tmp_path, elevenlabs_conversation_url=el.ws_url)


async def stored(pool: asyncpg.Pool, session_id: str, n: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for _ in range(300):
        rows = [tuple(r) for r in await pool.fetch(
            "SELECT seq, role, text FROM voice_transcripts WHERE session_id = $1 "
            "ORDER BY created_at, seq", uuid.UUID(session_id),
        )]
        if len(rows) >= n:
            break
        await asyncio.sleep(0.05)
    return rows


async def test_a_call_on_the_candidate_page_is_stored_shown_corrected_and_steered(
    interview: dict[str, Any], el: FakeConversationServer, pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path, token: Callable[..., str],
) -> None:
    sid = interview["session_id"]
    suggestions = await seed_suggestions(pool, uuid.UUID(sid))
    panel = await open_page(interview["panel_url"])
    await panel.wait_for_selector("#connection-state[data-state=live]")
    page = await open_page(candidate_url(interview))
    await page.wait_for_selector("body[data-gateway=live]")
    assert await page.text_content("#call-state") == "call: not started"
    await page.click("#start-call")
    await page.wait_for_selector("body[data-call=in_call]")
    conv = await el.wait_conversation()
    await asyncio.wait_for(conv.script_done.wait(), 15)

    rows = await stored(pool, sid, len(SCRIPT))
    assert rows == [(n, line.role, FINAL[n - 1]) for n, line in enumerate(SCRIPT, 1)]
    revisions = await pool.fetch("SELECT revision, previous_text FROM voice_transcript_revisions")
    assert [tuple(r) for r in revisions] == [(1, SCRIPT[2].text)]

    # The candidate page shows the call, the correction in place.
    await page.wait_for_function(
        f"() => document.querySelectorAll('#transcript .line').length === {len(SCRIPT)}"
    )
    shown = await page.eval_on_selector_all("#transcript .line .text",
                                            "els => els.map(e => e.textContent)")
    assert shown == FINAL
    # The panel showed it live, the corrected line replaced in place.
    await panel.wait_for_function(
        f"() => document.querySelectorAll('#transcript .line').length === {len(SCRIPT)}"
    )
    await panel.wait_for_function(
        "() => document.querySelector('#transcript .line[data-revision] .text')?.textContent"
        f" === {FINAL[2]!r}"
    )
    on_panel = await panel.eval_on_selector_all("#transcript .line .text",
                                                "els => els.map(e => e.textContent)")
    assert on_panel == FINAL

    # Apply in the panel: the mapped text arrives at ElevenLabs, the page shows the steering.
    await panel.click(f'[data-suggestion-id="{suggestions["context_injection"]}"] button.apply')
    await conv.until(lambda c: bool(c.contextual_updates))
    assert conv.contextual_updates == [
        "[Interviewer guidance] Mention budget pressure from the CFO"
    ]
    steering = page.locator("#commands li[data-command-type=difficulty_change]")
    await steering.wait_for()
    assert await steering.text_content() == conv.contextual_updates[0]
    await page.screenshot(path=str(output_dir / "candidate-page-call.png"), full_page=True)
    await panel.screenshot(path=str(output_dir / "candidate-page-panel.png"), full_page=True)

    # end_call from a panel ends the conversation; the page says so.
    async with await open_ws(ws_url(interview["server_url"], "panel", uuid.UUID(sid),
                                    token(Role.INTERVIEWER, sid))) as steer:
        await recv_until(steer, "snapshot")
        await send(steer, {"type": "command", "command_type": "end_call", "payload": {}})
        await asyncio.wait_for(conv.finished.wait(), 10)
    await page.wait_for_selector("body[data-call=ended]")
    assert await page.text_content("#commands li[data-command-type=end_call]") == (
        "The interviewer ended the call."
    )
    assert conv.ended == "client_closed"  # the page hung up, as the SDK's endSession does
    delivered_sql = (
        "SELECT count(*) FROM voice_commands WHERE session_id = $1 AND delivered_at IS NOT NULL"
    )
    async with asyncio.timeout(10):  # the end_call's ack follows the hang-up
        while (delivered := await pool.fetchval(delivered_sql, uuid.UUID(sid))) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert delivered == 2
    await page.screenshot(path=str(output_dir / "candidate-page-ended.png"), full_page=True)


@pytest.mark.parametrize("el", [0.35], indirect=True)
async def test_a_reload_mid_call_loses_nothing(
    interview: dict[str, Any], el: FakeConversationServer, pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]],
) -> None:
    page = await open_page(candidate_url(interview))
    await page.wait_for_selector("body[data-gateway=live]")
    await page.click("#start-call")
    await page.wait_for_function(
        "() => document.querySelectorAll('#transcript .line').length >= 3"
    )
    seen = await page.eval_on_selector_all("#transcript .line .text",
                                           "els => els.map(e => e.textContent)")
    await page.reload()
    await page.wait_for_selector("body[data-gateway=live]")
    conv = await el.wait_conversation()
    await asyncio.wait_for(conv.finished.wait(), 10)
    assert conv.ended == "client_closed"  # the reload hung up the call
    rows = await stored(pool, interview["session_id"], len(seen))
    texts = [r[2] for r in rows]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # once each, in order
    assert texts[: len(seen)] == seen[: len(texts)] and len(texts) >= len(seen)
    assert texts == FINAL[: len(texts)]
    # A new call on the reloaded page numbers after what is stored.
    await page.click("#start-call")
    await page.wait_for_selector("body[data-call=in_call]")
    second = await el.wait_conversation(1)
    await asyncio.wait_for(second.script_done.wait(), 15)
    rows = await stored(pool, interview["session_id"], len(texts) + len(SCRIPT))
    assert [r[0] for r in rows] == list(range(1, len(texts) + len(SCRIPT) + 1))


@pytest.mark.parametrize("el", [0.3], indirect=True)
async def test_the_client_resumes_after_a_gateway_restart(
    gateway: TestServer, interview: dict[str, Any], el: FakeConversationServer,
    pool: asyncpg.Pool, settings: Settings, db_dsn: str,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    page = await open_page(candidate_url(interview))
    await page.wait_for_selector("body[data-gateway=live]")
    await page.click("#start-call")
    await page.wait_for_function(
        "() => document.querySelectorAll('#transcript .line').length >= 2"
    )
    port = gateway.port
    await gateway.close()  # the gateway goes away mid-call; the conversation goes on
    await page.wait_for_selector("body[data-gateway=reconnecting]")
    await page.screenshot(path=str(output_dir / "candidate-page-reconnecting.png"))
    restarted = TestServer(create_app(settings, db_dsn), host="127.0.0.1", port=port)
    await restarted.start_server()
    try:
        conv = await el.wait_conversation()
        await asyncio.wait_for(conv.script_done.wait(), 15)
        await page.wait_for_selector("body[data-gateway=live]", timeout=30_000)
        rows = await stored(pool, interview["session_id"], len(SCRIPT))
        assert rows == [(n, line.role, FINAL[n - 1]) for n, line in enumerate(SCRIPT, 1)]
    finally:
        await restarted.close()
