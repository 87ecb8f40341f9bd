"""Grounded cards: what a suggestion responds to and where it came from, a final score marked as
final, and an expired suggestion's card dropped. Events go through the gateway's own live
service (numbered and stored like the analysis runner's)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.frames import suggestion_updated_event
from handlers.keys import LIVE

pytestmark = pytest.mark.browser


def analysis(final: bool, *suggestions: dict[str, Any]) -> dict[str, Any]:
    run = str(uuid.uuid4())
    return {
        "type": "analysis",
        "analysis_id": run,
        "round_number": 1,
        "final": final,
        "say_meter": {"score": 64, "band": "yellow", "factors": {"rapport": 64},
                      "reasoning": "Scored 64."},
        "suggestions": [{**s, "analysis_id": run} for s in suggestions],
        "analyzer": "openai:gpt-4o",
        "rubric": {"blueprint": "sales", "title": "Sales", "factors": [
            {"name": "rapport", "label": "Rapport", "weight": 1}]},
        "message_count": 10,
        "at": datetime.now(UTC).isoformat(),
    }


def card(text: str, responds_to: str | None, minutes_ago: int) -> dict[str, Any]:
    return {
        "suggestion_id": str(uuid.uuid4()), "type": "followup_question", "text": text,
        "priority": "high", "label": None, "responds_to": responds_to,
        "intent": "followup:" + text.split()[1].lower(),
        "at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
    }


async def test_cards_show_what_they_respond_to_and_expired_ones_go(
    gateway: Any, interview: dict[str, Any], open_page: Callable[..., Awaitable[Any]]
) -> None:
    live = gateway.app[LIVE]
    sid = uuid.UUID(interview["session_id"])
    page = await open_page(interview["panel_url"])
    await page.wait_for_selector("#connection-state[data-state=live]")

    budget = card("Ask who owns the budget.", "It's tight this year", 3)
    timing = card("Ask when they must decide.", None, 0)
    first = analysis(False, budget, timing)
    await live.emit_now(sid, [first])
    selector = f'[data-suggestion-id="{budget["suggestion_id"]}"]'
    await page.wait_for_selector(selector)
    assert await page.text_content(f"{selector} .suggestion-responds") == (
        "Responds to: “It's tight this year”"
    )
    meta = await page.text_content(f"{selector} .suggestion-meta") or ""
    assert meta.startswith("suggested 3 min ago") and "analysis (score" in meta, meta
    other = f'[data-suggestion-id="{timing["suggestion_id"]}"]'
    assert await page.query_selector(f"{other} .suggestion-responds") is None
    assert (await page.text_content(f"{other} .suggestion-meta") or "").startswith(
        "suggested just now"
    )
    assert await page.text_content("#meter-band") == "yellow"

    # The conversation made the budget hint moot: its card goes, the count follows.
    await live.emit_now(sid, [suggestion_updated_event(uuid.UUID(budget["suggestion_id"]),
                                                       "expired")])
    await page.wait_for_selector(selector, state="detached")
    assert await page.text_content("#suggestion-count") == "1 open"

    await live.emit_now(sid, [analysis(True)])
    # Polled from here: the page's CSP (no eval) refuses playwright's in-page predicate.
    async with asyncio.timeout(10):
        while await page.text_content("#meter-band") != "yellow · final":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
