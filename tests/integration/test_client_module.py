"""`GET /client/candidate.js`: the browser candidate client module, importable cross-origin."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from handlers.client_module import MODULE, CandidateModule

Client = TestClient[Any, Any]


async def test_current_module_revalidates_and_is_importable_from_any_origin(
    client: Client,
) -> None:
    resp = await client.get("/client/candidate.js", headers={"Origin": "https://app.example"})
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    body = await resp.read()
    assert body == MODULE.read_bytes()
    assert b"export function connectCandidate" in body
    etag = resp.headers["ETag"]
    again = await client.get("/client/candidate.js", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""


async def test_pinned_version_is_immutable(client: Client) -> None:
    version = CandidateModule.load().version
    resp = await client.get(f"/client/candidate.{version}.js")
    assert resp.status == 200
    assert "immutable" in resp.headers["Cache-Control"]
    assert await resp.read() == MODULE.read_bytes()
    other = await client.get("/client/candidate.0.0.0.js")
    assert other.status == 404
    assert version in (await other.json())["error"]["message"]
