"""Grounded suggestions across analyses, through the gateway with the OpenAI analyzer against
the fake model server: what each suggestion responds to is stored and shown, a repeated intent
is not offered twice, resolved and stale suggestions expire (database, `suggestion_updated`,
snapshot), one critical at a time, a first red score alerts, the session's persona and scenario
reach the prompt, and our own schema rejected becomes `analysis_failed` with that reason."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from analysis.retry import RetryPolicy
from gateway.auth import Role
from handlers.app import create_app
from handlers.keys import ANALYSIS, ANALYSIS_RETRY
from tests.fakes.fake_openai import FakeOpenAI, error, ok, server_error, valid_result
from tests.helpers import make_settings
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


@pytest.fixture
async def gateway(
    aiohttp_server: Callable[..., Any], tmp_path: Path, db_dsn: str
) -> AsyncIterator[Gateway]:
    async with FakeOpenAI() as fake:
        settings = make_settings(
            tmp_path,
            analyzer="openai",
            openai_api_key="test",
            openai_base_url=fake.base_url,
            analysis_every=2,
            analysis_idle_s=0,
        )
        app: web.Application = create_app(settings, db_dsn)
        app[ANALYSIS_RETRY] = RetryPolicy(max_attempts=1)
        server = await aiohttp_server(app)
        yield Gateway(f"http://127.0.0.1:{server.port}", fake, app)


class Gateway(NamedTuple):
    url: str
    fake: FakeOpenAI
    app: web.Application


def hint(
    kind: str, text: str, intent: str, priority: str = "medium", quote: str | None = None
) -> dict[str, Any]:
    return {
        "type": kind,
        "text": text,
        "priority": priority,
        "label": "Pressure" if kind == "curveball" else None,
        "responds_to": quote,
        "intent": intent,
    }


def answer(*suggestions: dict[str, Any], resolved: list[str] | None = None, score: int = 70) -> Any:
    result = valid_result(score=score)
    result["suggestions"] = list(suggestions)
    result["resolved"] = resolved or []
    return ok(result)


class Call:
    def __init__(self, cand: Any, panel: Any) -> None:
        self.cand, self.panel, self.seq = cand, panel, 0

    async def turn(self, text: str, reply: str) -> list[dict[str, Any]]:
        """Two frames (one analysis); returns the panel events up to and including it, and
        what follows it in the same transaction (alerts, suggestion updates)."""
        for role, line in (("user", text), ("assistant", reply)):
            self.seq += 1
            await send(self.cand, transcript(self.seq, line, role=role))
        for _ in range(2):
            await recv_until(self.cand, "ack")
        events: list[dict[str, Any]] = []
        while True:
            frame = await recv(self.panel)
            if frame.get("type") in ("analysis", "analysis_failed"):
                events.append(frame)
                break
            if frame.get("type") not in ("transcript", "presence"):
                events.append(frame)
        return events

    async def after(self, last_event_id: int, count: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < count:
            frame = await recv(self.panel)
            if frame.get("event_id", 0) > last_event_id and frame["type"] != "transcript":
                out.append(frame)
        return out


async def open_call(url: str, sid: uuid.UUID, token: Callable[..., str]) -> tuple[Any, Any]:
    cand = await open_ws(ws_url(url, "candidate", sid, token(Role.CANDIDATE, sid)))
    panel = await open_ws(ws_url(url, "panel", sid, token(Role.INTERVIEWER, sid)))
    await recv_until(cand, "hello")
    await recv_until(panel, "snapshot")
    return cand, panel


async def test_suggestions_are_grounded_deduplicated_by_intent_and_expire(
    gateway: Gateway,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    url, fake, _ = gateway
    fake.script(
        answer(
            hint("followup_question", "Ask who owns the budget.", "followup:budget", "critical",
                 "It's tight this year"),
            hint("curveball", "A cheaper competitor just called.", "curveball:competitor",
                 "critical", "we are comparing vendors"),
            hint("context_injection", "Ask about ROI.", "persona:roi", quote="cost savings"),
        ),
        answer(  # budget again in other words; ROI resolved; a new one
            hint("followup_question", "Find out who approves spend.", "FollowUp: Budget"),
            hint("followup_question", "Ask when they must decide.", "followup:timeline",
                 quote="before the quarter ends"),
            resolved=["persona:roi"],
        ),
        answer(hint("followup_question", "When is the deadline?", "followup:timeline")),
    )
    cand, panel = await open_call(url, session_id, token)
    async with cand, panel:
        call = Call(cand, panel)
        [first] = await call.turn("Tell me about the budget.", "It's tight this year.")
        shown = first["suggestions"]
        assert [(s["intent"], s["priority"]) for s in shown] == [
            ("followup:budget", "critical"),
            ("curveball:competitor", "high"),  # one critical at a time
            ("persona:roi", "medium"),
        ]
        assert shown[0]["responds_to"] == "It's tight this year"
        assert all(s["analysis_id"] == first["analysis_id"] and s["at"] for s in shown)
        ids = {s["intent"]: s["suggestion_id"] for s in shown}

        [second] = await call.turn("Who decides?", "The CFO, before the quarter ends.")
        assert [s["intent"] for s in second["suggestions"]] == ["followup:timeline"]
        [expired] = await call.after(second["event_id"], 1)
        assert expired == {
            **expired,
            "type": "suggestion_updated",
            "suggestion_id": ids["persona:roi"],
            "status": "expired",
        }
        # The model was told what is still open, as data.
        user = [m["content"] for m in fake.completion_requests[1].messages if m["role"] == "user"]
        assert "intent followup:budget: Ask who owns the budget." in user[0]

        [third] = await call.turn("And the timeline?", "End of quarter.")
        assert third["suggestions"] == []  # timeline again: not offered twice
        # Not raised by two analyses in a row: the competitor curveball is moot now.
        [stale] = await call.after(third["event_id"], 1)
        assert stale["suggestion_id"] == ids["curveball:competitor"]
        assert stale["status"] == "expired"

    snap_panel = await open_ws(
        ws_url(url, "panel", session_id, token(Role.INTERVIEWER, session_id))
    )
    async with snap_panel:
        snap = await recv_until(snap_panel, "snapshot")
    open_now = {s["intent"]: s for s in snap["suggestions"]}
    assert set(open_now) == {"followup:budget", "followup:timeline"}
    assert open_now["followup:timeline"]["responds_to"] == "before the quarter ends"
    assert open_now["followup:budget"]["analysis_id"] == first["analysis_id"]
    rows = await pool.fetch(
        "SELECT intent, expired_at IS NOT NULL AS expired, stale_runs FROM voice_analysis"
        " WHERE session_id = $1 AND analysis_type <> 'say_meter' ORDER BY intent",
        session_id,
    )
    assert [(r["intent"], r["expired"]) for r in rows] == [
        ("curveball:competitor", True),
        ("followup:budget", False),
        ("followup:timeline", False),
        ("persona:roi", True),
    ]


async def test_a_first_score_already_red_raises_an_alert(
    gateway: Gateway, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url, fake, _ = gateway
    fake.script(answer(score=30), answer(score=28))
    cand, panel = await open_call(url, session_id, token)
    async with cand, panel:
        call = Call(cand, panel)
        [first] = await call.turn("Buy now.", "No thanks.")
        assert first["say_meter"]["score"] == 30 and first["say_meter"]["band"] == "red"
        [alert] = await call.after(first["event_id"], 1)
        assert alert["type"] == "alert" and alert["kind"] == "entered_red"
        assert alert["previous_score"] is None and alert["score"] == 30
        assert alert["analysis_id"] == first["analysis_id"] and "already red" in alert["message"]
        [second] = await call.turn("Really, buy now.", "Still no.")
        assert second["say_meter"]["score"] == 28
    # Staying red is not a new alert.
    fresh = await open_ws(ws_url(url, "panel", session_id, token(Role.INTERVIEWER, session_id)))
    async with fresh:
        snap = await recv_until(fresh, "snapshot")
    assert [a["analysis_id"] for a in snap["alerts"]] == [first["analysis_id"]]


async def test_the_sessions_persona_and_scenario_reach_the_prompt(
    gateway: Gateway,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    url, fake, _ = gateway
    row = await pool.fetchrow(
        "SELECT p.name, p.role, p.objection_patterns, sc.description, sc.pain_points,"
        " sc.budget_range, sc.decision_timeline"
        " FROM interview_scope_packages sp JOIN personas p ON p.id = sp.selected_persona_id"
        " JOIN scenarios sc ON sc.id = sp.selected_scenario_id WHERE sp.session_id = $1",
        session_id,
    )
    assert row is not None
    cand, panel = await open_call(url, session_id, token)
    async with cand, panel:
        call = Call(cand, panel)
        await call.turn("How do you plan today?", "By hand.")
        await call.turn("What does it cost you?", "Mornings.")
    first, second = (
        next(m["content"] for m in r.messages if m["role"] == "user")
        for r in fake.completion_requests
    )
    for text in (first, second):  # read once per session, sent with every run
        assert f"Name: {row['name']}" in text and f"Role: {row['role']}" in text
        assert f"- {row['objection_patterns'][0]}" in text
        assert f"Budget: {row['budget_range']}" in text
        assert f"Decision timeline: {row['decision_timeline']}" in text
        assert f"- {row['pain_points'][0]}" in text
        assert row["description"][:40] in text


async def test_our_schema_rejected_becomes_analysis_failed_with_that_reason(
    gateway: Gateway, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url, fake, _ = gateway
    fake.script(error(400, "Invalid schema for response_format 'say_meter_analysis': bad enum."))
    cand, panel = await open_call(url, session_id, token)
    async with cand, panel:
        [failed] = await Call(cand, panel).turn("Hello.", "Hi.")
    assert failed["type"] == "analysis_failed" and failed["reason"] == "schema_rejected"
    assert "rejected the analysis schema" in failed["message"]
    assert [r.response_format["type"] for r in fake.completion_requests] == ["json_schema"]


async def test_a_failed_final_run_is_retried_as_final_after_the_end(
    gateway: Gateway,
    session_id: uuid.UUID,
    token: Callable[..., str],
    pool: asyncpg.Pool,
) -> None:
    url, fake, app = gateway
    app[ANALYSIS].retry_after_s = 0.2
    fake.script(answer(), server_error(500))  # the count run, then the final run fails
    cand, panel = await open_call(url, session_id, token)
    async with cand, panel:
        call = Call(cand, panel)
        await call.turn("How do you plan today?", "By hand.")
        await send(cand, transcript(3, "Shall we book a demo?"))
        await recv_until(cand, "ack")
        headers = {"Authorization": f"Bearer {token(Role.INTERVIEWER, session_id)}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(f"{url}/api/sessions/{session_id}/end") as resp:
                assert resp.status == 200
        failed = await recv_until(panel, "analysis_failed")
        assert failed["retry_at"] is not None
        await recv_until(panel, "session_ended")
    for _ in range(100):  # the retry runs 0.2 s later, on the ended session
        final = await pool.fetchrow(
            "SELECT message_count FROM voice_analysis WHERE session_id = $1"
            " AND analysis_type = 'say_meter' AND is_final",
            session_id,
        )
        if final is not None:
            break
        await asyncio.sleep(0.05)
    assert final is not None and final["message_count"] == 3
    assert len(fake.completion_requests) == 3
