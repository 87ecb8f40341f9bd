"""The panel page over plain HTTP (no browser): who may load it, and the headers it ships with."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from client.interviews import create_interview as create_session
from gateway.auth import Role


async def new_session(client: TestClient[Any, Any], token: Callable[..., str]) -> dict[str, Any]:
    return await create_session(
        client,  # type: ignore[arg-type]  # TestClient speaks the ClientSession verbs we use
        "",
        token(Role.ADMIN),
        persona_name="Sarah Chen",
        scenario_name="Regional Logistics Dispatch Overhaul",
    )


async def test_interviewer_gets_the_page_with_a_strict_policy(
    client: TestClient[Any, Any], token: Callable[..., str]
) -> None:
    created = await new_session(client, token)
    sid = created["session_id"]
    assert created["panel_url"].endswith(f"/panel/{sid}?token={created['interviewer_token']}")
    resp = await client.get(f"/panel/{sid}", params={"token": created["interviewer_token"]})
    assert resp.status == 200
    assert resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self' ws: wss:" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    html = await resp.text()
    assert f'data-session-id="{sid}"' in html
    assert "{{" not in html  # every placeholder filled
    # No inline script or style: the CSP would block it anyway.
    assert not re.search(r"<script(?![^>]*\ssrc=)", html) and "<style" not in html

    for asset in re.findall(r'(?:href|src)="(/assets/[^"]+)"', html):
        got = await client.get(asset)
        assert got.status == 200
        assert "immutable" in got.headers["Cache-Control"]
        assert got.content_type in ("text/javascript", "text/css")
    assert (await client.get("/assets/panel.js")).status == 404

    admin = await client.get(f"/panel/{sid}", params={"token": token(Role.ADMIN)})
    assert admin.status == 200
    status = await client.get(
        f"/panel/{sid}/status", params={"token": created["interviewer_token"]}
    )
    assert await status.json() == {"session_id": sid, "status": "active"}


async def test_wrong_tokens_get_json_errors(
    client: TestClient[Any, Any], token: Callable[..., str]
) -> None:
    created = await new_session(client, token)
    sid = created["session_id"]
    cases = [
        ({}, 401),
        ({"token": "not-a-jwt"}, 401),
        ({"token": token(Role.INTERVIEWER, session_id=uuid.uuid4())}, 403),
        ({"token": created["candidate_token"]}, 403),
        ({"token": token(Role.INTERVIEWER, session_id=sid, ttl_s=-60)}, 401),
    ]
    for params, status in cases:
        resp = await client.get(f"/panel/{sid}", params=params)
        assert resp.status == status, params
        body = await resp.json()
        assert body["error"]["code"] in ("unauthorized", "forbidden", "token_expired")
    unknown = uuid.uuid4()
    resp = await client.get(f"/panel/{unknown}", params={"token": token(Role.ADMIN)})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/panel/not-a-uuid", params={"token": token(Role.ADMIN)})
    assert resp.status == 404
