"""The transcript follows the call unless the reader scrolled up; an ended interview says so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from gateway.auth import Role
from tests.browser.helpers import Candidate

pytestmark = pytest.mark.browser

AT_BOTTOM = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 2"


async def test_follows_new_lines_unless_scrolled_up_then_shows_the_end(
    interview: dict[str, Any],
    candidate: Candidate,
    open_page: Callable[..., Awaitable[Any]],
    token: Callable[..., str],
) -> None:
    page = await open_page(interview["panel_url"], viewport={"width": 1280, "height": 560})
    await page.wait_for_selector("#connection-state[data-state=live]")
    for seq in range(1, 16):
        role = "assistant" if seq % 2 else "user"
        await candidate.say(seq, f"Line {seq}: a sentence long enough to take some room.", role)
    await page.wait_for_selector('#transcript li[data-seq="15"]')
    transcript = page.locator("#transcript")
    assert await transcript.evaluate("el => el.scrollHeight > el.clientHeight")
    assert await transcript.evaluate(AT_BOTTOM)  # followed the call
    assert await page.text_content('#transcript li[data-seq="2"] .speaker') == "Candidate"
    assert await page.text_content('#transcript li[data-seq="1"] .speaker') == "Sarah Chen"
    assert await page.text_content("#message-count") == "15 messages"

    # The reader scrolls up to re-read: new lines must not yank the view away.
    await transcript.evaluate("el => { el.scrollTop = 0; }")
    await candidate.say(16, "A line that arrives while the reader is scrolled up.")
    await page.wait_for_selector('#transcript li[data-seq="16"]')
    assert await transcript.evaluate("el => el.scrollTop") == 0
    jump = page.locator("#jump-latest")
    assert await jump.is_visible()
    await jump.click()
    assert await transcript.evaluate(AT_BOTTOM)
    assert not await jump.is_visible()

    # Ending the interview ends the panel: no reconnect loop, no action buttons live.
    async with aiohttp.ClientSession() as http, http.post(
        f"{interview['server_url']}/api/sessions/{interview['session_id']}/end",
        headers={"Authorization": f"Bearer {token(Role.ADMIN)}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    await page.wait_for_selector("#connection-state[data-state=ended]")
    assert "session ended" in (await page.text_content("#connection-state") or "")
    assert await page.is_disabled("#analyze-now")
