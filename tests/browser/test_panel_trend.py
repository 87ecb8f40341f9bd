"""Live `analysis` and `alert` events: the meter moves, the trend grows, the drop is marked.

The events are published through the gateway's own live service (numbered and stored like the
analysis runner's), so the scores, and therefore the expected colours and alert, are exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from handlers.keys import LIVE
from tests.browser.helpers import RGB

pytestmark = pytest.mark.browser

RUBRIC = {
    "blueprint": "sales",
    "title": "Sales discovery call",
    "factors": [
        {"name": "rapport", "label": "Rapport", "weight": 1},
        {"name": "discovery", "label": "Discovery", "weight": 1},
        {"name": "objection_handling", "label": "Objection Handling", "weight": 1},
        {"name": "value_articulation", "label": "Value Articulation", "weight": 1},
        {"name": "closing_momentum", "label": "Closing Momentum", "weight": 1},
    ],
}


def analysis(score: int, factor: int, suggestion: str, priority: str) -> dict[str, Any]:
    return {
        "type": "analysis",
        "analysis_id": str(uuid.uuid4()),
        "round_number": 1,
        "say_meter": {
            "score": score,
            "band": "green" if score >= 80 else "yellow" if score >= 50 else "red",
            "factors": {f["name"]: factor for f in RUBRIC["factors"]},
            "reasoning": f"Scored {score}.",
        },
        "suggestions": [
            {"suggestion_id": str(uuid.uuid4()), "type": "curveball", "text": suggestion,
             "priority": priority, "label": "Budget Freeze"},
        ],
        "analyzer": "offline",
        "rubric": RUBRIC,
        "message_count": 10,
        "at": "2026-11-24T10:16:40.002Z",
    }


async def test_analyses_move_the_meter_and_alerts_mark_the_trend(
    gateway: Any, interview: dict[str, Any], open_page: Callable[..., Awaitable[Any]]
) -> None:
    live = gateway.app[LIVE]
    sid = uuid.UUID(interview["session_id"])
    page = await open_page(interview["panel_url"])
    await page.wait_for_selector("#connection-state[data-state=live]")
    assert await page.text_content("#meter-score") == "—"
    assert await page.get_attribute("#meter-band", "data-band") == "none"

    first = analysis(86, 90, "The CFO froze all new spend until Q3", "critical")
    first["message_count"] = 20
    await live.emit_now(sid, [first])
    await page.wait_for_selector('#meter-score[data-score="86"]')
    assert await page.get_attribute("#meter-band", "data-band") == "green"
    assert await page.eval_on_selector(
        "#meter-band", "el => getComputedStyle(el).backgroundColor"
    ) == RGB["green"]
    assert await page.get_attribute('[data-factor="rapport"]', "data-value") == "90"
    assert await page.get_attribute('#sparkline svg', "data-points") == "1"
    assert await page.text_content("#meter-reasoning") == "Scored 86."

    second = analysis(58, 55, "Procurement wants three competing quotes", "low")
    drop = {
        "type": "alert", "kind": "score_drop", "score": 58, "previous_score": 86,
        "message": "Say Meter dropped 28 points (86 → 58)", "analysis_id": second["analysis_id"],
    }
    await live.emit_now(sid, [second, drop])
    await page.wait_for_selector('#sparkline svg[data-points="2"] .alert-mark')
    assert await page.text_content("#meter-score") == "58"
    assert await page.get_attribute("#meter-band", "data-band") == "yellow"
    assert await page.get_attribute('[data-factor="closing_momentum"]', "data-value") == "55"
    assert await page.get_attribute('[data-factor="closing_momentum"]', "data-band") == "yellow"
    marks = await page.eval_on_selector_all(
        "#sparkline .alert-mark, #sparkline .point",
        "els => els.map(e => [e.getAttribute('class'), Number(e.getAttribute('cy'))])",
    )
    points = [cy for kind, cy in marks if kind == "point"]
    alert_cy = [cy for kind, cy in marks if kind == "alert-mark"]
    assert len(points) == 2 and points[1] > points[0]  # lower score, lower on the chart
    assert alert_cy == [points[1]]  # the alert sits on the score that caused it
    assert await page.text_content("#alerts li") == "⚠ Say Meter dropped 28 points (86 → 58)"
    # The later event analyzed an earlier window (message 10): the count does not go back.
    assert await page.text_content("#message-count") == "20 messages"

    # Newest suggestions first; each keeps its priority colour.
    cards = await page.eval_on_selector_all(
        "[data-suggestion-id]",
        "els => els.map(e => [e.querySelector('.suggestion-text').textContent,"
        " getComputedStyle(e).borderLeftColor])",
    )
    assert cards == [
        ["Procurement wants three competing quotes", RGB["blue"]],
        ["The CFO froze all new spend until Q3", RGB["red"]],
    ]
