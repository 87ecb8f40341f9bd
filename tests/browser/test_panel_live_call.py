"""A whole simulated call watched in the browser: real analyses move the meter, Apply steers.

The reference candidate client replays the strong seed transcript; the gateway's offline
analyzer scores every 10 messages. The page must show what the analyses said, in the design's
colours, and a suggestion applied in one panel must reach the candidate and change in another.
A screenshot of the panel mid-call is saved under test-output/.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from client.simulator import Simulator, load_transcript
from tests.browser.helpers import PRIORITY_COLOUR, RGB

pytestmark = pytest.mark.browser

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "transcripts"


def band_of(score: int) -> str:
    return "green" if score >= 80 else "yellow" if score >= 50 else "red"


async def test_live_call_moves_the_meter_and_apply_reaches_the_candidate(
    interview: dict[str, Any],
    open_page: Callable[..., Awaitable[Any]],
    output_dir: Path,
) -> None:
    first = await open_page(interview["panel_url"])
    second = await open_page(interview["panel_url"])
    for page in (first, second):
        await page.wait_for_selector("#connection-state[data-state=live]")

    messages = load_transcript(SEEDS / "strong.json")[:30]
    lines: list[str] = []
    injected = asyncio.Event()

    def note(line: str) -> None:
        lines.append(line)
        if line.startswith("-> ElevenLabs "):
            injected.set()

    simulator = Simulator(
        "ws" + interview["server_url"].removeprefix("http"),
        interview["session_id"],
        interview["candidate_token"],
        messages,
        rate=8,  # a boundary every ~1.2 s: each gets its own run (faster ones coalesce by design)
        linger=None,  # stay on the call: the Apply below must still reach us
        out=note,
    )
    call = asyncio.create_task(simulator.run())
    try:
        # Three analyses (messages 10, 20, 30) give a three-point trend.
        await first.wait_for_selector('#sparkline svg[data-points="3"]', timeout=30_000)
        await first.wait_for_selector("#transcript li.line >> nth=19")

        score = int(await first.text_content("#meter-score") or "-1")
        assert 0 <= score <= 100
        band = band_of(score)
        assert await first.get_attribute("#meter-band", "data-band") == band
        colour = await first.eval_on_selector(
            "#meter-band", "el => getComputedStyle(el).backgroundColor"
        )
        assert colour == RGB[band]
        assert await first.text_content(".meter-score") == f"{score}/100"
        cover = await first.eval_on_selector("#meter-cover", "el => el.style.left")
        assert cover == f"{score}%"

        factors = await first.eval_on_selector_all(
            "[data-factor]", "els => els.map(e => [e.dataset.factor, e.dataset.value])"
        )
        assert [name for name, _ in factors] == [
            "rapport", "discovery", "objection_handling", "value_articulation", "closing_momentum",
        ]
        assert all(value.isdigit() and 0 <= int(value) <= 100 for _, value in factors)

        cards = await first.eval_on_selector_all(
            "[data-suggestion-id]",
            """els => els.map(e => ({id: e.dataset.suggestionId, priority: e.dataset.priority,
                  type: e.dataset.type, border: getComputedStyle(e).borderLeftColor}))""",
        )
        assert cards, "the analyses produced no suggestion cards"
        for card in cards:
            assert card["border"] == RGB[PRIORITY_COLOUR[card["priority"]]], card

        await first.screenshot(path=str(output_dir / "panel-mid-call.png"))

        applicable = [c for c in cards if c["type"] in ("context_injection", "curveball")]
        assert applicable, f"no applicable suggestion among {cards}"
        target = applicable[0]["id"]
        await first.click(f'[data-suggestion-id="{target}"] button.apply')
        await second.wait_for_selector(f'[data-suggestion-id="{target}"][data-status=applied]')

        await asyncio.wait_for(injected.wait(), 10)
        update = simulator.protocol.updates[0]
        text = await first.text_content(f'[data-suggestion-id="{target}"] .suggestion-text')
        assert update["type"] == "contextual_update" and text and text in update["text"]
        command = next(iter(simulator.protocol.injected.values()))
        expected_type = {"curveball": "curveball_inject", "context_injection": "difficulty_change"}
        assert command["command_type"] == expected_type[applicable[0]["type"]]
        assert command["source"] == "ai_suggested"
        await second.wait_for_selector(f'[data-command-id="{command["command_id"]}"]')
        await second.wait_for_function(
            "id => document.querySelector(`[data-suggestion-id=\"${id}\"] .suggestion-status`)"
            ".textContent === 'Applied · delivered'",
            arg=target,
        )
    finally:
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
