"""Persona CRUD over HTTP: filters, pagination, validation, soft delete."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.auth import Role

SEEDED_SARAH = "3125e776-a5ee-4740-84ba-8a9535b83281"

Client = TestClient[Any, Any]


def new_persona(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Ada Byte",
        "role": "CTO",
        "blueprint": "fullstack",
        "difficulty": 4,
        "company_context": "A fintech scale-up.",
        "personality_traits": ["sharp", "curious"],
        "communication_style": "Terse.",
        "objection_patterns": ["Too slow."],
        "prompt_template": "You are {persona.name} at {scenario.industry}. "
        "{difficulty_instructions}",
        "first_message_template": "Hi, {persona.name} here.",
    }
    body.update(overrides)
    return body


async def test_list_defaults_active_only_stable_order(client: Client, admin_headers: Any) -> None:
    resp = await client.get("/api/personas", headers=admin_headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == len(body["items"]) > 0
    keys = [(p["blueprint"], p["difficulty"], p["name"]) for p in body["items"]]
    assert keys == sorted(keys)
    assert all(p["is_active"] for p in body["items"])


async def test_filters_and_pagination(client: Client, admin_headers: Any) -> None:
    h = admin_headers
    all_ = await (await client.get("/api/personas?limit=200", headers=h)).json()
    sales = await (await client.get("/api/personas?blueprint=sales", headers=h)).json()
    assert sales["total"] == sum(p["blueprint"] == "sales" for p in all_["items"]) > 0
    assert all(p["blueprint"] == "sales" for p in sales["items"])
    d = await (await client.get("/api/personas?difficulty=2", headers=h)).json()
    assert d["items"] and all(p["difficulty"] == 2 for p in d["items"])
    both = await (await client.get("/api/personas?blueprint=sales&difficulty=5", headers=h)).json()
    assert all(p["blueprint"] == "sales" and p["difficulty"] == 5 for p in both["items"])

    page1 = await (await client.get("/api/personas?limit=2&offset=0", headers=h)).json()
    page2 = await (await client.get("/api/personas?limit=2&offset=2", headers=h)).json()
    assert len(page1["items"]) == 2 and page1["total"] == all_["total"]
    assert [p["id"] for p in page1["items"] + page2["items"]] == [
        p["id"] for p in all_["items"][:4]
    ]
    beyond = await (await client.get("/api/personas?offset=1000", headers=h)).json()
    assert beyond == {"items": [], "total": all_["total"]}

    # soft-deleted ones appear with is_active=false / all
    assert (await client.delete(f"/api/personas/{SEEDED_SARAH}", headers=h)).status == 204
    active = await (await client.get("/api/personas?limit=200", headers=h)).json()
    inactive = await (await client.get("/api/personas?is_active=false", headers=h)).json()
    everything = await (await client.get("/api/personas?is_active=all&limit=200", headers=h)).json()
    assert [p["id"] for p in inactive["items"]] == [SEEDED_SARAH]
    assert active["total"] == all_["total"] - 1
    assert everything["total"] == all_["total"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "offset=-1", "difficulty=6", "difficulty=x", "blueprint=cooking",
     "is_active=maybe", "unknown=1"],
)
async def test_bad_query_is_422(client: Client, admin_headers: Any, query: str) -> None:
    resp = await client.get(f"/api/personas?{query}", headers=admin_headers)
    assert resp.status == 422
    err = (await resp.json())["error"]
    assert err["code"] == "validation_error"
    assert err["details"][0]["loc"].startswith("query.")


async def test_create_get_patch_delete(client: Client, admin_headers: Any) -> None:
    h = admin_headers
    resp = await client.post("/api/personas", json=new_persona(), headers=h)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert resp.headers["Location"] == f"/api/personas/{created['id']}"
    assert created["language"] == "en" and created["is_active"] is True
    got = await (await client.get(resp.headers["Location"], headers=h)).json()
    assert got == created

    await asyncio.sleep(0.01)
    resp = await client.patch(
        f"/api/personas/{created['id']}", json={"difficulty": 1, "personality_traits": []},
        headers=h,
    )
    assert resp.status == 200
    patched = await resp.json()
    assert patched["difficulty"] == 1 and patched["personality_traits"] == []
    assert patched["name"] == created["name"]
    assert patched["updated_at"] > created["updated_at"]

    noop = await client.patch(f"/api/personas/{created['id']}", json={}, headers=h)
    assert (await noop.json())["updated_at"] == patched["updated_at"]

    assert (await client.delete(f"/api/personas/{created['id']}", headers=h)).status == 204
    assert (await client.delete(f"/api/personas/{created['id']}", headers=h)).status == 204
    gone = await (await client.get(f"/api/personas/{created['id']}", headers=h)).json()
    assert gone["is_active"] is False
    restored = await client.patch(
        f"/api/personas/{created['id']}", json={"is_active": True}, headers=h
    )
    assert (await restored.json())["is_active"] is True


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("pid", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_unknown_or_malformed_id_is_404(
    client: Client, admin_headers: Any, method: str, pid: str
) -> None:
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}
    resp = await client.request(method, f"/api/personas/{pid}", headers=admin_headers, **kwargs)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"blueprint": "cooking"}, "blueprint"),
        ({"difficulty": 0}, "difficulty"),
        ({"difficulty": 6}, "difficulty"),
        ({"difficulty": "hard"}, "difficulty"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"role": None}, "role"),
        ({"company_context": "a\u0000b"}, "company_context"),
        ({"personality_traits": "calm"}, "personality_traits"),
        ({"personality_traits": [1]}, "personality_traits.0"),
        ({"objection_patterns": [""]}, "objection_patterns.0"),
        ({"objection_patterns": ["x"] * 51}, "objection_patterns"),
        ({"language": "english"}, "language"),
        ({"surprise": True}, "surprise"),
        ({"prompt_template": "Hi {persona.nickname}"}, "prompt_template"),
        ({"first_message_template": "Hi {candidate}"}, "first_message_template"),
    ],
)
async def test_create_validation(
    client: Client, admin_headers: Any, overrides: dict[str, Any], loc: str
) -> None:
    resp = await client.post("/api/personas", json=new_persona(**overrides), headers=admin_headers)
    assert resp.status == 422, await resp.text()
    details = (await resp.json())["error"]["details"]
    assert loc in [d["loc"] for d in details]


async def test_missing_required_field(client: Client, admin_headers: Any) -> None:
    body = new_persona()
    del body["company_context"]
    resp = await client.post("/api/personas", json=body, headers=admin_headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"][0]["loc"] == "company_context"


async def test_unknown_placeholder_is_named(client: Client, admin_headers: Any) -> None:
    body = new_persona(prompt_template="{persona.name} {scenario.budget} {persona.name}")
    resp = await client.post("/api/personas", json=body, headers=admin_headers)
    assert resp.status == 422
    detail = (await resp.json())["error"]["details"][0]
    assert detail["loc"] == "prompt_template"
    assert "{scenario.budget}" in detail["message"]
    # also on PATCH
    resp = await client.patch(
        f"/api/personas/{SEEDED_SARAH}", json={"prompt_template": "{oops}"}, headers=admin_headers
    )
    assert resp.status == 422
    assert "{oops}" in (await resp.json())["error"]["details"][0]["message"]


async def test_patch_refuses_null_and_unknown(client: Client, admin_headers: Any) -> None:
    url = f"/api/personas/{SEEDED_SARAH}"
    resp = await client.patch(url, json={"name": None}, headers=admin_headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"][0]["loc"] == "name"
    resp = await client.patch(url, json={"id": str(uuid.uuid4())}, headers=admin_headers)
    assert resp.status == 422


async def test_body_errors(client: Client, admin_headers: Any) -> None:
    h = admin_headers
    resp = await client.post("/api/personas", data=b"{not json", headers={
        **h, "Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
    resp = await client.post("/api/personas", data=b"name=x", headers={
        **h, "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    resp = await client.post("/api/personas", json=[1, 2], headers=h)
    assert resp.status == 422
    resp = await client.post("/api/personas", data=b"", headers={
        **h, "Content-Type": "application/json"})
    assert resp.status == 400


async def test_interviewer_reads_but_cannot_write(
    client: Client, token: Callable[..., str]
) -> None:
    h = {"Authorization": f"Bearer {token(Role.INTERVIEWER, session_id=uuid.uuid4())}"}
    assert (await client.get("/api/personas", headers=h)).status == 200
    assert (await client.get(f"/api/personas/{SEEDED_SARAH}", headers=h)).status == 200
    assert (await client.post("/api/personas", json=new_persona(), headers=h)).status == 403
    assert (await client.patch(f"/api/personas/{SEEDED_SARAH}", json={}, headers=h)).status == 403
    assert (await client.delete(f"/api/personas/{SEEDED_SARAH}", headers=h)).status == 403


async def test_candidate_cannot_read(client: Client, token: Callable[..., str]) -> None:
    h = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id=uuid.uuid4())}"}
    resp = await client.get("/api/personas", headers=h)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
