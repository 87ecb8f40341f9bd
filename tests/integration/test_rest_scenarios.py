"""Scenarios over HTTP: list filters, pagination, create, patch, validation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.auth import Role

Client = TestClient[Any, Any]


def new_scenario(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Warehouse robots",
        "description": "A 3PL wants to automate picking.",
        "industry": "logistics",
        "company_size": "a 900-person",
        "pain_points": ["labour shortage", "peak season errors"],
        "budget_range": "$200k",
        "decision_timeline": "Q3",
        "blueprint": "sales",
    }
    body.update(overrides)
    return body


async def test_list_filters_pagination(client: Client, admin_headers: Any) -> None:
    h = admin_headers
    everything = await (await client.get("/api/scenarios?limit=200", headers=h)).json()
    assert everything["total"] == len(everything["items"]) > 1
    keys = [(s["blueprint"] or "~", s["name"]) for s in everything["items"]]
    assert keys == sorted(keys)
    sales = await (await client.get("/api/scenarios?blueprint=sales", headers=h)).json()
    assert sales["items"] and all(s["blueprint"] == "sales" for s in sales["items"])
    page = await (await client.get("/api/scenarios?limit=1&offset=1", headers=h)).json()
    assert [s["id"] for s in page["items"]] == [everything["items"][1]["id"]]
    assert page["total"] == everything["total"]

    sid = everything["items"][0]["id"]
    resp = await client.patch(f"/api/scenarios/{sid}", json={"is_active": False}, headers=h)
    assert resp.status == 200
    active = await (await client.get("/api/scenarios?limit=200", headers=h)).json()
    inactive = await (await client.get("/api/scenarios?is_active=false", headers=h)).json()
    both = await (await client.get("/api/scenarios?is_active=all&limit=200", headers=h)).json()
    assert sid not in [s["id"] for s in active["items"]]
    assert [s["id"] for s in inactive["items"]] == [sid]
    assert both["total"] == everything["total"]


async def test_create_get_patch(client: Client, admin_headers: Any) -> None:
    h = admin_headers
    resp = await client.post("/api/scenarios", json=new_scenario(), headers=h)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert resp.headers["Location"] == f"/api/scenarios/{created['id']}"
    assert await (await client.get(resp.headers["Location"], headers=h)).json() == created
    resp = await client.patch(
        f"/api/scenarios/{created['id']}", json={"blueprint": None, "pain_points": ["x"]},
        headers=h,
    )
    patched = await resp.json()
    assert patched["blueprint"] is None and patched["pain_points"] == ["x"]
    assert patched["updated_at"] >= created["updated_at"]
    no_bp = new_scenario()
    del no_bp["blueprint"]
    resp = await client.post("/api/scenarios", json=no_bp, headers=h)
    assert resp.status == 201 and (await resp.json())["blueprint"] is None


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"name": ""}, "name"),
        ({"description": "x" * 5001}, "description"),
        ({"industry": None}, "industry"),
        ({"pain_points": [""]}, "pain_points.0"),
        ({"pain_points": "one"}, "pain_points"),
        ({"blueprint": "astrology"}, "blueprint"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_validation(
    client: Client, admin_headers: Any, overrides: dict[str, Any], loc: str
) -> None:
    body = new_scenario(**overrides)
    resp = await client.post("/api/scenarios", json=body, headers=admin_headers)
    assert resp.status == 422
    assert loc in [d["loc"] for d in (await resp.json())["error"]["details"]]


async def test_patch_null_required_field_refused(client: Client, admin_headers: Any) -> None:
    first = (await (await client.get("/api/scenarios", headers=admin_headers)).json())["items"][0]
    resp = await client.patch(
        f"/api/scenarios/{first['id']}", json={"name": None}, headers=admin_headers
    )
    assert resp.status == 422


@pytest.mark.parametrize("sid", [str(uuid.uuid4()), "zzz"])
async def test_unknown_id(client: Client, admin_headers: Any, sid: str) -> None:
    assert (await client.get(f"/api/scenarios/{sid}", headers=admin_headers)).status == 404
    resp = await client.patch(f"/api/scenarios/{sid}", json={}, headers=admin_headers)
    assert resp.status == 404


async def test_roles(client: Client, token: Callable[..., str]) -> None:
    inter = {"Authorization": f"Bearer {token(Role.INTERVIEWER, session_id=uuid.uuid4())}"}
    cand = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id=uuid.uuid4())}"}
    assert (await client.get("/api/scenarios", headers=inter)).status == 200
    assert (await client.post("/api/scenarios", json=new_scenario(), headers=inter)).status == 403
    assert (await client.get("/api/scenarios", headers=cand)).status == 403
