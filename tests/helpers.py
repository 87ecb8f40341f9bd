"""Helpers shared by the test modules (settings, sessions and suggestions made directly in SQL).

Test modules import from here, never from each other or from conftest.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg

from gateway.settings import Settings, load_settings

__all__ = [
    "TEST_SECRET",
    "create_session",
    "make_settings",
    "seed_suggestions",
]

TEST_SECRET = "test-secret-0123456789abcdef-0123456789"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "jwt_secret": TEST_SECRET,
        "analyzer": "offline",
        "voice_agent_provider": "offline",
        "openai_api_key": None,
        "elevenlabs_api_key": None,
        "database_url": None,
        "commit_max_delay_ms": 1.0,
        "heartbeat_s": 5.0,
    }
    base.update(overrides)
    return load_settings(**base)


INSERT_SESSION = """
WITH s AS (INSERT INTO interview_sessions (status) VALUES ('active') RETURNING id),
     c AS (INSERT INTO session_counters (session_id) SELECT id FROM s)
INSERT INTO interview_scope_packages
  (session_id, blueprint, selected_persona_id, selected_scenario_id)
SELECT s.id, p.blueprint, p.id, (SELECT id FROM scenarios ORDER BY name LIMIT 1)
FROM s, (SELECT id, blueprint FROM personas WHERE blueprint = $1
         ORDER BY difficulty, name LIMIT 1) p
RETURNING session_id
"""


async def create_session(pool: asyncpg.Pool, blueprint: str = "sales") -> uuid.UUID:
    """An active interview session with a seeded persona and scenario, made directly in SQL."""
    sid = await pool.fetchval(INSERT_SESSION, blueprint)
    assert isinstance(sid, uuid.UUID)
    return sid


INSERT_SUGGESTIONS = """
INSERT INTO voice_analysis (session_id, analysis_type, meter_score, meter_factors, suggestion_text,
                            suggestion_category, priority, label, run_id)
VALUES
  ($1, 'say_meter', 71, '{"rapport": 80}', NULL, NULL, NULL, NULL, $2),
  ($1, 'suggestion', NULL, '{}', 'Mention budget pressure from the CFO', 'context_injection',
   'medium', NULL, $2),
  ($1, 'curveball', NULL, '{}', 'Your CFO just asked for competitive quotes', 'curveball',
   'high', 'Competitive Pressure', $2),
  ($1, 'followup', NULL, '{}', 'Ask: what does success look like in 90 days?',
   'followup_question', 'high', NULL, $2)
RETURNING id, suggestion_category
"""

async def seed_suggestions(pool: asyncpg.Pool, session_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = await pool.fetch(INSERT_SUGGESTIONS, session_id, uuid.uuid4())
    return {r["suggestion_category"]: r["id"] for r in rows if r["suggestion_category"]}
