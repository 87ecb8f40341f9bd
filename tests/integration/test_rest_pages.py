"""The REST routes behind the pages: sign-in cookies (and their CSRF rules), the sessions list,
a session's report and transcript, the persona preview, and the small contract fixes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway.auth import Role
from gateway.login import COOKIE_NAME, issue_login_token
from tests.helpers import TEST_SECRET

Client = TestClient[Any, Any]
SARAH = "3125e776-a5ee-4740-84ba-8a9535b83281"
LOGISTICS = "97247e0f-ad06-4af3-9c88-a71b28bb3e1b"
HR_SCENARIO_NAME = "Hypergrowth Hiring and Reorganisation"
CSRF = {"X-Requested-With": "test"}


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def sign_in(client: Client, role: str = "interviewer") -> dict[str, Any]:
    link = issue_login_token(TEST_SECRET, role, ttl_s=60)
    resp = await client.post("/api/auth/login", json={"token": link})
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def new_session(client: Client, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"persona_id": SARAH, "scenario_id": LOGISTICS, **extra}
    resp = await client.post("/api/sessions", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


# --- sign-in -------------------------------------------------------------------------------------


async def test_sign_in_link_becomes_an_httponly_strict_cookie_once(client: Client) -> None:
    link = issue_login_token(TEST_SECRET, Role.ADMIN, ttl_s=60, name="Ana")
    resp = await client.post("/api/auth/login", json={"token": link})
    assert resp.status == 200
    assert (await resp.json())["role"] == "admin"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure
    me = await client.get("/api/auth/me")
    assert me.status == 200
    body = await me.json()
    assert body["role"] == "admin" and body["via"] == "cookie" and body["account_level"]
    assert body["subject"] == "admin:Ana"

    again = await client.post("/api/auth/login", json={"token": link})
    assert again.status == 401
    err = (await again.json())["error"]
    assert err["code"] == "token_expired" and "already used" in err["message"]


async def test_bad_links_are_refused_and_links_are_not_bearer_tokens(
    client: Client, token: Callable[..., str]
) -> None:
    expired = issue_login_token(TEST_SECRET, "interviewer", ttl_s=60, now=time.time() - 3600)
    resp = await client.post("/api/auth/login", json={"token": expired})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_expired"
    # a bearer token is not a sign-in link, and a link is not a bearer token
    resp = await client.post("/api/auth/login", json={"token": token(Role.ADMIN)})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    link = issue_login_token(TEST_SECRET, "admin", ttl_s=60)
    assert (await client.get("/api/personas", headers=bearer(link))).status == 401
    forged = issue_login_token("another-secret-0123456789-0123456789abc", "admin")
    assert (await client.post("/api/auth/login", json={"token": forged})).status == 401
    assert (await client.post("/api/auth/login", json={"token": ""})).status == 422


async def test_cookie_requests_that_change_state_need_the_csrf_header_and_same_origin(
    client: Client,
) -> None:
    await sign_in(client, "admin")
    body = {"persona_id": SARAH, "scenario_id": LOGISTICS}
    refused = await client.post("/api/sessions", json=body)
    assert refused.status == 403
    assert "X-Requested-With" in (await refused.json())["error"]["message"]
    cross = await client.post(
        "/api/sessions", json=body, headers={**CSRF, "Origin": "https://evil.example"}
    )
    assert cross.status == 403
    own = f"http://{client.host}:{client.port}"
    ok = await client.post("/api/sessions", json=body, headers={**CSRF, "Origin": own})
    assert ok.status == 201
    # reads need no header
    assert (await client.get("/api/personas")).status == 200
    out = await client.post("/api/auth/logout", headers=CSRF)
    assert out.status == 204
    assert (await client.get("/api/personas")).status == 401


async def test_account_interviewer_sets_up_interviews_but_not_personas(client: Client) -> None:
    await sign_in(client, "interviewer")
    created = await new_session(client, CSRF, candidate_name="Kim Lee")
    assert created["candidate_url"].endswith(
        f"/candidate/{created['session_id']}?token={created['candidate_token']}"
    )
    assert created["report_url"].endswith(f"/interviews/{created['session_id']}/report")
    assert created["warnings"] == []
    resp = await client.post("/api/personas/preview", headers=CSRF, json={
        "scenario_id": LOGISTICS, "prompt_template": "x"})
    assert resp.status == 403
    # a panel page of any session opens with the cookie
    page = await client.get(f"/panel/{created['session_id']}")
    assert page.status == 200


# --- sessions list -------------------------------------------------------------------------------


async def _hr_ids(pool: asyncpg.Pool) -> tuple[str, str]:
    persona = await pool.fetchval("SELECT id FROM personas WHERE name = 'Samir Haddad'")
    scenario = await pool.fetchval("SELECT id FROM scenarios WHERE name = $1", HR_SCENARIO_NAME)
    return str(persona), str(scenario)


async def test_sessions_list_auth_paging_and_filters(
    client: Client, admin_headers: dict[str, str], token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    samir, hr_scenario = await _hr_ids(pool)
    sales = [
        await new_session(client, admin_headers, candidate_name=f"Sales {i}") for i in range(3)
    ]
    hr = await new_session(
        client, admin_headers, persona_id=samir, scenario_id=hr_scenario,
        candidate_name="Noor Haddad",
    )
    end = await client.post(f"/api/sessions/{sales[0]['session_id']}/end", headers=admin_headers)
    assert end.status == 200

    # auth: none, candidate, a token tied to one session: refused; account-level: fine
    assert (await client.get("/api/sessions")).status == 401
    for tok in (sales[1]["candidate_token"], sales[1]["interviewer_token"]):
        assert (await client.get("/api/sessions", headers=bearer(tok))).status == 403
    assert (await client.get("/api/sessions", headers=bearer(token(Role.INTERVIEWER)))).status \
        == 200

    async def page(**params: Any) -> dict[str, Any]:
        resp = await client.get("/api/sessions", params=params, headers=admin_headers)
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    everything = await page()
    assert everything["total"] == 4
    assert [r["candidate_name"] for r in everything["items"]] == [
        "Noor Haddad", "Sales 2", "Sales 1", "Sales 0"]  # newest first
    first, second = await page(limit=3), await page(limit=3, offset=3)
    assert first["total"] == second["total"] == 4
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert {r["session_id"] for r in first["items"] + second["items"]} == {
        r["session_id"] for r in everything["items"]}

    ended = await page(status="completed")
    assert [r["session_id"] for r in ended["items"]] == [sales[0]["session_id"]]
    row = ended["items"][0]
    assert row["panel_url"] == f"/panel/{row['session_id']}"
    assert row["report_url"] == f"/interviews/{row['session_id']}/report"
    assert row["persona"]["name"] == "Sarah Chen"
    assert row["scenario"]["name"] == "Regional Logistics Dispatch Overhaul"
    assert (await page(status="active"))["total"] == 3
    # blueprint in any case, answered in its one spelling
    for spelling in ("hr", "HR", "Hr"):
        found = await page(blueprint=spelling)
        assert [r["session_id"] for r in found["items"]] == [hr["session_id"]]
        assert found["items"][0]["blueprint"] == "HR"
    assert (await page(persona_id=samir))["total"] == 1
    assert (await page(scenario_id=LOGISTICS))["total"] == 3
    assert (await page(candidate="haDD"))["total"] == 1
    now = datetime.now(UTC)
    assert (await page(since=(now - timedelta(hours=1)).isoformat()))["total"] == 4
    assert (await page(since=(now + timedelta(hours=1)).isoformat()))["total"] == 0
    assert (await page(until=(now - timedelta(hours=1)).isoformat()))["total"] == 0

    for bad in ({"status": "gone"}, {"limit": "0"}, {"since": "yesterday"},
                {"since": "2026-01-01T00:00:00"},  # no zone
                {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()},
                {"colour": "red"}):
        resp = await client.get("/api/sessions", params=bad, headers=admin_headers)
        assert resp.status == 422, bad
        assert (await resp.json())["error"]["details"][0]["loc"].startswith("query")


# --- report and transcript -----------------------------------------------------------------------

SEED_RUN = """
WITH run AS (SELECT $2::uuid AS id, $1::uuid AS sid)
INSERT INTO voice_analysis (session_id, analysis_type, meter_score, meter_factors, reasoning,
                            suggestion_text, suggestion_category, priority, label, run_id,
                            analyzer)
SELECT run.sid, 'say_meter', 71, '{"rapport": 80, "discovery": 60}'::jsonb, 'Solid start.',
       NULL, NULL, NULL, NULL, run.id, 'offline' FROM run
UNION ALL SELECT run.sid, 'curveball', NULL, '{}', NULL, 'Your CFO asked for quotes', 'curveball',
       'high', 'Competitive Pressure', run.id, 'offline' FROM run
UNION ALL SELECT run.sid, 'suggestion', NULL, '{}', NULL, 'Mention a freeze', 'context_injection',
       'medium', NULL, run.id, 'offline' FROM run
UNION ALL SELECT run.sid, 'followup', NULL, '{}', NULL, 'Ask about success in 90 days',
       'followup_question', 'low', NULL, run.id, 'offline' FROM run
UNION ALL SELECT run.sid, 'followup', NULL, '{}', NULL, 'Ask who else decides',
       'followup_question', 'low', NULL, run.id, 'offline' FROM run
RETURNING id, suggestion_text
"""


async def _say(client: Client, sid: str, tok: str, seq: int, role: str, text: str) -> None:
    resp = await client.post(
        "/api/voice/transcript", headers=bearer(tok),
        json={"session_id": sid, "seq": seq, "role": role, "text": text},
    )
    assert resp.status == 201, await resp.text()


async def test_report_and_transcript(
    client: Client, admin_headers: dict[str, str], pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    from tests.wsclient import open_ws, recv, recv_until, send, ws_url

    created = await new_session(client, admin_headers, candidate_name="Kim Lee")
    sid, cand = created["session_id"], created["candidate_token"]
    await _say(client, sid, cand, 1, "assistant", "Hi, this is Sarah Chen.")
    await _say(client, sid, cand, 2, "user", "Thanks Sarah, what matters most to you this year?")
    rows = await pool.fetch(SEED_RUN, uuid.UUID(sid), uuid.uuid4())
    ids = {r["suggestion_text"]: str(r["id"]) for r in rows if r["suggestion_text"]}

    server = f"http://{client.host}:{client.port}"
    panel = await open_ws(ws_url(server, "panel", uuid.UUID(sid), created["interviewer_token"]))
    candidate = await open_ws(ws_url(server, "candidate", uuid.UUID(sid), cand))
    try:
        assert (await recv(panel))["type"] == "snapshot"
        await send(panel, {"type": "apply", "suggestion_id": ids["Your CFO asked for quotes"]})
        command = await recv_until(candidate, "command")
        await send(candidate, {"type": "command_ack", "command_id": command["command_id"]})
        await recv_until(panel, "command_delivered")
        await send(panel, {"type": "dismiss", "suggestion_id": ids["Mention a freeze"]})
        await recv_until(panel, "suggestion_updated")
        asked = ids["Ask about success in 90 days"]
        await send(panel, {"type": "mark_asked", "suggestion_id": asked})
        update = await recv_until(panel, "suggestion_updated")
        assert update["suggestion_id"] == asked and update["status"] == "asked"
        # asking twice changes nothing; a curveball cannot be "asked"; an asked one stays asked
        await send(panel, {"type": "mark_asked", "suggestion_id": asked})
        await send(panel, {"type": "mark_asked", "suggestion_id": ids["Mention a freeze"]})
        assert (await recv_until(panel, "error"))["code"] == "not_applicable"
        await send(panel, {"type": "dismiss", "suggestion_id": asked})
        assert (await recv_until(panel, "error"))["code"] == "not_applicable"
        await send(panel, {"type": "command", "command_type": "context_update",
                           "payload": {"text": "Budget is tight"}})
        await recv_until(candidate, "command")
    finally:
        await candidate.close()
        await panel.close()

    # the feedback analytics count "asked" like an apply
    stats = await client.get("/api/analytics/suggestions", headers=admin_headers)
    by_type = {r["type"]: r for r in (await stats.json())["by_type"]}
    assert by_type["followup_question"]["applied"] == 1
    assert by_type["followup_question"]["dismissed"] == 0

    # auth and 404s
    other = await new_session(client, admin_headers)
    assert (await client.get(f"/api/sessions/{sid}/report")).status == 401
    assert (await client.get(f"/api/sessions/{sid}/report",
                             headers=bearer(other["interviewer_token"]))).status == 403
    assert (await client.get(f"/api/sessions/{sid}/report",
                             headers=bearer(cand))).status == 403
    for path in (f"/api/sessions/{uuid.uuid4()}/report", "/api/sessions/nope/transcript"):
        assert (await client.get(path, headers=admin_headers)).status == 404

    end = await client.post(f"/api/sessions/{sid}/end", headers=admin_headers)
    assert end.status == 200
    resp = await client.get(f"/api/sessions/{sid}/report",
                            headers=bearer(created["interviewer_token"]))
    assert resp.status == 200
    report = await resp.json()
    assert report["session"]["status"] == "completed"
    assert report["session"]["candidate_name"] == "Kim Lee"
    # The end ran the call's final analysis over the two new messages: it is the final score.
    assert report["final_score"] == report["latest_score"] == report["score_history"][-1]["score"]
    assert len(report["score_history"]) == 2
    assert [m["speaker"] for m in report["transcript"]] == ["Sarah Chen", "Candidate"]
    assert report["message_count"] == 2
    talk = report["talk"]
    assert talk["candidate_words"] == 9 and talk["persona_words"] == 5
    assert talk["candidate_share"] == round(9 / 14, 4)
    statuses = {s["text"]: s["status"] for s in report["suggestions"]}
    seeded = {
        "Your CFO asked for quotes": "applied",
        "Mention a freeze": "dismissed",
        "Ask about success in 90 days": "asked",
        "Ask who else decides": "open",
    }
    assert {text: statuses[text] for text in seeded} == seeded
    counts = report["suggestion_counts"]
    assert (counts["applied"], counts["dismissed"], counts["asked"]) == (1, 1, 1)
    # the final analysis's own suggestions are open too
    assert counts["open"] == sum(1 for s in report["suggestions"] if s["status"] == "open") >= 1
    commands = {c["command_type"]: c for c in report["commands"]}
    assert commands["curveball_inject"]["source"] == "ai_suggested"
    assert commands["curveball_inject"]["delivery_s"] >= 0
    assert commands["context_update"]["delivered_at"] is None
    assert commands["context_update"]["delivery_s"] is None
    assert report["score_history"][0]["factors"] == {"rapport": 80, "discovery": 60}
    assert [f["name"] for f in report["rubric"]["factors"]][:2] == ["rapport", "discovery"]
    assert report["durations"]["ongoing"] is False

    # the ended session: sockets are refused (410), the REST transcript path too
    late = await client.post("/api/voice/transcript", headers=bearer(cand),
                             json={"session_id": sid, "seq": 3, "role": "user", "text": "hi"})
    assert late.status == 410
    refused = await client.get(f"/ws/panel/{sid}",
                               params={"token": created["interviewer_token"]})
    assert refused.status == 410

    transcript = await client.get(f"/api/sessions/{sid}/transcript", headers=admin_headers)
    body = await transcript.json()
    assert body["message_count"] == 2 and body["messages"][1]["text"].startswith("Thanks")
    text = await client.get(f"/api/sessions/{sid}/transcript",
                            headers={**admin_headers, "Accept": "text/plain"})
    assert text.content_type == "text/plain"
    lines = (await text.text()).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("] Sarah Chen: Hi, this is Sarah Chen.")
    assert lines[1].startswith("[") and "] Candidate: Thanks Sarah" in lines[1]


# --- personas: templates, blueprint case, preview ------------------------------------------------


def _persona(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Ines Duarte", "role": "Head of People", "blueprint": "hr", "difficulty": 2,
        "company_context": "A growing clinic network.", "communication_style": "Warm.",
        "prompt_template": "You are {persona.name}. {difficulty_instructions}",
        "first_message_template": "Hi, I'm {persona.name}.",
    }
    body.update(overrides)
    return body


async def test_templates_refuse_stray_braces_with_plain_messages(
    client: Client, admin_headers: dict[str, str]
) -> None:
    cases = {
        "Hi {persona.name": "{persona.name is missing its closing }",
        "Hi { persona.name }": "remove the spaces inside { persona.name }: write {persona.name}",
        "Hi persona.name}": "persona.name} is missing its opening {",
        "Hi {persona.nickname}": "unknown placeholder(s): {persona.nickname}",
    }
    for template, message in cases.items():
        resp = await client.post("/api/personas", headers=admin_headers,
                                 json=_persona(first_message_template=template))
        assert resp.status == 422, template
        detail = (await resp.json())["error"]["details"][0]
        assert detail["loc"] == "first_message_template"
        assert detail["message"] == message  # no "Value error, " prefix
    resp = await client.post("/api/personas", headers=admin_headers, json=_persona())
    assert resp.status == 201
    created = await resp.json()
    assert created["blueprint"] == "HR"  # any case in, one spelling out
    listed = await client.get("/api/personas", params={"blueprint": "hr"}, headers=admin_headers)
    assert created["id"] in {p["id"] for p in (await listed.json())["items"]}
    patch = await client.patch(f"/api/personas/{created['id']}", headers=admin_headers,
                               json={"prompt_template": "{ scenario.name }"})
    assert patch.status == 422


async def test_preview_renders_against_a_scenario(
    client: Client, admin_headers: dict[str, str], token: Callable[..., str]
) -> None:
    body = {
        "scenario_id": LOGISTICS, "name": "Ines Duarte", "role": "Head of People",
        "difficulty": 4, "pain_points_ignored": None,
    }
    body.pop("pain_points_ignored")
    body["prompt_template"] = "{persona.name} at {scenario.industry}. {difficulty_instructions}"
    body["first_message_template"] = "Hi, I'm {persona.name}, {persona.role}."
    resp = await client.post("/api/personas/preview", headers=admin_headers, json=body)
    assert resp.status == 200, await resp.text()
    out = await resp.json()
    assert out["first_message"] == "Hi, I'm Ines Duarte, Head of People."
    assert out["prompt"].startswith("Ines Duarte at logistics.")
    assert "Difficulty 4 (challenging)" in out["prompt"]
    assert out["difficulty_instructions"].startswith("Difficulty 4")
    assert out["scenario"]["name"] == "Regional Logistics Dispatch Overhaul"

    bad = await client.post("/api/personas/preview", headers=admin_headers,
                            json={**body, "prompt_template": "{persona.name"})
    assert bad.status == 422
    assert (await bad.json())["error"]["details"][0]["message"] == (
        "{persona.name is missing its closing }")
    gone = await client.post("/api/personas/preview", headers=admin_headers,
                             json={**body, "scenario_id": str(uuid.uuid4())})
    assert gone.status == 404
    interviewer = await client.post("/api/personas/preview", json=body,
                                    headers=bearer(token(Role.INTERVIEWER)))
    assert interviewer.status == 403


async def test_mismatched_tracks_are_warned_not_refused(
    client: Client, admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    _, hr_scenario = await _hr_ids(pool)
    created = await new_session(client, admin_headers, scenario_id=hr_scenario)
    assert created["warnings"] == [
        "This sales persona meets a scenario written for HR: the conversation may not fit the "
        "scenario"
    ]
    general = await pool.fetchval("SELECT id FROM scenarios WHERE blueprint IS NULL LIMIT 1")
    assert (await new_session(client, admin_headers, scenario_id=str(general)))["warnings"] == []


async def test_seed_first_messages_introduce_the_persona(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch("SELECT name, first_message_template FROM personas")
    # "Hi, {persona.name}, …" greets the candidate with the persona's own name
    greeting_then_name = []
    for r in rows:
        before, found, after = r["first_message_template"].partition("{persona.name}")
        greeting = before.strip().rstrip(",") in ("Hi", "Hello", "Guten Tag", "Hola")
        if found and greeting and after[:1] in (",", "."):
            greeting_then_name.append(r["name"])
    assert greeting_then_name == []
    samir = next(r for r in rows if r["name"] == "Samir Haddad")
    assert samir["first_message_template"].startswith("Hi, I'm {persona.name}, {persona.role}.")


async def test_openapi_lists_the_page_routes(client: Client) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    assert "get" in paths["/api/sessions"] and "post" in paths["/api/sessions"]
    for path, method in (
        ("/api/sessions/{id}/report", "get"), ("/api/sessions/{id}/transcript", "get"),
        ("/api/personas/preview", "post"), ("/api/auth/login", "post"),
        ("/api/auth/logout", "post"), ("/api/auth/me", "get"),
    ):
        assert method in paths[path], path
    params = {p["name"] for p in paths["/api/sessions"]["get"]["parameters"]}
    assert {"status", "blueprint", "persona_id", "candidate", "since", "until", "limit",
            "offset"} <= params
    report = paths["/api/sessions/{id}/report"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(report)


async def test_the_cookie_is_secure_behind_https(
    db_dsn: str, tmp_path: Any, aiohttp_client: Callable[..., Any]
) -> None:
    from handlers.app import create_app
    from tests.helpers import make_settings

    settings = make_settings(tmp_path, public_url="https://gateway.example")
    client = await aiohttp_client(create_app(settings, db_dsn))
    link = issue_login_token(TEST_SECRET, Role.INTERVIEWER, ttl_s=60)
    resp = await client.post("/api/auth/login", json={"token": link})
    assert resp.status == 200
    assert "Secure" in resp.headers["Set-Cookie"]
