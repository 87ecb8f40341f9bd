"""What a panel sees when it (re)joins: one `snapshot` frame with the session's state."""

from __future__ import annotations

from typing import Any

from analysis.models import band_for
from analysis.rubrics import rubric_for, rubric_payload
from gateway.frames import iso
from gateway.settings import Settings
from storage.live import Snapshot

__all__ = ["snapshot_frame"]


def snapshot_frame(
    snap: Snapshot, settings: Settings, *, candidate_connected: bool
) -> dict[str, Any]:
    s = snap.session
    rubric = rubric_for(s.blueprint, settings.analysis_weights or None)
    meter = None
    if snap.meter is not None:
        m = snap.meter
        meter = {
            "analysis_id": str(m["run_id"]),
            "score": m["meter_score"],
            "band": band_for(m["meter_score"]),
            "factors": m["meter_factors"] or {},
            "reasoning": m["reasoning"],
            "final": m["is_final"],
            "at": iso(m["triggered_at"]),
        }
    return {
        "type": "snapshot",
        "session": {
            "id": str(s.id),
            "status": s.status,
            "round_number": s.round_number,
            "blueprint": s.blueprint,
            "language": s.language,
            "persona": {k: (str(v) if k == "id" else v) for k, v in s.persona.items()}
            if s.persona
            else None,
            "scenario": {k: str(v) for k, v in s.scenario.items()} if s.scenario else None,
            "rubric": rubric_payload(rubric),
        },
        "say_meter": meter,
        "suggestions": [
            {
                "suggestion_id": str(r["id"]),
                "analysis_id": str(r["run_id"]) if r["run_id"] else None,
                "type": r["suggestion_category"],
                "text": r["suggestion_text"],
                "priority": r["priority"],
                "label": r["label"],
                "responds_to": r["responds_to"],
                "intent": r["intent"],
                "at": iso(r["triggered_at"]),
                "status": "open",
            }
            for r in snap.suggestions
        ],
        "transcript": [
            {
                "message_id": str(r["id"]),
                "seq": r["seq"],
                "round_number": r["round_number"],
                "role": r["role"],
                "text": r["text"],
                "timestamp": iso(r["timestamp"]),
                "word_count": r["word_count"],
                "revision": r["revision"],
            }
            for r in snap.transcript
        ],
        "score_history": [
            {
                "analysis_id": str(r["run_id"]),
                "score": r["meter_score"],
                "band": band_for(r["meter_score"]),
                "final": r["is_final"],
                "at": iso(r["triggered_at"]),
            }
            for r in snap.history
        ],
        "alerts": [{**r["payload"], "event_id": r["event_id"]} for r in reversed(snap.alerts)],
        "message_count": s.message_count,
        "candidate_connected": candidate_connected,
        "last_event_id": s.last_event_id,
    }
