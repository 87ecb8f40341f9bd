"""The analysis engine end to end: real sockets, real PostgreSQL, the offline analyzer in its
process pool. Frames in -> analyses after the 10th and 20th message -> rows stored -> `analysis`
events at a panel -> an applied suggestion reaches the candidate as a command."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from gateway.auth import Role
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "transcripts"

SELECT_RUNS = """
SELECT run_id, analysis_type, meter_score, meter_factors, reasoning, rubric, analyzer,
       suggestion_category, suggestion_text, priority, label, id, round_number
FROM voice_analysis WHERE session_id = $1 ORDER BY triggered_at, analysis_type <> 'say_meter'
"""


def seed_lines(name: str) -> list[dict[str, Any]]:
    data = orjson.loads((SEEDS / f"{name}.json").read_bytes())
    lines = data["messages"]
    assert isinstance(lines, list)
    return lines


def frames_from(name: str, n: int) -> list[dict[str, Any]]:
    lines = seed_lines(name)
    return [
        transcript(i + 1, lines[i % len(lines)]["text"], role=lines[i % len(lines)]["role"])
        for i in range(n)
    ]


async def panel_events_until(
    panel: Any, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not done(events):
        frame = await recv(panel)
        if "event_id" in frame:
            events.append(frame)
    return events


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


async def test_25_frames_two_analyses_stored_announced_and_applied(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    cand_url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    panel_url = ws_url(server_url, "panel", session_id, token(Role.INTERVIEWER, session_id))
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv_until(cand, "hello")
        frames = frames_from("strong", 25)
        for frame in frames[:10]:
            await send(cand, frame)
        # The 10th stored message triggers the first analysis.
        events = await panel_events_until(panel, lambda ev: len(of_type(ev, "analysis")) == 1)
        for frame in frames[10:]:
            await send(cand, frame)
        acks = [await recv_until(cand, "ack") for _ in range(25)]
        assert [a["seq"] for a in acks] == list(range(1, 26))
        events += await panel_events_until(
            panel,
            lambda ev: len(of_type(ev, "analysis")) == 1 and len(of_type(ev, "transcript")) == 15,
        )
        ids = [e["event_id"] for e in events]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # gap-free, in order
        analyses = of_type(events, "analysis")
        assert len(analyses) == 2
        assert of_type(events, "analysis_failed") == []
        first, second = analyses
        assert first["message_count"] == 10
        assert 20 <= second["message_count"] <= 25
        for a in analyses:
            meter = a["say_meter"]
            assert 0 <= meter["score"] <= 100 and meter["band"] in ("green", "yellow", "red")
            assert set(meter["factors"]) == {
                "rapport", "discovery", "objection_handling", "value_articulation",
                "closing_momentum",
            }
            assert meter["reasoning"]
            assert a["analyzer"] == "offline" and a["rubric"]["blueprint"] == "sales"
            assert a["round_number"] == 1 and a["at"]
            assert a["suggestions"] and all(s["suggestion_id"] for s in a["suggestions"])

        # Stored: one say_meter row + one row per suggestion per run, sharing the run id.
        rows = await pool.fetch(SELECT_RUNS, session_id)
        by_run: dict[str, list[asyncpg.Record]] = {}
        for r in rows:
            by_run.setdefault(str(r["run_id"]), []).append(r)
        assert set(by_run) == {a["analysis_id"] for a in analyses}
        for a in analyses:
            run_rows = by_run[a["analysis_id"]]
            meters = [r for r in run_rows if r["analysis_type"] == "say_meter"]
            assert len(meters) == 1
            assert meters[0]["meter_score"] == a["say_meter"]["score"]
            assert meters[0]["meter_factors"] == a["say_meter"]["factors"]
            assert meters[0]["reasoning"] == a["say_meter"]["reasoning"]
            assert (meters[0]["rubric"], meters[0]["analyzer"]) == ("sales", "offline")
            stored = {
                str(r["id"]): r for r in run_rows if r["analysis_type"] != "say_meter"
            }
            assert set(stored) == {s["suggestion_id"] for s in a["suggestions"]}
            expected_type = {"context_injection": "suggestion", "curveball": "curveball",
                             "followup_question": "followup"}
            for s in a["suggestions"]:
                row = stored[s["suggestion_id"]]
                assert row["suggestion_category"] == s["type"]
                assert row["analysis_type"] == expected_type[s["type"]]
                assert (row["suggestion_text"], row["priority"], row["label"]) == (
                    s["text"], s["priority"], s["label"]
                )
                assert row["round_number"] == 1

        # The events are in the log too (resume/snapshot read them back).
        logged = await pool.fetchval(
            "SELECT count(*) FROM live_events WHERE session_id = $1 AND event_type = 'analysis'",
            session_id,
        )
        assert logged == 2

        # Apply one of the announced suggestions: it reaches the candidate as a command.
        # (A later run never repeats an earlier suggestion, so look in both.)
        injection = next(
            s for a in (second, first) for s in a["suggestions"] if s["type"] == "context_injection"
        )
        await send(panel, {"type": "apply", "suggestion_id": injection["suggestion_id"]})
        command = await recv_until(cand, "command")
        assert command["command_type"] == "difficulty_change"
        assert command["payload"] == {"context_injection": injection["text"]}
        assert command["suggestion_id"] == injection["suggestion_id"]
        updated = await recv_until(panel, "suggestion_updated")
        assert updated["suggestion_id"] == injection["suggestion_id"]
        assert updated["status"] == "applied"

    # A fresh panel's snapshot shows the latest meter and both runs in the history.
    async with await open_ws(panel_url) as again:
        snap = await recv_until(again, "snapshot")
        assert snap["say_meter"]["analysis_id"] == second["analysis_id"]
        assert [h["analysis_id"] for h in snap["score_history"]] == [
            first["analysis_id"], second["analysis_id"]
        ]
        open_ids = {s["suggestion_id"] for s in snap["suggestions"]}
        assert injection["suggestion_id"] not in open_ids


async def test_panel_analyze_runs_one_now(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    cand_url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    panel_url = ws_url(server_url, "panel", session_id, token(Role.INTERVIEWER, session_id))
    async with await open_ws(panel_url) as panel, await open_ws(cand_url) as cand:
        await recv_until(panel, "snapshot")
        await recv_until(cand, "hello")
        await send(panel, {"type": "analyze"})  # nothing to analyze yet: skipped quietly
        for frame in frames_from("poor", 4):
            await send(cand, frame)
        for _ in range(4):
            await recv_until(cand, "ack")
        await send(panel, {"type": "analyze"})
        analysis = await recv_until(panel, "analysis")
        assert analysis["message_count"] == 4
    count = await pool.fetchval(
        "SELECT count(*) FROM voice_analysis WHERE session_id = $1 AND analysis_type = 'say_meter'",
        session_id,
    )
    assert count == 1
