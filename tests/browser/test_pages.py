"""The people's pages in Chromium: sign in from a printed link, the admin console, interview
set-up, the sessions list, a report. Every page is photographed into test-output/ at 1,400 px
(and the console and set-up on a phone)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import asyncpg
import pytest

from gateway.auth import Role
from gateway.login import issue_login_token, login_url
from handlers.assets import ASSETS
from tests.browser.conftest import PageErrors
from tests.browser.helpers import Candidate
from tests.helpers import TEST_SECRET

pytestmark = pytest.mark.browser

WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SARAH = "3125e776-a5ee-4740-84ba-8a9535b83281"
LOGISTICS = "97247e0f-ad06-4af3-9c88-a71b28bb3e1b"
CASES = json.loads((Path(__file__).parents[1] / "template_cases.json").read_text("utf-8"))


def expect_http_errors(page_errors: PageErrors, *statuses: int) -> None:
    """Chromium logs every 4xx answer as a console error; these tests ask for them on purpose."""
    wanted = [f"status of {s} " for s in statuses]
    page_errors.messages[:] = [
        m for m in page_errors.messages
        if not ("Failed to load resource" in m and any(w in m for w in wanted))
    ]


async def range_is(page: Any, text: str) -> None:
    await page.wait_for_function(
        "t => document.querySelector('#range').textContent === t", arg=text
    )


def base(gateway: Any) -> str:
    return f"http://127.0.0.1:{gateway.port}"


async def sign_in(
    open_page: Callable[..., Awaitable[Any]], gateway: Any, role: str, viewport: Any = WIDE
) -> Any:
    link = login_url(base(gateway), issue_login_token(TEST_SECRET, role, ttl_s=60))
    page = await open_page(link, viewport=viewport)
    await page.wait_for_url(f"{base(gateway)}/{'admin' if role == 'admin' else 'interviews'}")
    return page


async def shot(page: Any, output_dir: Path, name: str) -> None:
    await page.screenshot(path=str(output_dir / f"pages-{name}.png"), full_page=True)


async def no_sideways_scroll(page: Any) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0


async def api(gateway: Any, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {_admin_token()}"}
    async with aiohttp.ClientSession() as http, http.request(
        method, base(gateway) + path, json=body, headers=headers
    ) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.status != 204 else None


def _admin_token() -> str:
    from gateway.auth import issue_token

    return issue_token(TEST_SECRET, Role.ADMIN, ttl_s=600)


async def test_sign_in_from_a_printed_link(
    gateway: Any, open_page: Callable[..., Awaitable[Any]], output_dir: Path, tmp_path: Path,
    page_errors: PageErrors,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "DATABASE"))}
    env.update(GATEWAY_JWT_SECRET=TEST_SECRET, GATEWAY_DATA_DIR=str(tmp_path / "data"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "login-url", "--role", "interviewer", "--name", "Ana",
        "--url", base(gateway), env=env, stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    link = out.decode().strip()
    assert link.startswith(f"{base(gateway)}/login#token=")

    signed_out = await open_page(base(gateway) + "/", viewport=WIDE)
    assert "login-url" in (await signed_out.text_content("#message-hint") or "")
    await shot(signed_out, output_dir, "signed-out")

    page = await open_page(link, viewport=WIDE)
    await page.wait_for_url(f"{base(gateway)}/interviews")
    # The token left the address bar and history; the cookie is out of the page's reach.
    assert await page.evaluate("document.cookie") == ""
    assert await page.evaluate("history.length") <= 2
    await page.wait_for_selector("body[data-ready=true]")
    nav = await page.eval_on_selector_all("#nav a", "els => els.map(e => e.textContent)")
    assert nav == ["Interviews", "New interview"]  # no admin console for an interviewer
    await page.goto(base(gateway) + "/")
    await shot(page, output_dir, "home")
    admin_only = await page.goto(base(gateway) + "/admin")
    assert admin_only is not None and admin_only.status == 403
    assert await page.text_content("h1") == "Not available with this sign-in"

    # The same link again, in a fresh browser: used, so it says what to do.
    again = await open_page(link, viewport=WIDE)
    await again.wait_for_selector("body[data-state=failed]")
    assert await again.text_content("#login-title") == "This sign-in link no longer works"
    assert not await again.is_hidden("#login-hint")
    await shot(again, output_dir, "login-used")
    expect_http_errors(page_errors, 401, 403)


async def test_admin_console_creates_validates_and_previews(
    gateway: Any, open_page: Callable[..., Awaitable[Any]], output_dir: Path
) -> None:
    page = await sign_in(open_page, gateway, "admin")
    await page.wait_for_selector("body[data-ready=true]")
    # The page's copy of the template rules gives the API's answers on the whole table.
    module = gateway.app[ASSETS].url_of["template_rules.js"]
    got = await page.evaluate(
        """async ([url, cases]) => {
             const m = await import(url);
             return cases.map((c) => m.templateProblems(c.template));
           }""",
        [module, CASES],
    )
    assert got == [c["problems"] for c in CASES]

    form = page.locator("#persona-form")
    await form.locator("[name=name]").fill("Ines Duarte")
    await form.locator("[name=role]").fill("Head of People")
    await form.locator("[name=blueprint]").select_option("HR")
    await form.locator("[name=difficulty]").select_option("4")
    await form.locator("[name=company_context]").fill("A clinic network hiring fast.")
    await form.locator("[name=communication_style]").fill("Warm but exacting.")
    await form.locator("[name=personality_traits]").fill("curious\nfair")
    await form.locator("[name=prompt_template]").fill(
        "You are {persona.name}, {persona.role}, facing {scenario.name}. "
        "{difficulty_instructions} Pains: {scenario.pain_points}"
    )
    # A template mistake shows while typing, and saving is blocked until it is fixed.
    await form.locator("[name=first_message_template]").fill("Hi, I'm { persona.name }.")
    error = page.locator('[data-error-for="first_message_template"]')
    assert await error.text_content() == (
        "remove the spaces inside { persona.name }: write {persona.name}"
    )
    assert await page.is_disabled("#persona-save")
    assert await form.locator("[name=first_message_template]").get_attribute(
        "aria-invalid") == "true"
    await shot(page, output_dir, "admin-template-error")
    await form.locator("[name=first_message_template]").fill("Hi, I'm {persona.name}.")
    assert await error.text_content() == ""

    # Preview against a chosen scenario, difficulty instructions filled in.
    await page.select_option("#preview-scenario", LOGISTICS)
    await page.click("#preview-run")
    await page.wait_for_selector("#preview-output:not([hidden])")
    prompt = await page.text_content("#preview-prompt") or ""
    assert prompt.startswith("You are Ines Duarte, Head of People, facing Regional Logistics")
    assert "Difficulty 4 (challenging)" in prompt and "{" not in prompt
    assert await page.text_content("#preview-first") == "Hi, I'm Ines Duarte."
    await shot(page, output_dir, "admin-preview")

    await page.click("#persona-save")
    row = page.locator("#persona-rows tr", has_text="Ines Duarte")
    await row.wait_for()
    assert "HR" in (await row.text_content() or "")
    await shot(page, output_dir, "admin")
    # Deactivate: gone from the active list, listed as inactive, reactivated.
    await row.locator("button.deactivate").click()
    await row.wait_for(state="detached")
    await page.select_option("#pf-active", "false")
    inactive = page.locator("#persona-rows tr", has_text="Ines Duarte")
    await inactive.locator("button.reactivate").click()
    await page.select_option("#pf-active", "true")
    await page.locator("#persona-rows tr", has_text="Ines Duarte").wait_for()
    personas = await api(gateway, "GET", "/api/personas?blueprint=hr")
    assert "Ines Duarte" in {p["name"] for p in personas["items"]}

    await page.click("#tab-scenarios")
    await page.locator("#scenario-rows tr").first.wait_for()
    await shot(page, output_dir, "admin-scenarios")
    phone = await sign_in(open_page, gateway, "admin", viewport=PHONE)
    await phone.wait_for_selector("body[data-ready=true]")
    await no_sideways_scroll(phone)
    await shot(phone, output_dir, "admin-phone")


async def test_set_up_an_interview_and_follow_both_links(
    gateway: Any, open_page: Callable[..., Awaitable[Any]], output_dir: Path
) -> None:
    page = await sign_in(open_page, gateway, "interviewer")
    await page.goto(base(gateway) + "/interviews/new")
    await page.wait_for_selector("body[data-ready=true]")
    await page.select_option("#s-blueprint", "HR")
    await page.select_option("#s-difficulty", "3")
    await page.wait_for_function(
        "() => document.querySelector('#s-persona').selectedOptions[0]?.text.startsWith('Samir')"
    )
    # An HR persona with a sales scenario: a warning, not a refusal.
    await page.select_option("#s-scenario", LOGISTICS)
    warning = page.locator("#track-warning")
    await warning.wait_for()
    assert "written for Sales" in (await warning.text_content() or "")
    await page.fill("#s-candidate", "Noor Haddad")
    await shot(page, output_dir, "setup")
    await page.click("#s-create")
    await page.wait_for_selector("#created:not([hidden])")
    assert "written for sales" in (await page.text_content("#created-warnings") or "")
    candidate_link = await page.input_value("#candidate-link")
    panel_link = await page.input_value("#panel-link")
    await shot(page, output_dir, "setup-created")
    sid = await page.evaluate("document.body.dataset.sessionId")

    # The panel link works in a browser that never signed in.
    panel = await open_page(panel_link, viewport=WIDE)
    await panel.wait_for_selector("#connection-state[data-state=live]")
    # The candidate link carries what the candidate's client needs: its session and token.
    parsed = urlparse(candidate_link)
    assert parsed.path == f"/candidate/{sid}"
    client = await Candidate.connect(base(gateway), sid, parse_qs(parsed.query)["token"][0])
    try:
        await panel.wait_for_selector("#candidate-presence[data-connected=true]")
        await client.say(1, "Hello, I'm Noor.")
        await panel.wait_for_selector("#transcript .line")
    finally:
        await client.close()
    # The signed-in interviewer opens the same panel without a token, from the set-up page.
    await page.click("#open-panel")
    await page.wait_for_selector("#connection-state[data-state=live]")
    assert "Noor" in (await page.text_content("#transcript") or "")

    phone = await sign_in(open_page, gateway, "interviewer", viewport=PHONE)
    await phone.goto(base(gateway) + "/interviews/new")
    await phone.wait_for_selector("body[data-ready=true]")
    await no_sideways_scroll(phone)
    await shot(phone, output_dir, "setup-phone")


async def test_sessions_list_filters_and_pages(
    gateway: Any, open_page: Callable[..., Awaitable[Any]], output_dir: Path,
    pool: asyncpg.Pool,
) -> None:
    samir = str(await pool.fetchval("SELECT id FROM personas WHERE name = 'Samir Haddad'"))
    made = []
    for i in range(27):
        made.append(await api(gateway, "POST", "/api/sessions", {
            "persona_id": SARAH, "scenario_id": LOGISTICS, "candidate_name": f"Candidate {i:02}"}))
    hr = await api(gateway, "POST", "/api/sessions", {
        "persona_id": samir, "scenario_id": LOGISTICS, "candidate_name": "Noor Haddad"})
    await api(gateway, "POST", f"/api/sessions/{made[3]['session_id']}/end")

    page = await sign_in(open_page, gateway, "interviewer")
    await page.wait_for_selector("body[data-ready=true]")
    rows = page.locator("#rows tr")
    assert await rows.count() == 25
    assert await page.text_content("#range") == "1–25 of 28"
    await shot(page, output_dir, "sessions")
    await page.click("#next")
    await range_is(page, "26–28 of 28")

    await page.select_option("#f-status", "completed")
    await range_is(page, "1–1 of 1")
    assert await rows.first.get_attribute("data-session-id") == made[3]["session_id"]
    assert "offset" not in page.url and "status=completed" in page.url
    await page.select_option("#f-status", "")
    await page.select_option("#f-blueprint", "HR")
    await range_is(page, "1–1 of 1")
    assert await rows.first.get_attribute("data-session-id") == hr["session_id"]
    await page.select_option("#f-blueprint", "")
    await page.fill("#f-candidate", "candidate 1")
    await range_is(page, "1–10 of 10")
    await shot(page, output_dir, "sessions-filtered")
    # A reload keeps the filters.
    await page.reload()
    await range_is(page, "1–10 of 10")
    assert await page.input_value("#f-candidate") == "candidate 1"
    await page.click("#rows tr:first-child a.report-link")
    await page.wait_for_selector("body[data-ready=true]")
    assert "/report" in page.url


INSERT_RUNS = """
INSERT INTO voice_analysis (session_id, analysis_type, meter_score, meter_factors, reasoning,
                            run_id, triggered_at, analyzer, message_count)
SELECT $1::uuid, 'say_meter', s.score, jsonb_build_object('rapport', s.score + 5,
       'discovery', s.score - 10), 'Reasoning ' || s.score, gen_random_uuid(),
       now() - (interval '1 minute' * (5 - s.n)), 'offline', 3
FROM (VALUES (1, 62), (2, 74), (3, 83), (4, 58), (5, 81)) AS s(n, score)
"""
INSERT_SUGGESTIONS = """
INSERT INTO voice_analysis (session_id, analysis_type, suggestion_text, suggestion_category,
                            priority, label, run_id)
VALUES ($1::uuid, 'curveball', 'Your CFO froze spend', 'curveball', 'high', 'Budget Freeze',
        gen_random_uuid()),
       ($1::uuid, 'followup', 'Ask what success looks like', 'followup_question', 'low', NULL,
        gen_random_uuid())
RETURNING id, suggestion_category
"""


async def test_a_finished_interviews_report(
    gateway: Any, interview: dict[str, Any], candidate: Candidate, pool: asyncpg.Pool,
    open_page: Callable[..., Awaitable[Any]], output_dir: Path,
) -> None:
    sid = interview["session_id"]
    await candidate.say(1, "Hi, Sarah Chen here. What did you want to cover?", role="assistant")
    await candidate.say(2, "Thanks for the time. How do dispatchers plan routes today?")
    await candidate.say(3, "On whiteboards, mostly.", role="assistant")
    await pool.execute(INSERT_RUNS, sid)
    rows = await pool.fetch(INSERT_SUGGESTIONS, sid)
    curveball = next(str(r["id"]) for r in rows if r["suggestion_category"] == "curveball")
    panel = await open_page(interview["panel_url"], viewport=WIDE)
    await panel.wait_for_selector("#connection-state[data-state=live]")
    await panel.click(f'[data-suggestion-id="{curveball}"] button.apply')
    await candidate.command_arrived.wait()
    await panel.wait_for_selector("[data-command-id][data-delivered=true]")
    await api(gateway, "POST", f"/api/sessions/{sid}/end")
    await candidate.ended.wait()

    page = await sign_in(open_page, gateway, "interviewer")
    await page.goto(f"{base(gateway)}/interviews/{sid}/report")
    await page.wait_for_selector("body[data-ready=true]")
    assert await page.text_content("#final-score") == "81"
    assert await page.get_attribute("#final-band", "data-band") == "green"
    chart = page.locator("#chart svg")
    assert await chart.get_attribute("data-points") == "5"
    values = await page.eval_on_selector_all(
        "#chart text.value", "els => els.map(e => e.textContent)")
    assert values == ["62", "74", "83", "58", "81"]
    levels = await page.eval_on_selector_all(
        "#chart .band-line", "els => els.map(e => e.dataset.level)")
    assert sorted(levels) == ["50", "80"]
    assert await page.locator("#factors tbody tr").count() == 5  # sales rubric factors
    statuses = await page.eval_on_selector_all(
        "#suggestions tr", "els => els.map(e => e.dataset.status)")
    assert sorted(statuses) == ["applied", "open"]
    delivered = page.locator("#commands tr[data-delivered=true]")
    assert "s" in (await delivered.locator("td").nth(3).text_content() or "")
    assert await page.locator("#transcript li").count() == 3
    assert await page.get_attribute("#download", "download") == f"interview-{sid}.json"
    await shot(page, output_dir, "report")
    await page.emulate_media(media="print")
    await shot(page, output_dir, "report-print")
    assert await page.is_hidden("#print")
    await page.emulate_media(media="screen")
    phone = await sign_in(open_page, gateway, "interviewer", viewport=PHONE)
    await phone.goto(f"{base(gateway)}/interviews/{sid}/report")
    await phone.wait_for_selector("body[data-ready=true]")
    await shot(phone, output_dir, "report-phone")


async def test_pages_explain_bad_links(
    gateway: Any, open_page: Callable[..., Awaitable[Any]], output_dir: Path,
    token: Callable[..., str], page_errors: PageErrors,
) -> None:
    created = await api(gateway, "POST", "/api/sessions", {
        "persona_id": SARAH, "scenario_id": LOGISTICS})
    sid = created["session_id"]
    expired = token(Role.INTERVIEWER, session_id=sid, ttl_s=-60)
    page = await open_page(f"{base(gateway)}/panel/{sid}?token={expired}", viewport=WIDE)
    assert await page.text_content("h1") == "This link has expired"
    assert "login-url" in (await page.text_content("#message-hint") or "")
    await shot(page, output_dir, "panel-link-expired")
    broken = await open_page(f"{base(gateway)}/panel/{sid}?token=eyJhbGciOi", viewport=WIDE)
    assert await broken.text_content("h1") == "This link does not work"
    other = token(Role.INTERVIEWER, session_id=uuid.uuid4())
    wrong = await open_page(f"{base(gateway)}/panel/{sid}?token={other}", viewport=WIDE)
    assert await wrong.text_content("h1") == "Not available with this sign-in"
    missing = await open_page(f"{base(gateway)}/panel/{uuid.uuid4()}?token={_admin_token()}")
    assert await missing.text_content("h1") == "Nothing here"
    signed_out = await open_page(f"{base(gateway)}/interviews", viewport=WIDE)
    assert await signed_out.text_content("h1") == "Please sign in"
    no_token = await open_page(f"{base(gateway)}/login", viewport=WIDE)
    await no_token.wait_for_selector("body[data-state=failed]")
    assert await no_token.text_content("#login-title") == "No sign-in link"
    expect_http_errors(page_errors, 401, 403, 404)
