"""Signed bearer tokens (JWT, HS256): who is calling and which interview they may touch.

Roles: `admin` may do everything; `interviewer` watches and steers one session (a token with a
`session_id` claim) or, account-level (no `session_id`), sets up interviews and watches any of
them; `candidate` streams one session and always carries a `session_id`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

import jwt

from gateway.errors import AuthError, ErrorCode, ForbiddenError

__all__ = ["Claims", "Role", "authorize", "issue_token", "verify_token"]

ALGORITHM = "HS256"
_LEEWAY_S = 5


class Role(StrEnum):
    CANDIDATE = "candidate"
    INTERVIEWER = "interviewer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Claims:
    role: Role
    session_id: uuid.UUID | None
    subject: str
    expires_at: int

    @property
    def account_level(self) -> bool:
        """Admin, or an interviewer not tied to one session (may create interviews)."""
        return self.role is Role.ADMIN or (
            self.role is Role.INTERVIEWER and self.session_id is None
        )

    def may_access_session(self, session_id: uuid.UUID) -> bool:
        return self.account_level or self.session_id == session_id


def issue_token(
    secret: str,
    role: Role | str,
    *,
    session_id: uuid.UUID | str | None = None,
    ttl_s: int = 12 * 3600,
    subject: str | None = None,
    now: float | None = None,
) -> str:
    role = Role(role)
    if role is Role.CANDIDATE and session_id is None:
        raise ValueError("a candidate token needs a session id")
    issued = int(now if now is not None else time.time())
    payload: dict[str, object] = {
        "role": role.value,
        "sub": subject or f"{role.value}:{uuid.uuid4().hex[:12]}",
        "iat": issued,
        "exp": issued + int(ttl_s),
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        payload["session_id"] = str(uuid.UUID(str(session_id)))
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> Claims:
    """Decode and check a token; only HS256 is accepted, so `alg: none` and RS/HS confusion fail."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "role"]},
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired", code=ErrorCode.TOKEN_EXPIRED) from None
    except jwt.InvalidTokenError as err:
        raise AuthError(f"invalid token: {err}") from None
    try:
        role = Role(payload["role"])
        raw_sid = payload.get("session_id")
        session_id = uuid.UUID(str(raw_sid)) if raw_sid is not None else None
    except (ValueError, TypeError):
        raise AuthError("invalid token: bad role or session_id claim") from None
    if role is Role.CANDIDATE and session_id is None:
        raise AuthError("invalid token: session_id claim required for this role")
    return Claims(
        role=role,
        session_id=session_id,
        subject=str(payload.get("sub", "")),
        expires_at=int(payload["exp"]),
    )


def authorize(
    claims: Claims, roles: frozenset[Role] | set[Role], session_id: uuid.UUID | None = None
) -> Claims:
    """Raise 403 unless the caller has one of `roles` and, when given, may access `session_id`."""
    if claims.role is not Role.ADMIN and claims.role not in roles:
        raise ForbiddenError(f"role {claims.role} may not do this")
    if session_id is not None and not claims.may_access_session(session_id):
        raise ForbiddenError("token is scoped to another session")
    return claims
