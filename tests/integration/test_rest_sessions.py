"""Interview sessions over HTTP: create with scoped tokens, read, end (artifact, hooks)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway.auth import Role, verify_token
from handlers.keys import SESSIONS
from tests.helpers import TEST_SECRET

Client = TestClient[Any, Any]
SARAH = "3125e776-a5ee-4740-84ba-8a9535b83281"
LOGISTICS = "97247e0f-ad06-4af3-9c88-a71b28bb3e1b"


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def make_session(client: Client, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"persona_id": SARAH, "scenario_id": LOGISTICS, **extra}
    resp = await client.post("/api/sessions", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def test_create_session_rows_tokens_and_panel_url(
    client: Client, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    created = await make_session(client, admin_headers, round_number=2, candidate_name="Kim")
    sid = uuid.UUID(created["session_id"])
    assert created["status"] == "active" and created["round_number"] == 2
    cand = verify_token(TEST_SECRET, created["candidate_token"])
    inter = verify_token(TEST_SECRET, created["interviewer_token"])
    assert (cand.role, cand.session_id) == (Role.CANDIDATE, sid)
    assert (inter.role, inter.session_id) == (Role.INTERVIEWER, sid)
    host = f"{client.server.host}:{client.server.port}"
    assert created["panel_url"] == (
        f"http://{host}/panel/{sid}?token={created['interviewer_token']}"
    )
    pkg = await pool.fetchrow(
        "SELECT selected_persona_id, selected_scenario_id, blueprint FROM interview_scope_packages"
        " WHERE session_id = $1", sid,
    )
    assert pkg is not None
    assert (str(pkg[0]), str(pkg[1]), pkg[2]) == (SARAH, LOGISTICS, "sales")
    counters = "SELECT count(*) FROM session_counters WHERE session_id = $1"
    assert await pool.fetchval(counters, sid) == 1


async def test_public_url_setting_is_used(
    tmp_path: Any, db_dsn: str, admin_headers: Any, aiohttp_client: Callable[..., Any]
) -> None:
    from handlers.app import create_app
    from tests.helpers import make_settings

    settings = make_settings(tmp_path, public_url="https://gw.example.com/")
    client = await aiohttp_client(create_app(settings, db_dsn))
    created = await make_session(client, admin_headers)
    assert created["panel_url"].startswith(f"https://gw.example.com/panel/{created['session_id']}?")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"persona_id": str(uuid.uuid4()), "scenario_id": LOGISTICS}, "persona_id"),
        ({"persona_id": SARAH, "scenario_id": str(uuid.uuid4())}, "scenario_id"),
        ({"persona_id": "nope", "scenario_id": LOGISTICS}, "persona_id"),
        ({"persona_id": SARAH}, "scenario_id"),
        ({"persona_id": SARAH, "scenario_id": LOGISTICS, "round_number": 0}, "round_number"),
        ({"persona_id": SARAH, "scenario_id": LOGISTICS, "round_number": 101}, "round_number"),
        ({"persona_id": SARAH, "scenario_id": LOGISTICS, "x": 1}, "x"),
    ],
)
async def test_create_validation(
    client: Client, admin_headers: Any, body: dict[str, Any], loc: str
) -> None:
    resp = await client.post("/api/sessions", json=body, headers=admin_headers)
    assert resp.status == 422
    assert loc in [d["loc"] for d in (await resp.json())["error"]["details"]]


async def test_inactive_persona_or_scenario_refused(client: Client, admin_headers: Any) -> None:
    assert (await client.delete(f"/api/personas/{SARAH}", headers=admin_headers)).status == 204
    resp = await client.post(
        "/api/sessions", json={"persona_id": SARAH, "scenario_id": LOGISTICS},
        headers=admin_headers,
    )
    assert resp.status == 422
    err = (await resp.json())["error"]
    assert "inactive" in err["message"] and err["details"][0]["loc"] == "persona_id"
    await client.patch(f"/api/personas/{SARAH}", json={"is_active": True}, headers=admin_headers)
    await client.patch(f"/api/scenarios/{LOGISTICS}", json={"is_active": False},
                       headers=admin_headers)
    resp = await client.post(
        "/api/sessions", json={"persona_id": SARAH, "scenario_id": LOGISTICS},
        headers=admin_headers,
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["details"][0]["loc"] == "scenario_id"


async def test_get_session_detail_with_meter(
    client: Client, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    created = await make_session(client, admin_headers)
    sid = created["session_id"]
    resp = await client.get(f"/api/sessions/{sid}", headers=bearer(created["candidate_token"]))
    assert resp.status == 200
    detail = await resp.json()
    assert detail["persona"]["name"] == "Sarah Chen"
    assert detail["scenario"]["id"] == LOGISTICS
    assert detail["message_count"] == 0 and detail["latest_meter"] is None
    assert detail["voice_agent_id"] is None and detail["ended_at"] is None

    await pool.execute(
        "UPDATE session_counters SET message_count = 12 WHERE session_id = $1", uuid.UUID(sid)
    )
    for score in (40, 77):
        await pool.execute(
            "INSERT INTO voice_analysis (session_id, analysis_type, meter_score, meter_factors,"
            " label, triggered_at) VALUES ($1, 'say_meter', $2, $3, 'ok', now() + $4 * interval"
            " '1 second')", uuid.UUID(sid), score, {"rapport": score}, score,
        )
    detail = await (
        await client.get(f"/api/sessions/{sid}", headers=bearer(created["interviewer_token"]))
    ).json()
    assert detail["message_count"] == 12
    assert detail["latest_meter"]["score"] == 77
    assert detail["latest_meter"]["factors"] == {"rapport": 77}


async def test_session_scoping(
    client: Client, admin_headers: Any, token: Callable[..., str]
) -> None:
    a = await make_session(client, admin_headers)
    b = await make_session(client, admin_headers)
    # wrong session: 403 for both scoped roles, on read and on end
    for tok in (a["candidate_token"], a["interviewer_token"]):
        assert (await client.get(f"/api/sessions/{b['session_id']}", headers=bearer(tok))).status \
            == 403
    resp = await client.post(f"/api/sessions/{b['session_id']}/end",
                             headers=bearer(a["interviewer_token"]))
    assert resp.status == 403
    # candidates may not end or create sessions
    resp = await client.post(f"/api/sessions/{a['session_id']}/end",
                             headers=bearer(a["candidate_token"]))
    assert resp.status == 403
    resp = await client.post("/api/sessions", json={"persona_id": SARAH, "scenario_id": LOGISTICS},
                             headers=bearer(a["candidate_token"]))
    assert resp.status == 403
    # an interviewer token tied to one session may not create others; an account-level one may
    resp = await client.post("/api/sessions", json={"persona_id": SARAH, "scenario_id": LOGISTICS},
                             headers=bearer(a["interviewer_token"]))
    assert resp.status == 403
    assert "cannot create" in (await resp.json())["error"]["message"]
    await make_session(client, bearer(token(Role.INTERVIEWER)))


@pytest.mark.parametrize("sid", [str(uuid.uuid4()), "bad-id"])
async def test_unknown_session_is_404(client: Client, admin_headers: Any, sid: str) -> None:
    assert (await client.get(f"/api/sessions/{sid}", headers=admin_headers)).status == 404
    assert (await client.post(f"/api/sessions/{sid}/end", headers=admin_headers)).status == 404


async def test_end_stores_artifact_runs_hooks_once(
    client: Client, admin_headers: Any, pool: asyncpg.Pool
) -> None:
    seen: list[uuid.UUID] = []

    async def hook(session_id: uuid.UUID) -> None:
        seen.append(session_id)

    async def broken(session_id: uuid.UUID) -> None:
        raise RuntimeError("boom")

    client.app[SESSIONS].end_hooks.extend([broken, hook])
    created = await make_session(client, admin_headers)
    sid = uuid.UUID(created["session_id"])
    for i, (role, text) in enumerate([("assistant", "Hi there"), ("user", "Hello, Sarah")], 1):
        await pool.execute(
            "INSERT INTO voice_transcripts (session_id, role, text, seq, timestamp)"
            " VALUES ($1, $2, $3, $4, now() + $4::int * interval '1 second')", sid, role, text, i,
        )
    headers = bearer(created["interviewer_token"])
    resp = await client.post(f"/api/sessions/{sid}/end", headers=headers)
    assert resp.status == 200
    first = await resp.json()
    assert first["status"] == "completed" and first["already_ended"] is False
    assert first["message_count"] == 2 and first["ended_at"]
    assert seen == [sid]

    row = await pool.fetchrow(
        "SELECT status, ended_at, transcript_artifact FROM interview_sessions WHERE id = $1", sid
    )
    assert row is not None and row["ended_at"] is not None
    artifact = row["transcript_artifact"]
    assert [m["text"] for m in artifact["messages"]] == ["Hi there", "Hello, Sarah"]
    assert artifact["message_count"] == 2 and artifact["session_id"] == str(sid)

    again = await (await client.post(f"/api/sessions/{sid}/end", headers=headers)).json()
    assert again["already_ended"] is True and again["ended_at"] == first["ended_at"]
    assert seen == [sid]
    detail = await (await client.get(f"/api/sessions/{sid}", headers=headers)).json()
    assert detail["status"] == "completed" and detail["ended_at"] == first["ended_at"]
