"""Used sign-in links: a link's id is recorded the first time it is traded for a cookie."""

from __future__ import annotations

from datetime import datetime

from storage.pool import DB

__all__ = ["claim_login_link"]

# Links expire within minutes; their ids are kept a day longer, then pruned by later claims.
CLAIM_LINK = """
WITH pruned AS (
  DELETE FROM login_links_used WHERE expires_at < now() - interval '1 day'
)
INSERT INTO login_links_used (jti, role, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (jti) DO NOTHING
RETURNING used_at
"""


async def claim_login_link(db: DB, jti: str, role: str, expires_at: datetime) -> bool:
    """True the first time a link id is claimed, False when it was used before."""
    return await db.fetchval(CLAIM_LINK, jti, role, expires_at) is not None
