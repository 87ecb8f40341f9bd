"""The candidate page with a real (here: fake) ElevenLabs agent: a private agent, its signed URL,
the SDK loaded from ELEVENLABS_SDK_URL on another origin (allowed by the page's CSP), and the
page's explanation when no SDK is configured."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from gateway.settings import Settings
from tests.browser.candidate_script import FINAL, SCRIPT, candidate_url
from tests.fakes.fake_elevenlabs import FakeElevenLabs, SignatureBook
from tests.fakes.fake_elevenlabs_conversation import FakeConversationServer
from tests.helpers import make_settings, seed_suggestions

pytestmark = pytest.mark.browser

KEY = "xi-browser-key"
SDK = Path(__file__).with_name("fake_elevenlabs_sdk.js")


@pytest.fixture
async def book() -> SignatureBook:
    return SignatureBook()


@pytest.fixture
async def el(book: SignatureBook) -> AsyncIterator[FakeConversationServer]:
    server = FakeConversationServer(SCRIPT, interval_s=0.12, init_wait_s=0.3, signatures=book,
                                    ping_interval_s=0.2)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def vendor(book: SignatureBook, el: FakeConversationServer) -> AsyncIterator[FakeElevenLabs]:
    server = FakeElevenLabs(api_key=KEY, signatures=book, conversation_url=el.ws_url)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sdk_host() -> AsyncIterator[str]:
    """Another origin serving the SDK module (CORS, as a module script needs)."""

    async def module(_: web.Request) -> web.Response:
        return web.Response(body=SDK.read_bytes(), content_type="text/javascript",
                            headers={"Access-Control-Allow-Origin": "*"})

    app = web.Application()
    app.router.add_get("/elevenlabs-client.js", module)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/elevenlabs-client.js"
    await runner.cleanup()


@pytest.fixture
def use_sdk(request: pytest.FixtureRequest) -> bool:
    return bool(getattr(request, "param", True))


@pytest.fixture
def settings(tmp_path: Path, vendor: FakeElevenLabs, sdk_host: str, use_sdk: bool) -> Settings:
    sdk = sdk_host if use_sdk else None
    return make_settings(
        tmp_path, voice_agent_provider="elevenlabs", elevenlabs_api_key=KEY,
        elevenlabs_base_url=vendor.base_url, elevenlabs_sdk_url=sdk,
    )


async def test_the_page_runs_a_private_agent_through_the_configured_sdk(
    interview: dict[str, Any], el: FakeConversationServer, book: SignatureBook,
    pool: asyncpg.Pool, open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    sid = uuid.UUID(interview["session_id"])
    suggestions = await seed_suggestions(pool, sid)
    panel = await open_page(interview["panel_url"])
    await panel.wait_for_selector("#connection-state[data-state=live]")
    page = await open_page(candidate_url(interview))
    await page.wait_for_selector("body[data-gateway=live]")
    await page.click("#start-call")
    await page.wait_for_selector("body[data-call=in_call]")
    conv = await el.wait_conversation()
    assert book.redeemed  # opened with a signed URL's one-time signature
    await asyncio.wait_for(conv.script_done.wait(), 15)
    await page.wait_for_function(
        f"() => document.querySelectorAll('#transcript .line').length === {len(SCRIPT)}"
    )
    rows: list[tuple[Any, ...]] = []
    for _ in range(200):
        rows = [tuple(r) for r in await pool.fetch(
            "SELECT seq, role, text FROM voice_transcripts WHERE session_id = $1 ORDER BY seq",
            sid)]
        if len(rows) == len(SCRIPT) and rows[2][2] == FINAL[2]:
            break
        await asyncio.sleep(0.05)
    assert rows == [(n, line.role, FINAL[n - 1]) for n, line in enumerate(SCRIPT, 1)]
    await panel.click(f'[data-suggestion-id="{suggestions["context_injection"]}"] button.apply')
    await conv.until(lambda c: bool(c.contextual_updates))
    assert conv.contextual_updates == [
        "[Interviewer guidance] Mention budget pressure from the CFO"
    ]
    await page.click("#end-call")
    await page.wait_for_selector("body[data-call=ended]")
    await asyncio.wait_for(conv.finished.wait(), 10)
    assert conv.pongs  # the SDK answered pings
    await page.screenshot(path=str(output_dir / "candidate-page-sdk.png"), full_page=True)


@pytest.mark.parametrize("use_sdk", [False], indirect=True)
async def test_without_an_sdk_url_the_page_says_what_to_set(
    interview: dict[str, Any], el: FakeConversationServer,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    page = await open_page(candidate_url(interview))
    await page.click("#start-call")
    await page.wait_for_selector("body[data-call=failed]")
    text = await page.text_content("#notice")
    assert text is not None and "ELEVENLABS_SDK_URL" in text
    assert not el.conversations  # nothing was loaded, no call started
    await page.screenshot(path=str(output_dir / "candidate-page-no-sdk.png"), full_page=True)
