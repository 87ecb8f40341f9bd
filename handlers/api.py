"""A small declarative route table for the REST API; the OpenAPI document is generated from it.

Every REST route is an `ApiRoute`: method, path, handler, the pydantic models of its request
body, query string and responses, the roles allowed, a summary and tags. `add_api_routes`
registers the routes with aiohttp *and* records them in `app[API_ROUTES]`, which
`handlers/openapi.py` turns into `GET /api/openapi.json`. Nothing else is needed to document a
route.

Usage (a module with its own `ApiRoutes` table and a `setup(app)`):

    api = ApiRoutes()

    @api.post("/api/things", summary="Create a thing", tags=("things",), roles=(Role.ADMIN,),
              body=ThingCreate, responses={201: Thing})
    async def create_thing(request: web.Request) -> web.Response:
        data = await read_model(request, ThingCreate)        # 415 / 400 / 422 handled
        ...
        return model_response(Thing(...), status=201)

    def setup(app: web.Application) -> None:
        add_api_routes(app, api)

Conventions:
- `roles` is required. The registry enforces it before the handler runs (401 without a valid
  token, 403 for another role; admin always passes). Pass `roles=PUBLIC` for an open route.
  Checks that need the request (a token scoped to one session) stay in the handler:
  `require(request, *roles, session_id=sid)`.
- Query strings are validated with `read_query(request, Model)` (422 with `query.<name>` paths).
- Path parameters are documented from the path; `{id}`-style parameters default to UUIDs
  (`path_params` overrides the schema per name). A malformed UUID is a 404 (`parse_uuid`).
- Error responses (401/403, 404, 400/413/415/422) are documented automatically from what the
  route declares; list extra ones in `errors`, e.g. `errors=(409, 502, 503)` -- including a
  404 for an unknown id in the *body* (only path parameters imply it).
- `links` (OpenAPI links from a response to other operations) let stateful testing follow a
  created resource to the routes that use it. The operationId is the handler's name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.auth import Role
from gateway.errors import InvalidInputError
from handlers.http import json_response, require, validation_details
from handlers.keys import API_ROUTES

__all__ = [
    "PUBLIC",
    "ApiRoute",
    "ApiRoutes",
    "Handler",
    "add_api_routes",
    "model_response",
    "read_query",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Handler)

PUBLIC: tuple[Role, ...] = ()
_UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One REST operation: everything aiohttp needs plus everything the OpenAPI document says."""

    method: str
    path: str
    handler: Handler
    roles: tuple[Role, ...]
    summary: str
    tags: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # status -> response model (None: no body, e.g. 204)
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=lambda: {200: None})
    errors: tuple[int, ...] = ()
    description: str | None = None
    path_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    operation_id: str | None = None
    # OpenAPI links per response status, passed through as written: {201: {"GetThing":
    # {"operationId": "get_thing", "parameters": {"id": "$response.body#/id"}}}}
    links: Mapping[int, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def public(self) -> bool:
        return not self.roles

    def path_param_names(self) -> list[str]:
        names: list[str] = []
        for part in self.path.split("/"):
            if part.startswith("{") and part.endswith("}"):
                names.append(part[1:-1].split(":", 1)[0])
        return names

    def path_param_schema(self, name: str) -> dict[str, Any]:
        return dict(self.path_params.get(name, _UUID_SCHEMA))

    def error_statuses(self) -> list[int]:
        """Every error status this operation may answer, for the document."""
        statuses = set(self.errors)
        if not self.public:
            statuses |= {401, 403}
        if self.path_param_names():
            statuses.add(404)
        if self.body is not None:
            statuses |= {400, 413, 415, 422}
        if self.query is not None:
            statuses.add(422)
        return sorted(statuses)


class ApiRoutes:
    """A module's route table, filled with decorators: `@api.get(path, ...)`."""

    def __init__(self) -> None:
        self.routes: list[ApiRoute] = []

    def __iter__(self) -> Any:
        return iter(self.routes)

    def add(self, route: ApiRoute) -> ApiRoute:
        self.routes.append(route)
        return route

    def route(self, method: str, path: str, **spec: Any) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.add(ApiRoute(method=method.upper(), path=path, handler=handler, **spec))
            return handler

        return register

    def get(self, path: str, **spec: Any) -> Callable[[H], H]:
        return self.route("GET", path, **spec)

    def post(self, path: str, **spec: Any) -> Callable[[H], H]:
        return self.route("POST", path, **spec)

    def patch(self, path: str, **spec: Any) -> Callable[[H], H]:
        return self.route("PATCH", path, **spec)

    def put(self, path: str, **spec: Any) -> Callable[[H], H]:
        return self.route("PUT", path, **spec)

    def delete(self, path: str, **spec: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, **spec)


def _guarded(route: ApiRoute) -> Handler:
    """Enforce the declared roles before the handler runs, so no route can forget auth."""
    if route.public:
        return route.handler
    roles = route.roles
    inner = route.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        require(request, *roles)
        return await inner(request)

    handler.__name__ = getattr(inner, "__name__", "handler")
    handler.__doc__ = inner.__doc__
    return handler


def add_api_routes(app: web.Application, routes: ApiRoutes | Iterable[ApiRoute]) -> None:
    """Register routes with aiohttp and record them for the OpenAPI document."""
    table = app.get(API_ROUTES)
    if table is None:
        table = []
        app[API_ROUTES] = table
    for route in routes:
        app.router.add_route(route.method, route.path, _guarded(route))
        table.append(route)


def read_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string with `model`; 422 with `query.<name>` paths on failure."""
    data = {key: request.query.getone(key) for key in request.query}
    try:
        return model.model_validate(data)
    except ValidationError as err:
        details = validation_details(err)
        for d in details:
            d["loc"] = f"query.{d['loc']}" if d["loc"] else "query"
        raise InvalidInputError("query string failed validation", details=details) from None


def model_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Serialize a response model (JSON mode, through orjson)."""
    return json_response(model.model_dump(mode="json"), status=status, headers=headers)
