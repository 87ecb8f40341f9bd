"""The panel's own controls: End interview (with confirmation) ends it for the candidate
client; a manual curveball reaches the candidate; Mark asked on a follow-up; the score chart;
an ended session reopens read-only; the "Analysis requested." notice covers no button."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.browser.helpers import Candidate

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}

INSERT_RUN = """
INSERT INTO voice_analysis (session_id, analysis_type, meter_score, meter_factors, reasoning,
                            suggestion_text, suggestion_category, priority, label, run_id,
                            triggered_at)
VALUES ($1::uuid, 'say_meter', 66, '{"rapport": 85, "discovery": 48}'::jsonb,
        'Rapport is strong; discovery questions are rare.', NULL, NULL, NULL, NULL, $2::uuid,
        now() - interval '2 minutes'),
       ($1::uuid, 'followup', NULL, '{}', NULL, 'Ask what success looks like in 90 days',
        'followup_question', 'low', NULL, $2::uuid, now() - interval '2 minutes'),
       ($1::uuid, 'curveball', NULL, '{}', NULL, 'Your CFO asked for competitive quotes',
        'curveball', 'high', 'Competitive Pressure', $2::uuid, now() - interval '2 minutes')
RETURNING id, suggestion_category
"""


async def seed(pool: asyncpg.Pool, session_id: str) -> dict[str, str]:
    rows = await pool.fetch(INSERT_RUN, session_id, uuid.uuid4())
    return {r["suggestion_category"]: str(r["id"]) for r in rows if r["suggestion_category"]}


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


async def test_steering_by_hand_and_ending_the_interview(
    interview: dict[str, Any], candidate: Candidate, pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    ids = await seed(pool, interview["session_id"])
    await candidate.say(1, "Hi, Sarah Chen here.", role="assistant")
    page = await open_page(interview["panel_url"], viewport=WIDE)
    await page.wait_for_selector("#connection-state[data-state=live]")
    await page.wait_for_selector("#candidate-presence[data-connected=true]")

    # The card says how old it is and which analysis made it; the explanation reads as prose.
    followup = page.locator(f'[data-suggestion-id="{ids["followup_question"]}"]')
    meta = await followup.locator(".suggestion-meta").text_content() or ""
    assert meta.startswith("suggested 2 min ago") and "analysis (score 66)" in meta
    summary = await page.text_content("#meter-summary") or ""
    assert summary.startswith("66 out of 100: fair, with room to improve.")
    assert "Strongest: rapport (85)" in summary and "most work: discovery (48)" in summary
    chart = page.locator("#sparkline svg")
    assert await chart.get_attribute("data-points") == "1"
    assert await page.eval_on_selector_all(
        "#sparkline .band-line", "els => els.map(e => e.dataset.level)") == ["80", "50"]
    assert await page.text_content("#sparkline text.value") == "66"

    # The notice after "Analyze now" covers none of the buttons.
    await page.click("#analyze-now")
    toast = await page.locator("#panel-error").bounding_box()
    assert toast is not None
    for button in await page.locator("button:visible").all():
        box = await button.bounding_box()
        assert box is None or not overlaps(toast, box), await button.text_content()

    # Mark asked: recorded, shown, no Apply on a follow-up.
    assert await followup.locator("button.apply").count() == 0
    await followup.locator("button.ask").click()
    await page.wait_for_selector(
        f'[data-suggestion-id="{ids["followup_question"]}"][data-status=asked]')
    asked_at = await pool.fetchval(
        "SELECT asked_at FROM voice_analysis WHERE id = $1", uuid.UUID(ids["followup_question"]))
    assert asked_at is not None

    # A manual curveball, with its label, reaches the candidate client.
    await page.click("#steer summary:has-text('Curveball')")
    await page.fill("#manual-curveball [name=label]", "Budget Freeze")
    await page.fill("#manual-curveball [name=curveball]", "Finance froze all new spend")
    await shot_panel(page, output_dir, "panel-steer")
    await page.click("#manual-curveball button[type=submit]")
    await candidate.command_arrived.wait()
    command = candidate.commands[-1]
    assert command["command_type"] == "curveball_inject" and command["source"] == "manual"
    assert command["payload"] == {"curveball": "Finance froze all new spend",
                                  "label": "Budget Freeze"}
    delivered = f'[data-command-id="{command["command_id"]}"][data-delivered=true]'
    await page.wait_for_selector(delivered)

    # End interview asks first; "Keep going" changes nothing.
    await page.click("#end-interview")
    assert await page.is_visible("#confirm")
    await shot_panel(page, output_dir, "panel-end-confirm")
    await page.click("#confirm-cancel")
    assert not await page.is_visible("#confirm")
    status = await pool.fetchval("SELECT status FROM interview_sessions WHERE id = $1",
                                 uuid.UUID(interview["session_id"]))
    assert status == "active"
    await page.click("#end-interview")
    await page.click("#confirm-ok")
    await asyncio.wait_for(candidate.ended.wait(), 10)
    await page.wait_for_selector("#ended-banner:not([hidden])")
    # Every pill agrees with the session's state.
    assert await page.text_content("#candidate-presence") == "Interview ended"
    assert "completed" in (await page.text_content("#session-meta") or "")
    assert (await page.text_content("#connection-state") or "").startswith("ended")
    assert await page.is_disabled("#end-interview")
    assert "Final Say Meter: 66/100" in (await page.text_content("#ended-text") or "")
    await shot_panel(page, output_dir, "panel-ended-live")


async def shot_panel(page: Any, output_dir: Path, name: str) -> None:
    await page.screenshot(path=str(output_dir / f"{name}.png"), full_page=True)


async def test_an_ended_session_reopens_read_only(
    interview: dict[str, Any], candidate: Candidate, pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    await seed(pool, interview["session_id"])
    for seq in range(1, 26):
        role = "assistant" if seq % 2 else "user"
        await candidate.say(seq, f"Line {seq} of the call.", role=role)
    await candidate.close()
    async with aiohttp.ClientSession() as http, http.post(
        f"{interview['server_url']}/api/sessions/{interview['session_id']}/end",
        headers={"Authorization": f"Bearer {interview['interviewer_token']}"},
    ) as resp:
        assert resp.status == 200

    page = await open_page(interview["panel_url"], viewport=WIDE)
    await page.wait_for_selector("body[data-read-only=true]")
    # No "Connecting…", no socket refused with 410: the final state, from the report.
    assert await page.locator("#transcript .line").count() == 25  # the whole call, not 20
    assert await page.text_content("#transcript-title") == "Final transcript"
    final = await pool.fetchval(
        "SELECT meter_score FROM voice_analysis WHERE session_id = $1 AND analysis_type = "
        "'say_meter' ORDER BY triggered_at DESC LIMIT 1", uuid.UUID(interview["session_id"]))
    assert await page.text_content("#meter-score") == str(final)
    runs = await pool.fetchval(
        "SELECT count(*) FROM voice_analysis WHERE session_id = $1 AND analysis_type = "
        "'say_meter'", uuid.UUID(interview["session_id"]))
    assert await page.get_attribute("#sparkline svg", "data-points") == str(runs)
    assert await page.text_content("#candidate-presence") == "Interview ended"
    assert await page.text_content("#message-count") == "25 messages"
    assert await page.is_hidden("#steer") and await page.is_disabled("#end-interview")
    report = page.locator("#report-link")
    assert await report.get_attribute("href") == f"/interviews/{interview['session_id']}/report"
    statuses = await page.eval_on_selector_all(
        "[data-suggestion-id]", "els => els.map(e => e.dataset.status)")
    assert "open" in statuses and set(statuses) <= {"open", "expired"}
    assert await page.locator("[data-suggestion-id] button:visible").count() == 0
    await shot_panel(page, output_dir, "panel-read-only")
