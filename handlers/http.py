"""HTTP conventions shared by every REST route: JSON in and out, one error shape, auth."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import ClientPayloadError, web
from aiohttp.abc import AbstractAccessLogger
from pydantic import BaseModel, ValidationError

from gateway import metrics
from gateway.auth import Claims, Role, authorize, verify_token
from gateway.errors import (
    AuthError,
    BadRequestError,
    ErrorCode,
    ForbiddenError,
    GatewayError,
    InvalidInputError,
    NotFoundError,
)
from gateway.login import COOKIE_NAME
from gateway.metrics import CollectorRegistry, Counter, Histogram
from handlers.keys import METRICS, SETTINGS
from storage.errors import DB_ERRORS

__all__ = [
    "AccessLogger",
    "Metrics",
    "UnsupportedMediaError",
    "error_middleware",
    "json_response",
    "metrics_middleware",
    "parse_uuid",
    "read_model",
    "require",
    "token_from_request",
    "validation_details",
]

log = logging.getLogger("gateway.http")
M = TypeVar("M", bound=BaseModel)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Metrics:
    """The app's metrics registry (what `/metrics` shows) and its REST instruments."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram

    @classmethod
    def create(cls) -> Metrics:
        registry = metrics.new_registry()
        return cls(
            registry=registry,
            requests=Counter(
                "gateway_http_requests_total",
                "HTTP requests by route and status",
                ("method", "route", "status"),
                registry=registry,
            ),
            latency=Histogram(
                "gateway_http_request_seconds",
                "HTTP request latency in seconds",
                registry=registry,
                buckets=metrics.HTTP_BUCKETS,
            ),
        )


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or []}})


def _error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> web.Response:
    return web.Response(
        body=error_body(code, message, details), status=status, content_type="application/json"
    )


_HTTP_CODES = {
    400: ErrorCode.INVALID_JSON,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the JSON error shape: never an HTML page, never a 500 for bad input."""
    try:
        return await handler(request)
    except GatewayError as err:
        headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        resp = _error_response(err.status, err.code, err.message, err.details)
        if headers:
            resp.headers.update(headers)
        return resp
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(
            exc.status, ErrorCode.INTERNAL if exc.status >= 500 else ErrorCode.VALIDATION_ERROR
        )
        message = exc.reason if exc.status != 413 else "request body too large"
        resp = _error_response(exc.status, str(code), message)
        if exc.status == 405 and "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except DB_ERRORS as err:
        # The database went away mid-request (a restart, a failover): retryable, not a bug.
        log.warning("%s %s: database unavailable: %s", request.method, request.path, err)
        return _error_response(503, ErrorCode.UNAVAILABLE, "database unavailable; retry")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(500, ErrorCode.INTERNAL, "internal error")


def _message(msg: str) -> str:
    # pydantic prefixes the text of a ValueError raised in a validator; people need only the text.
    return msg.removeprefix("Value error, ")


def validation_details(err: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": ".".join(str(p) for p in e.get("loc", ())),
            "message": _message(e.get("msg", "")),
            "type": e.get("type", ""),
        }
        for e in err.errors(include_url=False, include_context=False, include_input=False)
    ]


class UnsupportedMediaError(GatewayError):
    status = 415
    default_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


async def read_model(request: web.Request, model: type[M]) -> M:
    """Read a JSON body into `model`: 415 wrong type, 400 malformed, 413 too big, 422 invalid."""
    if request.content_type != "application/json":
        raise UnsupportedMediaError("expected Content-Type: application/json")
    return await _read(request, model)


class ClientGone(GatewayError):
    """The client hung up before its body arrived: nobody is left to answer (logged at info)."""

    status = 400
    default_code = ErrorCode.INVALID_JSON


class BodyTimeout(GatewayError):
    status = 408
    default_code = ErrorCode.REQUEST_TIMEOUT


async def _read(request: web.Request, model: type[M]) -> M:
    try:
        async with asyncio.timeout(request.app[SETTINGS].http_body_timeout_s):
            raw = await request.read()
    except (ConnectionError, ClientPayloadError) as err:
        log.info("%s %s: client went away mid-body (%s)", request.method, request.path, err)
        raise ClientGone("request body incomplete: the client hung up") from None
    except TimeoutError:
        log.info("%s %s: request body too slow; closing", request.method, request.path)
        raise BodyTimeout("request body not received within HTTP_BODY_TIMEOUT") from None
    if not raw:
        raise BadRequestError("request body is empty; expected a JSON object")
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise BadRequestError(f"malformed JSON: {err}") from None
    try:
        # Strict: JSON types are not coerced (`"12"`, `true` or `1e2` for an integer, `0` for
        # a boolean are refused); strings still stand for UUIDs and date-times, as JSON has no
        # type of its own for them.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as err:
        raise InvalidInputError(
            "request body failed validation", details=validation_details(err)
        ) from None


def parse_uuid(value: str, what: str = "resource") -> uuid.UUID:
    """A malformed id is simply an id that does not exist: 404, not 400/500."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFoundError(f"{what} not found") from None


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-Requested-With"


def _check_cookie_request(request: web.Request) -> None:
    """CSRF defence for cookie sign-ins, beside SameSite=Strict: a request that changes state
    must carry a header no cross-site form can set, and a browser Origin must be this one."""
    origin = request.headers.get("Origin")
    if origin is not None:
        own = f"{request.scheme}://{request.host}"
        allowed = request.app[SETTINGS].allowed_origins
        if origin.rstrip("/") != own and origin.rstrip("/") not in allowed:
            raise ForbiddenError(f"origin {origin} may not use this sign-in")
    if request.method not in SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise ForbiddenError(
            f"a signed-in page must send the {CSRF_HEADER} header with requests that change "
            "something (CSRF protection)"
        )


def token_from_request(request: web.Request, *, allow_query: bool = False) -> str:
    """Bearer header first, then `?token=` where allowed (WebSockets, panel links), then the
    sign-in cookie of the pages."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization header must be 'Bearer <token>'")
        return token.strip()
    if allow_query and request.query.get("token"):
        return request.query["token"]
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        _check_cookie_request(request)
        return cookie
    raise AuthError("missing bearer token")


def require(
    request: web.Request,
    *roles: Role,
    session_id: uuid.UUID | None = None,
    allow_query: bool = False,
) -> Claims:
    """Authenticate the caller and check role and session scope (admin passes every check)."""
    settings = request.app[SETTINGS]
    claims = verify_token(settings.secret(), token_from_request(request, allow_query=allow_query))
    return authorize(claims, frozenset(roles), session_id)


class AccessLogger(AbstractAccessLogger):
    """Access log without query strings: `?token=` must never reach a log file."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_s: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time_s * 1000,
        )


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    app_metrics = request.app.get(METRICS)
    if app_metrics is not None:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        app_metrics.requests.labels(request.method, name, str(response.status)).inc()
        app_metrics.latency.observe(time.perf_counter() - started)
    return response
