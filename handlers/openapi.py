"""`GET /api/openapi.json`: an OpenAPI 3.1 document generated from the registered route table.

Schemas come from the pydantic models named by each `ApiRoute` (request bodies in validation
mode, responses in serialization mode), all collected under `components/schemas`; query models
are expanded into `in: query` parameters. Nothing here is written by hand per route.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from handlers.api import PUBLIC, ApiRoute, ApiRoutes, add_api_routes
from handlers.api_models import ErrorResponse
from handlers.http import json_response
from handlers.keys import API_ROUTES

__all__ = ["build_document", "setup"]

REF_TEMPLATE = "#/components/schemas/{model}"
TITLE = "Interview Gateway REST API"
VERSION = "0.1.0"

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Malformed JSON",
    401: "Missing, invalid or expired bearer token",
    403: "Token valid, but not allowed (role or session)",
    404: "Unknown id (or a malformed UUID)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "Content-Type must be application/json",
    422: "Validation failed; details carry field paths",
    502: "An upstream vendor kept failing",
    503: "A dependency is not configured or not ready",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def build_document(routes: Iterable[ApiRoute], *, server_url: str | None = None) -> dict[str, Any]:
    routes = list(routes)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for r in routes:
        if r.body is not None:
            wanted.append((r.body, "validation"))
        if r.query is not None:
            wanted.append((r.query, "validation"))
        wanted.extend((m, "serialization") for m in r.responses.values() if m is not None)
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    def ref_of(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
        return refs[(model, mode)]

    error_ref = ref_of(ErrorResponse, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.operation_id or _operation_id(r),
            "summary": r.summary,
            "tags": list(r.tags),
        }
        description = r.description or ""
        if r.roles:
            roles = ", ".join(role.value for role in r.roles)
            description = f"{description}\n\nRoles: {roles} (admin always allowed).".strip()
        if description:
            op["description"] = description
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": r.path_param_schema(name)}
            for name in r.path_param_names()
        ]
        if r.query is not None:
            params.extend(_query_params(schemas, ref_of(r.query, "validation")))
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of(r.body, "validation")}},
            }
        responses: dict[str, Any] = {}
        for status, model in sorted(r.responses.items()):
            entry: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Response")}
            if model is not None:
                entry["content"] = {
                    "application/json": {"schema": ref_of(model, "serialization")}
                }
            if status in r.links:
                entry["links"] = {name: dict(link) for name, link in r.links[status].items()}
            responses[str(status)] = entry
        for status in r.error_statuses():
            responses.setdefault(
                str(status),
                {
                    "description": _STATUS_TEXT.get(status, "Error"),
                    "content": {"application/json": {"schema": error_ref}},
                },
            )
        op["responses"] = responses
        op["security"] = [] if r.public else [{"bearerAuth": []}]
        paths.setdefault(r.path, {})[r.method.lower()] = op

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Errors are always JSON: "
            '`{"error": {"code": "...", "message": "...", "details": [...]}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


def _operation_id(route: ApiRoute) -> str:
    name = getattr(route.handler, "__name__", "")
    if name and name != "<lambda>":
        return name
    slug = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    return f"{route.method.lower()}_{slug}"


def _query_params(schemas: dict[str, Any], ref: dict[str, str]) -> list[dict[str, Any]]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    model_schema = schemas[name]
    required = set(model_schema.get("required", ()))
    params = []
    for prop, schema in model_schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": prop,
            "in": "query",
            "required": prop in required,
            "schema": {k: v for k, v in schema.items() if k != "description"},
        }
        if "description" in schema:
            param["description"] = schema["description"]
        params.append(param)
    return params


api = ApiRoutes()


@api.get(
    "/api/openapi.json",
    summary="This document",
    tags=("meta",),
    roles=PUBLIC,
    responses={200: None},
)
async def openapi_document(request: web.Request) -> web.Response:
    routes = request.app[API_ROUTES] if API_ROUTES in request.app else []
    return json_response(build_document(routes))


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
