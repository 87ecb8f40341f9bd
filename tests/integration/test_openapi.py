"""The route registry (handlers/api.py) and the generated OpenAPI document."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Role
from gateway.settings import Settings
from handlers.api import PUBLIC, ApiRoutes, add_api_routes, model_response, read_query
from handlers.app import create_app
from handlers.http import parse_uuid, read_model
from handlers.openapi import build_document


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)


class Thing(BaseModel):
    id: uuid.UUID
    name: str


class ThingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["a", "b"] = "a"
    limit: int = Field(10, ge=1, le=50, description="page size")


toy = ApiRoutes()


@toy.post("/api/things", summary="Create", tags=("things",), roles=(Role.INTERVIEWER,),
          body=ThingIn, responses={201: Thing})
async def create_thing(request: web.Request) -> web.Response:
    data = await read_model(request, ThingIn)
    return model_response(Thing(id=uuid.uuid4(), name=data.name), status=201)


@toy.get("/api/things/{id}", summary="Get", tags=("things",), roles=PUBLIC,
         query=ThingQuery, responses={200: Thing})
async def get_thing(request: web.Request) -> web.Response:
    q = read_query(request, ThingQuery)
    tid = parse_uuid(request.match_info["id"], "thing")
    return model_response(Thing(id=tid, name=f"{q.kind}{q.limit}"))


async def _toy_client(aiohttp_client: Callable[..., Any], settings: Settings, dsn: str) -> Any:
    app = create_app(settings, dsn)
    add_api_routes(app, toy)
    return await aiohttp_client(app)


async def test_registry_enforces_roles_and_documents_routes(
    settings: Settings, db_dsn: str,
    token: Callable[..., str], aiohttp_client: Callable[..., Any],
) -> None:
    client = await _toy_client(aiohttp_client, settings, db_dsn)
    assert (await client.post("/api/things", json={"name": "x"})).status == 401
    cand = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id=uuid.uuid4())}"}
    assert (await client.post("/api/things", json={"name": "x"}, headers=cand)).status == 403
    inter = {"Authorization": f"Bearer {token(Role.INTERVIEWER, session_id=uuid.uuid4())}"}
    resp = await client.post("/api/things", json={"name": "x"}, headers=inter)
    assert resp.status == 201
    resp = await client.post("/api/things", json={"name": ""}, headers=inter)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"][0]["loc"] == "name"

    tid = uuid.uuid4()
    resp = await client.get(f"/api/things/{tid}?kind=b&limit=3")
    assert await resp.json() == {"id": str(tid), "name": "b3"}
    resp = await client.get(f"/api/things/{tid}?limit=0")
    assert resp.status == 422
    assert (await resp.json())["error"]["details"][0]["loc"] == "query.limit"
    assert (await client.get(f"/api/things/{tid}?bogus=1")).status == 422
    assert (await client.get("/api/things/not-a-uuid")).status == 404

    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    post = doc["paths"]["/api/things"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].startswith(
        "#/components/schemas/"
    )
    assert {"201", "400", "401", "403", "415", "422"} <= set(post["responses"])
    get = doc["paths"]["/api/things/{id}"]["get"]
    assert get["security"] == []
    params = {p["name"]: p for p in get["parameters"]}
    assert params["id"]["in"] == "path" and params["id"]["schema"]["format"] == "uuid"
    assert params["limit"]["in"] == "query" and params["limit"]["schema"]["maximum"] == 50
    assert params["kind"]["schema"]["enum"] == ["a", "b"]
    assert "401" not in get["responses"]
    assert "ErrorResponse" in doc["components"]["schemas"]


def test_every_ref_resolves() -> None:
    doc = build_document(toy)
    schemas = doc["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.rsplit("/", 1)[-1] in schemas, ref
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)


async def test_openapi_served_without_auth(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert "/api/openapi.json" in (await resp.json())["paths"]
