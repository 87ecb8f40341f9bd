"""Scenarios: `/api/scenarios` (admin writes; admin and interviewers read)."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Role
from handlers.api import ApiRoutes, add_api_routes, model_response, read_query
from handlers.api_models import (
    Scenario,
    ScenarioCreate,
    ScenarioList,
    ScenarioQuery,
    ScenarioUpdate,
)
from handlers.http import parse_uuid, read_model
from handlers.keys import CATALOG

__all__ = ["setup"]

api = ApiRoutes()
READERS = (Role.ADMIN, Role.INTERVIEWER)
WRITERS = (Role.ADMIN,)
TAGS = ("scenarios",)


@api.get(
    "/api/scenarios",
    summary="List scenarios",
    description="Filters by blueprint and is_active (active only by default); ordered by "
    "blueprint, name.",
    tags=TAGS, roles=READERS, query=ScenarioQuery, responses={200: ScenarioList},
)
async def list_scenarios(request: web.Request) -> web.Response:
    q = read_query(request, ScenarioQuery)
    filters = {
        "blueprint": q.blueprint,
        "is_active": None if q.is_active == "all" else q.is_active == "true",
    }
    rows, total = await request.app[CATALOG].list_scenarios(filters, q.limit, q.offset)
    items = [Scenario.model_validate(r) for r in rows]
    return model_response(ScenarioList(items=items, total=total))


@api.get(
    "/api/scenarios/{id}", summary="Get a scenario", tags=TAGS, roles=READERS,
    responses={200: Scenario},
)
async def get_scenario(request: web.Request) -> web.Response:
    scenario_id = parse_uuid(request.match_info["id"], "scenario")
    row = await request.app[CATALOG].scenario(scenario_id)
    return model_response(Scenario.model_validate(row))


@api.post(
    "/api/scenarios", summary="Create a scenario", tags=TAGS, roles=WRITERS,
    body=ScenarioCreate, responses={201: Scenario},
    links={
        201: {
            "GetScenario": {
                "operationId": "get_scenario", "parameters": {"id": "$response.body#/id"}
            },
            "UpdateScenario": {
                "operationId": "update_scenario", "parameters": {"id": "$response.body#/id"}
            },
        }
    },
)
async def create_scenario(request: web.Request) -> web.Response:
    data = await read_model(request, ScenarioCreate)
    row = await request.app[CATALOG].create_scenario(data.model_dump())
    scenario = Scenario.model_validate(row)
    return model_response(
        scenario, status=201, headers={"Location": f"/api/scenarios/{scenario.id}"}
    )


@api.patch(
    "/api/scenarios/{id}", summary="Update a scenario (partial)", tags=TAGS, roles=WRITERS,
    body=ScenarioUpdate, responses={200: Scenario},
)
async def update_scenario(request: web.Request) -> web.Response:
    scenario_id = parse_uuid(request.match_info["id"], "scenario")
    data = await read_model(request, ScenarioUpdate)
    row = await request.app[CATALOG].update_scenario(scenario_id, data.changes())
    return model_response(Scenario.model_validate(row))


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
