"""Steering from the panel: colours by band and priority, Apply and Dismiss seen by every panel.

The analysis here is stored directly (one Say Meter row and one suggestion of each priority) so
every colour is known in advance; the live analysis path is covered by test_panel_live_call.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from tests.browser.helpers import PRIORITY_COLOUR, RGB, Candidate

pytestmark = pytest.mark.browser

FACTORS = {
    "rapport": 85,
    "discovery": 72,
    "objection_handling": 45,
    "value_articulation": 74,
    "closing_momentum": 66,
}

INSERT_ANALYSIS = """
INSERT INTO voice_analysis (session_id, analysis_type, meter_score, meter_factors, reasoning,
                            suggestion_text, suggestion_category, priority, label, run_id)
VALUES ($1, 'say_meter', 74, $2::jsonb, 'Good rapport; objections need work.',
        NULL, NULL, NULL, NULL, $3),
       ($1, 'suggestion', NULL, '{}', NULL, 'Mention that the CFO froze new spend until Q3',
        'context_injection', 'critical', NULL, $3),
       ($1, 'curveball', NULL, '{}', NULL, 'Your CFO just asked for competitive quotes',
        'curveball', 'high', 'Competitive Pressure', $3),
       ($1, 'suggestion', NULL, '{}', NULL, 'Have Sarah doubt the rollout timeline',
        'context_injection', 'medium', NULL, $3),
       ($1, 'followup', NULL, '{}', NULL, 'Ask: what does success look like in 90 days?',
        'followup_question', 'low', NULL, $3)
RETURNING id, suggestion_text
"""


async def seed_analysis(pool: asyncpg.Pool, session_id: str) -> dict[str, str]:
    rows = await pool.fetch(INSERT_ANALYSIS, uuid.UUID(session_id), FACTORS, uuid.uuid4())
    return {r["suggestion_text"]: str(r["id"]) for r in rows if r["suggestion_text"]}


async def style(page: Any, selector: str, prop: str) -> str:
    value: str = await page.eval_on_selector(
        selector, "(el, prop) => getComputedStyle(el)[prop]", prop
    )
    return value


async def test_colours_apply_and_dismiss_across_panels(
    interview: dict[str, Any],
    candidate: Candidate,
    pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]],
) -> None:
    ids = await seed_analysis(pool, interview["session_id"])
    first = await open_page(interview["panel_url"])
    second = await open_page(interview["panel_url"], viewport={"width": 420, "height": 900})
    for page in (first, second):
        await page.wait_for_selector("#connection-state[data-state=live]")
        await page.wait_for_selector("[data-suggestion-id]")

    # Say Meter: number, band and its colour, one mini-bar per rubric factor in rubric order.
    assert await first.text_content("#meter-score") == "74"
    assert await first.get_attribute("#meter-band", "data-band") == "yellow"
    assert await style(first, "#meter-band", "backgroundColor") == RGB["yellow"]
    factors = await first.eval_on_selector_all(
        "[data-factor]",
        """els => els.map(e => ({name: e.dataset.factor, value: Number(e.dataset.value),
              band: e.dataset.band, label: e.querySelector('.factor-name').textContent,
              fill: e.querySelector('.factor-fill').getBoundingClientRect().width /
                    e.querySelector('.factor-bar').getBoundingClientRect().width,
              colour: getComputedStyle(e.querySelector('.factor-fill')).backgroundColor}))""",
    )
    assert [f["name"] for f in factors] == list(FACTORS)
    assert factors[2]["label"] == "Objection Handling"
    for f in factors:
        expected = "green" if f["value"] >= 80 else "yellow" if f["value"] >= 50 else "red"
        assert f["value"] == FACTORS[f["name"]] and f["band"] == expected
        assert f["colour"] == RGB[expected]
        assert abs(f["fill"] - f["value"] / 100) < 0.02

    # Suggestion cards: border by priority; Apply only for context injections and curveballs.
    cards = await first.eval_on_selector_all(
        "[data-suggestion-id]",
        """els => els.map(e => ({id: e.dataset.suggestionId, priority: e.dataset.priority,
              type: e.dataset.type, border: getComputedStyle(e).borderLeftColor,
              apply: !!e.querySelector('button.apply'),
              badge: e.querySelector('.badge').textContent}))""",
    )
    assert sorted(c["priority"] for c in cards) == ["critical", "high", "low", "medium"]
    for card in cards:
        assert card["border"] == RGB[PRIORITY_COLOUR[card["priority"]]], card
        assert card["apply"] == (card["type"] != "followup_question")
    assert {c["badge"] for c in cards} == {"Context injection", "Curveball", "Follow-up"}

    # Apply the curveball from the keyboard on the first panel.
    curveball = ids["Your CFO just asked for competitive quotes"]
    button = first.locator(f'[data-suggestion-id="{curveball}"] button.apply')
    label = await button.get_attribute("aria-label")
    assert label is not None and label.startswith("Apply curveball: Your CFO")
    await button.focus()
    await first.keyboard.press("Enter")
    await candidate.command_arrived.wait()
    command = candidate.commands[0]
    assert command["command_type"] == "curveball_inject"
    assert command["payload"] == {
        "curveball": "Your CFO just asked for competitive quotes",
        "label": "Competitive Pressure",
    }
    # The other panel sees the card change, then the delivery the candidate's ack caused.
    card_on_second = second.locator(f'[data-suggestion-id="{curveball}"]')
    await second.wait_for_selector(f'[data-suggestion-id="{curveball}"][data-status=applied]')
    await second.wait_for_function(
        "id => document.querySelector(`[data-suggestion-id=\"${id}\"] .suggestion-status`)"
        ".textContent === 'Applied · delivered'",
        arg=curveball,
    )
    assert await card_on_second.locator("button").count() == 2  # kept, but hidden and disabled
    assert not await card_on_second.locator("button.apply").is_visible()
    command_row = f'[data-command-id="{command["command_id"]}"][data-delivered=true]'
    await first.wait_for_selector(command_row)

    # Dismiss on the narrow panel; the first one follows.
    medium = ids["Have Sarah doubt the rollout timeline"]
    await second.click(f'[data-suggestion-id="{medium}"] button.dismiss')
    await first.wait_for_selector(f'[data-suggestion-id="{medium}"][data-status=dismissed]')
    assert await first.text_content("#suggestion-count") == "2 open"

    # The narrow window still reads: no sideways scrolling, sections stacked.
    overflow = await second.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    boxes = [await second.locator(s).bounding_box() for s in
             (".meter-card", ".suggestions-card", ".transcript-card")]
    assert all(b is not None and b["width"] <= 420 for b in boxes)
