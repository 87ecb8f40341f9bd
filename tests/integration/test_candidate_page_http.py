"""`GET /candidate/{id}`: checked like the candidate socket, strict CSP, the SDK URL escaped."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.auth import Role
from handlers.app import create_app
from handlers.candidate_page import candidate_csp
from handlers.panel_page import CSP
from tests.helpers import make_settings


async def test_page_needs_this_sessions_candidate_token(
    client: Any, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    url = f"/candidate/{session_id}"
    assert (await client.get(url)).status == 401
    other = token(Role.CANDIDATE, uuid.uuid4())
    assert (await client.get(url, params={"token": other})).status == 403
    missing = uuid.uuid4()
    r = await client.get(f"/candidate/{missing}", params={"token": token(Role.ADMIN)})
    assert r.status == 404
    r = await client.get(url, params={"token": token(Role.CANDIDATE, session_id)})
    assert r.status == 200
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    body = await r.text()
    assert f'data-session-id="{session_id}"' in body and 'data-sdk-url=""' in body
    js = next(part.split('"')[0] for part in body.split('src="')[1:])
    asset = await client.get(js)
    assert asset.status == 200 and asset.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in asset.headers["Cache-Control"]


async def test_sdk_url_joins_the_csp_and_is_escaped(
    tmp_path: Path, db_dsn: str, session_id: uuid.UUID,
    token: Callable[..., str], aiohttp_client: Callable[..., Any],
) -> None:
    settings = make_settings(
        tmp_path, elevenlabs_sdk_url='https://sdk.example.com/client.js?a=1&b="x"'
    )
    client = await aiohttp_client(create_app(settings, db_dsn))
    r = await client.get(f"/candidate/{session_id}",
                         params={"token": token(Role.CANDIDATE, session_id)})
    assert r.status == 200
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self' https://sdk.example.com blob:;" in csp
    assert "connect-src 'self' ws: wss:" in csp and "object-src 'none'" in csp
    body = await r.text()
    assert 'data-sdk-url="https://sdk.example.com/client.js?a=1&amp;b=&quot;x&quot;"' in body
    local = make_settings(tmp_path, elevenlabs_sdk_url="/assets/elevenlabs-client.js")
    assert "script-src 'self' blob:;" in candidate_csp(local)
