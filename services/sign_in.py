"""Trading a sign-in link for a session token (the cookie a page keeps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.auth import Role, issue_token
from gateway.errors import AuthError, ErrorCode
from gateway.login import verify_login_token
from storage.login_links import claim_login_link
from storage.pool import DB

__all__ = ["SignedIn", "sign_in"]


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    role: Role
    subject: str
    ttl_s: int


async def sign_in(db: DB, secret: str, link_token: str, session_ttl_s: int) -> SignedIn:
    """Check the link, mark it used (a link works once), issue an account-level token."""
    link = verify_login_token(secret, link_token)
    expires = datetime.fromtimestamp(link.expires_at, UTC)
    if not await claim_login_link(db, link.jti, link.role.value, expires):
        raise AuthError(
            "this sign-in link was already used; ask for a new one",
            code=ErrorCode.TOKEN_EXPIRED,
        )
    subject = f"{link.role.value}:{link.name or link.jti[:12]}"
    token = issue_token(secret, link.role, ttl_s=session_ttl_s, subject=subject)
    return SignedIn(token=token, role=link.role, subject=subject, ttl_s=session_ttl_s)
