"""The people's pages: sign-in, home, admin console, interview set-up, sessions list, report.

Each page is a static template plus one ES module that talks to the REST API with the sign-in
cookie. The gateway checks the cookie before serving a page, so a visitor without one (or with
an expired one, or the wrong role) gets a page that says what happened and what to do, never a
raw JSON error. Pages carry no data in their HTML beyond the caller's role and an id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.auth import Claims, Role, authorize, verify_token
from gateway.errors import AuthError, ErrorCode, ForbiddenError, GatewayError, NotFoundError
from gateway.login import COOKIE_NAME
from handlers.assets import ASSETS, PAGE_HEADERS, StaticAssets, serve_asset
from handlers.http import parse_uuid
from handlers.keys import SETTINGS

__all__ = ["human_error", "page_response", "setup", "wants_html"]

Page = Callable[[web.Request], Awaitable[web.Response]]

SIGN_IN_HINT = (
    "On the gateway's machine, run: interview-gateway login-url --role interviewer "
    "(or --role admin), then open the link it prints."
)


def wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def page_response(
    request: web.Request, name: str, http_status: int = 200, **values: str
) -> web.Response:
    return web.Response(
        text=request.app[ASSETS].page(name, **values),
        status=http_status,
        content_type="text/html",
        charset="utf-8",
        headers=PAGE_HEADERS,
    )


def _explain(err: GatewayError, link_kind: str) -> tuple[str, str, str]:
    """Title, what happened and what to do, for a person."""
    if err.status == 401 and err.code == ErrorCode.TOKEN_EXPIRED:
        return (
            "This link has expired",
            f"The {link_kind} you opened was valid only for a limited time, and that time "
            "is over.",
            "Ask whoever sent it for a new one. " + SIGN_IN_HINT,
        )
    if err.status == 401 and "missing" in err.message:
        return ("Please sign in", "This page is for signed-in interviewers and admins.",
                SIGN_IN_HINT)
    if err.status == 401:
        return (
            "This link does not work",
            f"The {link_kind} is not valid here: it may have been cut short when it was "
            "copied, or it was made for another gateway.",
            "Copy the whole link again, or ask for a new one. " + SIGN_IN_HINT,
        )
    if err.status == 403:
        return (
            "Not available with this sign-in",
            f"You are signed in, but not for this page: {err.message}.",
            "Admin pages need a sign-in link made with --role admin; an interview's panel "
            "needs its own link or an interviewer sign-in.",
        )
    if err.status == 404:
        return (
            "Nothing here",
            "There is no interview with this address; it may have been mistyped.",
            "Open the list of interviews and pick it from there.",
        )
    return ("Something went wrong", err.message, "Try again in a moment.")


def human_error(request: web.Request, err: GatewayError, link_kind: str = "link") -> web.Response:
    title, message, hint = _explain(err, link_kind)
    return page_response(
        request, "message", http_status=err.status, title=title, message=message, hint=hint,
        code=str(err.code),
    )


def page_claims(request: web.Request, *, allow_query: bool = False) -> Claims:
    """The caller of a page: the sign-in cookie (or `?token=` where a link may carry one)."""
    token = request.query.get("token") if allow_query else None
    token = token or request.cookies.get(COOKIE_NAME)
    if not token:
        raise AuthError("missing sign-in")
    return verify_token(request.app[SETTINGS].secret(), token)


def _account(claims: Claims) -> Claims:
    if not claims.account_level:
        raise ForbiddenError("a link for one interview does not open the others")
    return claims


def _guard(check: Callable[[web.Request], Claims], name: str) -> Page:
    async def handler(request: web.Request) -> web.Response:
        try:
            claims = check(request)
        except GatewayError as err:
            return human_error(request, err, "sign-in")
        return page_response(request, name, role=claims.role.value)

    handler.__name__ = f"{name}_page"
    return handler


async def login_page(request: web.Request) -> web.Response:
    return page_response(request, "login", hint=SIGN_IN_HINT)


async def home_page(request: web.Request) -> web.Response:
    try:
        claims = page_claims(request)
    except GatewayError as err:
        if err.status == 401 and "missing" in err.message:
            return page_response(
                request, "message", title="Interview Gateway",
                message="Set up AI voice interviews, watch them live and read their reports.",
                hint=SIGN_IN_HINT, code="signed_out",
            )
        return human_error(request, err, "sign-in")
    return page_response(request, "home", role=claims.role.value)


async def report_page(request: web.Request) -> web.Response:
    try:
        session_id = parse_uuid(request.match_info["session_id"], "session")
        claims = authorize(
            page_claims(request, allow_query=True), frozenset({Role.INTERVIEWER}), session_id
        )
    except NotFoundError as err:
        return human_error(request, err)
    except GatewayError as err:
        return human_error(request, err, "report link")
    return page_response(request, "report", role=claims.role.value, session_id=str(session_id))


def _admin(request: web.Request) -> Claims:
    return authorize(page_claims(request), frozenset({Role.ADMIN}))


def _interviewer(request: web.Request) -> Claims:
    return _account(authorize(page_claims(request), frozenset({Role.INTERVIEWER})))


def setup(app: web.Application) -> None:
    app[ASSETS] = StaticAssets()
    app.router.add_get("/assets/{name}", serve_asset)
    app.router.add_get("/", home_page)
    app.router.add_get("/login", login_page)
    app.router.add_get("/admin", _guard(_admin, "admin"))
    app.router.add_get("/interviews", _guard(_interviewer, "sessions"))
    app.router.add_get("/interviews/new", _guard(_interviewer, "setup"))
    app.router.add_get("/interviews/{session_id}/report", report_page)
