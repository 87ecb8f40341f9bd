"""Every registered, non-public REST route refuses missing and invalid tokens with 401."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.auth import Role, issue_token
from handlers.keys import API_ROUTES
from tests.helpers import TEST_SECRET

Client = TestClient[Any, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _alg_none() -> str:
    header = _b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    now = int(time.time())
    payload = _b64(orjson.dumps({"role": "admin", "iat": now, "exp": now + 600}))
    return f"{header}.{payload}."


BAD_HEADERS = {
    "missing": None,
    "garbage": "Bearer not-a-jwt",
    "wrong_scheme": "Basic dXNlcjpwYXNz",
    "empty_bearer": "Bearer ",
    "forged": "Bearer " + issue_token("another-secret-0123456789abcdef-xyz", Role.ADMIN),
    "expired": "Bearer " + issue_token(TEST_SECRET, Role.ADMIN, ttl_s=60,
                                      now=time.time() - 3600),
    "alg_none": "Bearer " + _alg_none(),
}


def _concrete(path: str) -> str:
    return path.replace("{id}", str(uuid.uuid4()))


@pytest.mark.parametrize("case", list(BAD_HEADERS))
async def test_every_protected_route_needs_a_valid_token(client: Client, case: str) -> None:
    routes = [r for r in client.app[API_ROUTES] if not r.public]
    assert len(routes) >= 11
    value = BAD_HEADERS[case]
    headers = {"Authorization": value} if value is not None else {}
    for route in routes:
        resp = await client.request(route.method, _concrete(route.path), headers=headers,
                                    json={})
        assert resp.status == 401, (case, route.method, route.path, await resp.text())
        body = await resp.json()
        assert body["error"]["code"] in ("unauthorized", "token_expired")
        assert resp.headers.get("WWW-Authenticate") == "Bearer"


async def test_expired_has_its_own_code(client: Client) -> None:
    resp = await client.get("/api/personas", headers={"Authorization": BAD_HEADERS["expired"]})
    assert (await resp.json())["error"]["code"] == "token_expired"


async def test_candidate_is_refused_everywhere_but_its_two_routes(
    client: Client, token: Callable[..., str]
) -> None:
    headers = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id=uuid.uuid4())}"}
    allowed = {("POST", "/api/voice/elevenlabs-session"), ("GET", "/api/sessions/{id}")}
    mine = {"/api/personas", "/api/personas/{id}", "/api/scenarios", "/api/scenarios/{id}",
            "/api/sessions", "/api/sessions/{id}/end"}
    for route in client.app[API_ROUTES]:
        if route.public or (route.method, route.path) in allowed or route.path not in mine:
            continue
        resp = await client.request(route.method, _concrete(route.path), headers=headers,
                                    json={})
        assert resp.status == 403, (route.method, route.path)
