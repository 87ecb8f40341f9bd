"""Sign-in links: short-lived, single-use tokens a person trades for a session cookie.

`interview-gateway login-url` prints `<base>/login#token=<link token>`. The token sits in the
URL fragment, which browsers never send to the server, so it reaches no access log; the sign-in
page posts it once to `POST /api/auth/login` and strips it from the address bar and history.

A link token is a JWT signed with a key derived from the gateway secret (not the secret
itself), so it can never pass as a bearer token, and a bearer token can never pass as a link.
Its `jti` is recorded when it is used, so a link works once.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

import jwt

from gateway.auth import ALGORITHM, Role
from gateway.errors import AuthError, ErrorCode

__all__ = [
    "COOKIE_NAME",
    "LOGIN_ROLES",
    "LinkClaims",
    "issue_login_token",
    "login_url",
    "verify_login_token",
]

COOKIE_NAME = "ig_session"
LOGIN_ROLES = (Role.ADMIN, Role.INTERVIEWER)
DEFAULT_LINK_TTL_S = 600
_PURPOSE = "login"
_LEEWAY_S = 5


@dataclass(frozen=True, slots=True)
class LinkClaims:
    role: Role
    jti: str
    name: str | None
    expires_at: int


def _link_key(secret: str) -> str:
    return hashlib.sha256(f"interview-gateway sign-in link|{secret}".encode()).hexdigest()


def issue_login_token(
    secret: str,
    role: Role | str,
    *,
    ttl_s: int = DEFAULT_LINK_TTL_S,
    name: str | None = None,
    now: float | None = None,
) -> str:
    role = Role(role)
    if role not in LOGIN_ROLES:
        raise ValueError(f"sign-in links are for {', '.join(LOGIN_ROLES)}; not {role}")
    issued = int(now if now is not None else time.time())
    payload: dict[str, object] = {
        "purpose": _PURPOSE,
        "role": role.value,
        "iat": issued,
        "exp": issued + int(ttl_s),
        "jti": uuid.uuid4().hex,
    }
    if name:
        payload["name"] = name
    return jwt.encode(payload, _link_key(secret), algorithm=ALGORITHM)


def verify_login_token(secret: str, token: str) -> LinkClaims:
    try:
        payload = jwt.decode(
            token,
            _link_key(secret),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "role", "jti", "purpose"]},
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(
            "this sign-in link has expired", code=ErrorCode.TOKEN_EXPIRED
        ) from None
    except jwt.InvalidTokenError:
        raise AuthError("this is not a valid sign-in link") from None
    try:
        role = Role(payload["role"])
    except ValueError:
        raise AuthError("this is not a valid sign-in link") from None
    if payload.get("purpose") != _PURPOSE or role not in LOGIN_ROLES:
        raise AuthError("this is not a valid sign-in link")
    name = payload.get("name")
    return LinkClaims(
        role=role,
        jti=str(payload["jti"]),
        name=str(name) if name else None,
        expires_at=int(payload["exp"]),
    )


def login_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login#token={token}"
