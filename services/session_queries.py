"""The sessions list behind `/interviews` and `GET /api/sessions`."""

from __future__ import annotations

from typing import Any

from storage.pool import Pool
from storage.session_list import SessionFilters, list_sessions

__all__ = ["SessionFilters", "session_page"]

ENDED = ("completed", "cancelled")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    sid = r["id"]
    return {
        "session_id": sid,
        "status": r["status"],
        "round_number": r["round_number"],
        "candidate_name": r["candidate_name"],
        "blueprint": r["blueprint"],
        "created_at": r["created_at"],
        "started_at": r["started_at"],
        "ended_at": r["ended_at"],
        "persona": {
            "id": r["persona_id"],
            "name": r["persona_name"],
            "role": r["persona_role"],
            "difficulty": r["persona_difficulty"],
        }
        if r["persona_id"]
        else None,
        "scenario": {"id": r["scenario_id"], "name": r["scenario_name"]}
        if r["scenario_id"]
        else None,
        "message_count": r["message_count"],
        "latest_score": r["latest_score"],
        "final_score": r["latest_score"] if r["status"] in ENDED else None,
        "panel_url": f"/panel/{sid}",
        "report_url": f"/interviews/{sid}/report",
    }


async def session_page(
    pool: Pool, filters: SessionFilters, limit: int, offset: int
) -> dict[str, Any]:
    rows, total = await list_sessions(pool, filters, limit, offset)
    return {"items": [_row(r) for r in rows], "total": total, "limit": limit, "offset": offset}
