"""An interview's report and transcript, as the report page and `GET /api/sessions/{id}/...`
return them: plain JSON-ready values, checked against the response models at the edge."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from analysis.models import band_for
from analysis.rubrics import rubric_for
from storage.pool import Pool
from storage.reports import load_report_rows, load_transcript_rows

__all__ = ["session_report", "session_transcript", "transcript_text"]

ENDED = ("completed", "cancelled")


def _session(s: Mapping[str, Any]) -> dict[str, Any]:
    persona = (
        {
            "id": s["persona_id"],
            "name": s["persona_name"],
            "role": s["persona_role"],
            "difficulty": s["persona_difficulty"],
        }
        if s["persona_id"]
        else None
    )
    scenario = (
        {"id": s["scenario_id"], "name": s["scenario_name"], "blueprint": s["scenario_blueprint"]}
        if s["scenario_id"]
        else None
    )
    return {
        "session_id": s["id"],
        "status": s["status"],
        "round_number": s["round_number"],
        "candidate_name": s["candidate_name"],
        "blueprint": s["blueprint"],
        "language": s["language"],
        "created_at": s["created_at"],
        "started_at": s["started_at"],
        "ended_at": s["ended_at"],
        "persona": persona,
        "scenario": scenario,
        "panel_url": f"/panel/{s['id']}",
        "report_url": f"/interviews/{s['id']}/report",
    }


def _speaker(role: str, persona_name: str | None) -> str:
    return "Candidate" if role == "user" else (persona_name or "Interviewer")


def _messages(rows: list[dict[str, Any]], persona_name: str | None) -> list[dict[str, Any]]:
    return [
        {
            "message_id": r["id"],
            "seq": r["seq"],
            "round_number": r["round_number"],
            "role": r["role"],
            "speaker": _speaker(r["role"], persona_name),
            "text": r["text"],
            "timestamp": r["timestamp"],
            "word_count": r["word_count"] or 0,
        }
        for r in rows
    ]


def _talk(messages: list[dict[str, Any]]) -> dict[str, Any]:
    words = {"user": 0, "assistant": 0}
    count = {"user": 0, "assistant": 0}
    for m in messages:
        words[m["role"]] += m["word_count"]
        count[m["role"]] += 1
    total = words["user"] + words["assistant"]
    return {
        "candidate_words": words["user"],
        "persona_words": words["assistant"],
        "candidate_messages": count["user"],
        "persona_messages": count["assistant"],
        "candidate_share": round(words["user"] / total, 4) if total else None,
    }


def _durations(session: Mapping[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    started: datetime = session["started_at"]
    end: datetime = session["ended_at"] or datetime.now(UTC)
    first = messages[0]["timestamp"] if messages else None
    last = messages[-1]["timestamp"] if messages else None
    return {
        "session_s": round(max(0.0, (end - started).total_seconds()), 1),
        "conversation_s": round((last - first).total_seconds(), 1) if first and last else None,
        "first_message_at": first,
        "last_message_at": last,
        "ongoing": session["ended_at"] is None,
    }


def _command(c: Mapping[str, Any]) -> dict[str, Any]:
    delivered = c["delivered_at"]
    return {
        "command_id": c["id"],
        "command_type": c["command_type"],
        "payload": c["payload"] or {},
        "source": c["source"],
        "suggestion_id": c["suggestion_id"],
        "status": c["status"],
        "created_at": c["created_at"],
        "delivered_at": delivered,
        "delivery_s": round((delivered - c["created_at"]).total_seconds(), 3)
        if delivered
        else None,
    }


async def session_report(
    pool: Pool,
    session_id: uuid.UUID,
    weights: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any] | None:
    """The whole interview: transcript, score and factor history, every suggestion and what
    became of it, every command and its delivery, durations and talk share. None if unknown."""
    rows = await load_report_rows(pool, session_id)
    if rows is None:
        return None
    s = rows.session
    messages = _messages(rows.transcript, s["persona_name"])
    rubric = rubric_for(s["blueprint"] or "sales", weights or None)
    history = [
        {
            "analysis_id": r["run_id"],
            "score": r["meter_score"],
            "band": band_for(r["meter_score"]) if r["meter_score"] is not None else None,
            "factors": r["meter_factors"] or {},
            "reasoning": r["reasoning"],
            "analyzer": r["analyzer"],
            "at": r["triggered_at"],
        }
        for r in rows.runs
    ]
    scored = [h for h in history if h["score"] is not None]
    latest = scored[-1]["score"] if scored else None
    counts: dict[str, int] = {}
    for sug in rows.suggestions:
        counts[sug["status"]] = counts.get(sug["status"], 0) + 1
    return {
        "session": _session(s),
        "rubric": {
            "blueprint": rubric.blueprint,
            "title": rubric.title,
            "factors": [{"name": f.name, "label": f.label} for f in rubric.factors],
        },
        "message_count": len(messages),
        "latest_score": latest,
        "final_score": latest if s["status"] in ENDED else None,
        "durations": _durations(s, messages),
        "talk": _talk(messages),
        "transcript": messages,
        "score_history": history,
        "suggestions": [
            {
                "suggestion_id": g["id"],
                "analysis_id": g["run_id"],
                "type": g["type"],
                "text": g["text"],
                "label": g["label"],
                "priority": g["priority"],
                "status": g["status"],
                "created_at": g["triggered_at"],
                "acted_at": g["acted_at"],
                "command_id": g["command_id"],
            }
            for g in rows.suggestions
        ],
        "suggestion_counts": counts,
        "commands": [_command(c) for c in rows.commands],
        "alerts": [
            {**(a["payload"] or {}), "event_id": a["event_id"], "at": a["created_at"]}
            for a in rows.alerts
        ],
    }


async def session_transcript(pool: Pool, session_id: uuid.UUID) -> dict[str, Any] | None:
    found = await load_transcript_rows(pool, session_id)
    if found is None:
        return None
    s, rows = found
    messages = _messages(rows, s["persona_name"])
    return {
        "session_id": s["id"],
        "status": s["status"],
        "candidate_name": s["candidate_name"],
        "persona_name": s["persona_name"],
        "message_count": len(messages),
        "messages": messages,
    }


def transcript_text(transcript: Mapping[str, Any]) -> str:
    """The transcript as a person reads it: `[10:15:02] Candidate: …`, one line per message."""
    lines = []
    for m in transcript["messages"]:
        ts: datetime | None = m["timestamp"]
        clock = ts.astimezone(UTC).strftime("%H:%M:%S") if ts else "--:--:--"
        lines.append(f"[{clock}] {m['speaker']}: {m['text']}")
    return "\n".join(lines) + ("\n" if lines else "")
