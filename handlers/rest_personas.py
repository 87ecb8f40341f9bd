"""Persona CRUD: `/api/personas` (admin writes; admin and interviewers read)."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import Role
from handlers.api import ApiRoutes, add_api_routes, model_response, read_query
from handlers.api_models import Persona, PersonaCreate, PersonaList, PersonaQuery, PersonaUpdate
from handlers.http import parse_uuid, read_model
from handlers.keys import CATALOG

__all__ = ["setup"]

api = ApiRoutes()
READERS = (Role.ADMIN, Role.INTERVIEWER)
WRITERS = (Role.ADMIN,)
TAGS = ("personas",)


def _active_filter(value: str) -> bool | None:
    return None if value == "all" else value == "true"


@api.get(
    "/api/personas",
    summary="List personas",
    description="Filters by blueprint, difficulty and is_active (active only by default); "
    "ordered by blueprint, difficulty, name.",
    tags=TAGS, roles=READERS, query=PersonaQuery, responses={200: PersonaList},
)
async def list_personas(request: web.Request) -> web.Response:
    q = read_query(request, PersonaQuery)
    filters = {
        "blueprint": q.blueprint,
        "difficulty": q.difficulty,
        "is_active": _active_filter(q.is_active),
    }
    rows, total = await request.app[CATALOG].list_personas(filters, q.limit, q.offset)
    items = [Persona.model_validate(r) for r in rows]
    return model_response(PersonaList(items=items, total=total))


@api.get(
    "/api/personas/{id}", summary="Get a persona", tags=TAGS, roles=READERS,
    responses={200: Persona},
)
async def get_persona(request: web.Request) -> web.Response:
    persona_id = parse_uuid(request.match_info["id"], "persona")
    row = await request.app[CATALOG].persona(persona_id)
    return model_response(Persona.model_validate(row))


@api.post(
    "/api/personas",
    summary="Create a persona",
    description="Templates may use only the documented placeholders; an unknown one is a 422 "
    "naming it.",
    tags=TAGS, roles=WRITERS, body=PersonaCreate, responses={201: Persona},
    links={
        201: {
            "GetPersona": {
                "operationId": "get_persona", "parameters": {"id": "$response.body#/id"}
            },
            "UpdatePersona": {
                "operationId": "update_persona", "parameters": {"id": "$response.body#/id"}
            },
            "DeletePersona": {
                "operationId": "delete_persona", "parameters": {"id": "$response.body#/id"}
            },
        }
    },
)
async def create_persona(request: web.Request) -> web.Response:
    data = await read_model(request, PersonaCreate)
    row = await request.app[CATALOG].create_persona(data.model_dump())
    persona = Persona.model_validate(row)
    return model_response(persona, status=201, headers={"Location": f"/api/personas/{persona.id}"})


@api.patch(
    "/api/personas/{id}",
    summary="Update a persona (partial)",
    tags=TAGS, roles=WRITERS, body=PersonaUpdate, responses={200: Persona},
)
async def update_persona(request: web.Request) -> web.Response:
    persona_id = parse_uuid(request.match_info["id"], "persona")
    data = await read_model(request, PersonaUpdate)
    row = await request.app[CATALOG].update_persona(persona_id, data.changes())
    return model_response(Persona.model_validate(row))


@api.delete(
    "/api/personas/{id}",
    summary="Soft-delete a persona",
    description="Sets is_active=false; deleting twice is harmless.",
    tags=TAGS, roles=WRITERS, responses={204: None},
)
async def delete_persona(request: web.Request) -> web.Response:
    persona_id = parse_uuid(request.match_info["id"], "persona")
    await request.app[CATALOG].deactivate_persona(persona_id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
