"""Signing in from a printed link: `POST /api/auth/login` trades it for a session cookie.

The cookie holds an account-level token (HttpOnly, so page scripts never see it; SameSite=
Strict; Secure when the gateway is reached over https). Requests it authenticates that change
something must also carry `X-Requested-With` (checked in `handlers.http`), which a cross-site
form cannot send. REST clients keep using bearer tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.auth import Role, verify_token
from gateway.login import COOKIE_NAME
from handlers.api import PUBLIC, ApiRoutes, add_api_routes, model_response
from handlers.http import read_model, token_from_request
from handlers.keys import POOL, SETTINGS
from handlers.page_models import Me, SignedIn, SignIn
from services.sign_in import sign_in

__all__ = ["secure_cookies", "setup"]

api = ApiRoutes()
TAGS = ("auth",)


def secure_cookies(request: web.Request) -> bool:
    public = request.app[SETTINGS].public_url or ""
    return request.secure or public.startswith("https://")


@api.post(
    "/api/auth/login",
    summary="Sign in with a sign-in link",
    description="Trades the token of a link printed by `interview-gateway login-url` for a "
    "session cookie (HttpOnly, SameSite=Strict, Secure over https). A link works once and "
    "only until it expires (401 `token_expired` either way).",
    tags=TAGS, roles=PUBLIC, body=SignIn, responses={200: SignedIn}, errors=(401,),
)
async def login(request: web.Request) -> web.Response:
    data = await read_model(request, SignIn)
    settings = request.app[SETTINGS]
    signed = await sign_in(request.app[POOL], settings.secret(), data.token, settings.token_ttl_s)
    body = {"role": signed.role.value, "subject": signed.subject, "expires_in": signed.ttl_s}
    resp = model_response(SignedIn.model_validate(body))
    resp.set_cookie(
        COOKIE_NAME,
        signed.token,
        max_age=signed.ttl_s,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@api.post(
    "/api/auth/logout",
    summary="Sign out",
    description="Clears the session cookie. Harmless when not signed in.",
    tags=TAGS, roles=PUBLIC, responses={204: None},
)
async def logout(request: web.Request) -> web.Response:
    resp = web.Response(status=204)
    resp.del_cookie(COOKIE_NAME, path="/", secure=secure_cookies(request), samesite="Strict")
    return resp


@api.get(
    "/api/auth/me",
    summary="Who is signed in",
    description="The caller's role and scope, from the session cookie or a bearer token.",
    tags=TAGS, roles=(Role.ADMIN, Role.INTERVIEWER, Role.CANDIDATE), responses={200: Me},
)
async def me(request: web.Request) -> web.Response:
    claims = verify_token(request.app[SETTINGS].secret(), token_from_request(request))
    via = "bearer" if request.headers.get("Authorization") else "cookie"
    body = {
        "role": claims.role.value,
        "subject": claims.subject,
        "session_id": claims.session_id,
        "account_level": claims.account_level,
        "expires_at": datetime.fromtimestamp(claims.expires_at, UTC),
        "via": via,
    }
    return model_response(Me.model_validate(body), headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
