"""Interview sessions and tokens for benchmarks, made directly in SQL (fast for thousands)."""

from __future__ import annotations

import uuid

import asyncpg

from bench.procs import BENCH_SECRET
from gateway.auth import Role, issue_token

__all__ = ["admin_token", "create_sessions", "token"]

# Like tests/conftest.py's INSERT_SESSION, for `$1` sessions at once.
INSERT_SESSIONS = """
WITH s AS (INSERT INTO interview_sessions (status)
           SELECT 'active' FROM generate_series(1, $1) RETURNING id),
     c AS (INSERT INTO session_counters (session_id) SELECT id FROM s),
     p AS (SELECT id, blueprint FROM personas WHERE blueprint = 'sales'
           ORDER BY difficulty, name LIMIT 1)
INSERT INTO interview_scope_packages
  (session_id, blueprint, selected_persona_id, selected_scenario_id)
SELECT s.id, p.blueprint, p.id, (SELECT id FROM scenarios ORDER BY name LIMIT 1)
FROM s, p
RETURNING session_id
"""


async def create_sessions(dsn: str, count: int) -> list[str]:
    """`count` active sales sessions with a seeded persona and scenario; their ids."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(INSERT_SESSIONS, count)
    finally:
        await conn.close()
    if len(rows) != count:
        raise RuntimeError("could not create sessions: is the database seeded (serve --seed)?")
    return [str(r["session_id"]) for r in rows]


def token(role: Role, session_id: str) -> str:
    return issue_token(BENCH_SECRET, role, session_id=uuid.UUID(session_id), ttl_s=6 * 3600)


def admin_token() -> str:
    return issue_token(BENCH_SECRET, Role.ADMIN, ttl_s=6 * 3600)
