"""A session's analysis boundary in the database (migration 0010): what the last finished run
covered, and the lease a running analysis holds, so boundaries survive the process that saw
them and two processes never analyze the same boundary."""

from __future__ import annotations

import uuid

from storage.pool import DB

__all__ = ["claim_boundary", "owed_sessions", "settle_boundary"]

# Taken only if the lease is free (or expired) and `up_to` is not covered yet.
CLAIM = """
INSERT INTO analysis_progress AS p (session_id, lease_run, lease_until)
VALUES ($1, $2, now() + make_interval(secs => $4))
ON CONFLICT (session_id) DO UPDATE
SET lease_run = EXCLUDED.lease_run, lease_until = EXCLUDED.lease_until
WHERE (p.lease_until IS NULL OR p.lease_until < now()) AND p.analyzed_through < $3
RETURNING TRUE
"""

# Covered through `covered`; the lease is dropped only by the run that holds it.
SETTLE = """
INSERT INTO analysis_progress AS p (session_id, analyzed_through) VALUES ($1, $3)
ON CONFLICT (session_id) DO UPDATE
SET analyzed_through = GREATEST(p.analyzed_through, EXCLUDED.analyzed_through),
    lease_run = CASE WHEN p.lease_run = $2 THEN NULL ELSE p.lease_run END,
    lease_until = CASE WHEN p.lease_run = $2 THEN NULL ELSE p.lease_until END
"""

# Active sessions past a boundary their last run did not cover, with no live lease, that
# stored a message recently (the newest row by the (session_id, event_id) index).
OWED = """
SELECT c.session_id, (c.message_count / $1) * $1 AS boundary
FROM session_counters c
JOIN interview_sessions s ON s.id = c.session_id AND s.status = 'active'
LEFT JOIN analysis_progress p ON p.session_id = c.session_id
WHERE c.message_count >= $1
  AND (c.message_count / $1) * $1 > COALESCE(p.analyzed_through, 0)
  AND (p.lease_until IS NULL OR p.lease_until < now())
  AND (SELECT v.created_at FROM voice_transcripts v
       WHERE v.session_id = c.session_id ORDER BY v.event_id DESC LIMIT 1)
      > now() - make_interval(secs => $3)
ORDER BY c.session_id
LIMIT $2
"""


async def claim_boundary(
    db: DB, session_id: uuid.UUID, run_id: uuid.UUID, up_to: int, lease_s: float
) -> bool:
    """Take the session's lease for `run_id` to cover messages up to `up_to`; False if another
    run holds it or a finished run already covered `up_to`."""
    return bool(await db.fetchval(CLAIM, session_id, run_id, up_to, lease_s))


async def settle_boundary(db: DB, session_id: uuid.UUID, run_id: uuid.UUID, covered: int) -> None:
    await db.execute(SETTLE, session_id, run_id, covered)


async def owed_sessions(
    db: DB, every: int, max_age_s: float, limit: int = 100
) -> list[tuple[uuid.UUID, int]]:
    rows = await db.fetch(OWED, every, limit, max_age_s)
    return [(r["session_id"], r["boundary"]) for r in rows]
