"""REST analysis routes: `POST /api/voice/analyze` (202 / wait), the Say Meter history and the
suggestion feedback stats, with their auth outcomes. Offline analyzer, real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp.test_utils import TestClient

from gateway.auth import Role
from tests.helpers import create_session

Client = TestClient[Any, Any]
SEED = Path(__file__).resolve().parents[2] / "seeds" / "transcripts" / "strong.json"

INSERT_LINES = """
INSERT INTO voice_transcripts (session_id, round_number, seq, role, text, word_count)
SELECT $1, 1, t.seq, t.role, t.text, 5
FROM unnest($2::int[], $3::text[], $4::text[]) AS t(seq, role, text)
"""


async def add_lines(pool: asyncpg.Pool, sid: uuid.UUID, n: int) -> None:
    lines = orjson.loads(SEED.read_bytes())["messages"][:n]
    await pool.execute(
        INSERT_LINES, sid, list(range(1, n + 1)), [m["role"] for m in lines],
        [m["text"] for m in lines],
    )
    await pool.execute("UPDATE session_counters SET message_count = $2 WHERE session_id = $1",
                       sid, n)


def bearer(token: Callable[..., str], role: Role, sid: uuid.UUID | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, sid)}"}


async def test_analyze_auth_and_refusals(
    client: Client, pool: asyncpg.Pool, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    body = {"session_id": str(session_id)}
    mine = bearer(token, Role.INTERVIEWER, session_id)
    resp = await client.post("/api/voice/analyze", json=body)
    assert resp.status == 401
    resp = await client.post("/api/voice/analyze", json=body,
                             headers=bearer(token, Role.CANDIDATE, session_id))
    assert resp.status == 403
    resp = await client.post("/api/voice/analyze", json=body,
                             headers=bearer(token, Role.INTERVIEWER, uuid.uuid4()))
    assert resp.status == 403
    resp = await client.post("/api/voice/analyze", json={"session_id": str(uuid.uuid4())},
                             headers=bearer(token, Role.ADMIN))
    assert resp.status == 404
    resp = await client.post("/api/voice/analyze", json={**body, "force": True}, headers=mine)
    assert resp.status == 422
    resp = await client.post("/api/voice/analyze?wait=maybe", json=body, headers=mine)
    assert resp.status == 422
    resp = await client.post("/api/voice/analyze", json=body, headers=mine)
    assert resp.status == 409  # no transcript yet
    assert "at least 2 messages" in (await resp.json())["error"]["message"]

    await add_lines(pool, session_id, 6)
    resp = await client.post("/api/voice/analyze", json={**body, "round_number": 2},
                             headers=mine)
    assert resp.status == 409
    resp = await client.post(f"/api/sessions/{session_id}/end", headers=mine)
    assert resp.status == 200
    resp = await client.post("/api/voice/analyze", json=body, headers=mine)
    assert resp.status == 410  # an ended session is 410 on every path
    error = (await resp.json())["error"]
    assert error["message"] == "the session has ended" and error["code"] == "session_ended"


async def test_analyze_202_and_wait_then_history(
    client: Client, pool: asyncpg.Pool, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    await add_lines(pool, session_id, 12)
    mine = bearer(token, Role.INTERVIEWER, session_id)
    body = {"session_id": str(session_id), "round_number": 1}

    resp = await client.post("/api/voice/analyze", json=body, headers=mine)
    assert resp.status == 202
    scheduled = await resp.json()
    assert scheduled["status"] == "scheduled"
    first_id = scheduled["analysis_id"]
    history_url = f"/api/sessions/{session_id}/analysis"
    for _ in range(100):  # the 202 id is the id the run stores under
        history = await (await client.get(history_url, headers=mine)).json()
        if history["items"]:
            break
        await asyncio.sleep(0.05)
    assert [i["analysis_id"] for i in history["items"]] == [first_id]

    resp = await client.post("/api/voice/analyze?wait=true", json=body,
                             headers=bearer(token, Role.ADMIN))
    assert resp.status == 200
    result = await resp.json()
    assert result["type"] == "analysis" and result["session_id"] == str(session_id)
    assert result["round_number"] == 1 and result["message_count"] == 12
    assert result["analyzer"] == "offline" and result["rubric"]["blueprint"] == "sales"
    assert set(result["say_meter"]) == {"score", "band", "factors", "reasoning"}
    # The same window twice: the second run offers nothing the first one already did.
    first_texts = {
        r["suggestion_text"]
        for r in await pool.fetch(
            "SELECT suggestion_text FROM voice_analysis"
            " WHERE run_id = $1 AND analysis_type <> 'say_meter'",
            uuid.UUID(first_id),
        )
    }
    assert first_texts
    assert not first_texts & {s["text"] for s in result["suggestions"]}
    for suggestion in result["suggestions"]:
        assert set(suggestion) == {"suggestion_id", "type", "text", "priority", "label"}
    stored = await pool.fetchval(
        "SELECT count(*) FROM voice_analysis WHERE run_id = $1", uuid.UUID(result["analysis_id"])
    )
    assert stored == 1 + len(result["suggestions"])

    history = await (await client.get(history_url, headers=mine)).json()
    assert history["total"] == 2
    assert [i["analysis_id"] for i in history["items"]] == [result["analysis_id"], first_id]
    newest = history["items"][0]
    assert newest["score"] == result["say_meter"]["score"]
    assert newest["factors"] == result["say_meter"]["factors"]
    assert newest["band"] == result["say_meter"]["band"]
    assert newest["reasoning"] and newest["rubric"] == "sales" and newest["analyzer"] == "offline"
    page = await (await client.get(f"{history_url}?limit=1&offset=1", headers=mine)).json()
    assert [i["analysis_id"] for i in page["items"]] == [first_id] and page["total"] == 2
    empty = await (await client.get(f"{history_url}?offset=5", headers=mine)).json()
    assert empty["items"] == [] and empty["total"] == 2

    assert (await client.get(history_url, headers=bearer(token, Role.ADMIN))).status == 200
    assert (await client.get(history_url)).status == 401
    for headers in (bearer(token, Role.CANDIDATE, session_id),
                    bearer(token, Role.INTERVIEWER, uuid.uuid4())):
        assert (await client.get(history_url, headers=headers)).status == 403
    resp = await client.get(f"/api/sessions/{uuid.uuid4()}/analysis",
                            headers=bearer(token, Role.ADMIN))
    assert resp.status == 404
    assert (await client.get(f"{history_url}?limit=0", headers=mine)).status == 422


async def test_suggestion_feedback_stats_after_apply_and_dismiss(
    client: Client, pool: asyncpg.Pool, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    stats_url = "/api/analytics/suggestions"
    admin = bearer(token, Role.ADMIN)
    empty = await (await client.get(stats_url, headers=admin)).json()
    assert empty["overall"]["total"] == 0 and empty["groups"] == []

    await add_lines(pool, session_id, 12)
    other = await create_session(pool, "HR")
    await add_lines(pool, other, 8)
    runs = []
    for sid in (session_id, other):
        resp = await client.post("/api/voice/analyze?wait=true", json={"session_id": str(sid)},
                                 headers=admin)
        assert resp.status == 200
        runs.append(await resp.json())
    suggestions = runs[0]["suggestions"]
    applied = next(s for s in suggestions if s["type"] == "context_injection")
    dismissed = next(s for s in suggestions if s["type"] == "followup_question")

    panel_token = token(Role.INTERVIEWER, session_id)
    async with client.ws_connect(f"/ws/panel/{session_id}?token={panel_token}") as ws:
        async def until(kind: str) -> dict[str, Any]:
            while True:
                frame = orjson.loads((await ws.receive(timeout=5)).data)
                if frame["type"] == kind:
                    return dict(frame)

        await until("snapshot")
        await ws.send_str(orjson.dumps(
            {"type": "apply", "suggestion_id": applied["suggestion_id"]}).decode())
        assert (await until("suggestion_updated"))["status"] == "applied"
        await ws.send_str(orjson.dumps(
            {"type": "dismiss", "suggestion_id": dismissed["suggestion_id"]}).decode())
        assert (await until("suggestion_updated"))["status"] == "dismissed"

    stats = await (await client.get(stats_url, headers=admin)).json()
    total = len(runs[0]["suggestions"]) + len(runs[1]["suggestions"])
    overall = stats["overall"]
    assert (overall["total"], overall["applied"], overall["dismissed"]) == (total, 1, 1)
    assert overall["open"] == total - 2
    assert overall["applied_rate"] == round(1 / total, 4)
    by_type = {r["type"]: r for r in stats["by_type"]}
    assert by_type["context_injection"]["applied"] == 1
    assert by_type["followup_question"]["dismissed"] == 1
    assert by_type["context_injection"]["applied_rate"] == round(
        1 / by_type["context_injection"]["total"], 4
    )
    assert {r["blueprint"] for r in stats["by_blueprint"]} == {"sales", "HR"}
    assert sum(r["total"] for r in stats["by_priority"]) == total
    group = next(
        g for g in stats["groups"]
        if (g["type"], g["priority"], g["blueprint"]) == ("context_injection", applied["priority"],
                                                         "sales")
    )
    assert group["applied"] == 1
    assert sum(g["total"] for g in stats["groups"]) == total

    hr = await (await client.get(f"{stats_url}?blueprint=HR", headers=admin)).json()
    assert hr["overall"]["total"] == len(runs[1]["suggestions"])
    assert hr["overall"]["applied"] == hr["overall"]["dismissed"] == 0
    assert {r["blueprint"] for r in hr["by_blueprint"]} == {"HR"}
    later = await (await client.get(stats_url, params={"since": "2999-01-01T00:00:00Z"},
                                    headers=admin)).json()
    assert later["overall"]["total"] == 0

    assert (await client.get(stats_url)).status == 401
    resp = await client.get(stats_url, headers=bearer(token, Role.INTERVIEWER, session_id))
    assert resp.status == 403
    assert (await client.get(f"{stats_url}?blueprint=chess", headers=admin)).status == 422
    resp = await client.get(stats_url, params={"since": "2024-01-01T00:00:00"}, headers=admin)
    assert resp.status == 422  # a time zone is required
