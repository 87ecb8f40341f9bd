"""The live-session service on its own: no HTTP, no socket, a real PostgreSQL.

What the transports rely on: the per-message path's outcomes, joining a panel (snapshot or
replay), Apply's idempotence, and database failures surfacing as `UnavailableError`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.errors import (
    ConflictError,
    ErrorCode,
    GatewayError,
    GoneError,
    NotFoundError,
    UnavailableError,
)
from gateway.protocol import ApplyFrame, DismissFrame
from gateway.settings import Settings
from services.live import LiveService, live_service
from tests.helpers import create_session, seed_suggestions


@pytest.fixture
async def live(pool: asyncpg.Pool, db_dsn: str, settings: Settings) -> AsyncIterator[LiveService]:
    async with live_service(pool, db_dsn, settings) as service:
        yield service


def frames_of(data: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(d) for d in data]


async def test_store_message_stores_once_and_refuses_a_conflict(
    live: LiveService, pool: asyncpg.Pool
) -> None:
    sid = await create_session(pool)
    first = await live.store_message(sid, 1, 1, "user", "How do you plan routes?", None)
    assert not first.duplicate and first.message_count == 1 and first.word_count == 5
    again = await live.store_message(sid, 1, 1, "user", "How do you plan routes?", None)
    assert again.duplicate and again.message_id == first.message_id and again.message_count == 1
    with pytest.raises(ConflictError) as conflict:
        await live.store_message(sid, 1, 1, "user", "Something else", None)
    assert conflict.value.code == ErrorCode.SEQ_CONFLICT
    assert await pool.fetchval(
        "SELECT count(*) FROM voice_transcripts WHERE session_id = $1", sid
    ) == 1


async def test_store_message_unknown_and_ended_sessions(
    live: LiveService, pool: asyncpg.Pool
) -> None:
    with pytest.raises(NotFoundError):
        await live.store_message(uuid.uuid4(), 1, 1, "user", "hello", None)
    sid = await create_session(pool)
    await pool.execute("UPDATE interview_sessions SET status = 'completed' WHERE id = $1", sid)
    with pytest.raises(GoneError):
        await live.store_message(sid, 1, 1, "user", "hello", None)


async def test_join_panel_snapshot_then_replay_of_what_was_missed(
    live: LiveService, pool: asyncpg.Pool
) -> None:
    sid = await create_session(pool)
    for seq in (1, 2, 3):
        await live.store_message(sid, 1, seq, "user", f"line {seq}", None)
    state = await live.hub.acquire(sid)
    assert state is not None
    first, last = await live.join_panel(state, None)
    [snapshot] = frames_of(first)
    assert snapshot["type"] == "snapshot" and "reset" not in snapshot
    assert [m["seq"] for m in snapshot["transcript"]] == [1, 2, 3]
    assert last == snapshot["last_event_id"]
    replay, live_from = await live.join_panel(state, last - 2)
    events = frames_of(replay)
    assert [e["event_id"] for e in events] == [last - 1, last] and live_from == last
    assert [e["seq"] for e in events] == [2, 3]
    ahead, _ = await live.join_panel(state, last + 100)  # a reset database: snapshot again
    assert frames_of(ahead)[0]["reset"] is True


async def test_apply_twice_is_one_command_and_dismiss_after_apply_is_refused(
    live: LiveService, pool: asyncpg.Pool
) -> None:
    sid = await create_session(pool)
    suggestions = await seed_suggestions(pool, sid)
    state = await live.hub.acquire(sid)
    assert state is not None
    curveball = suggestions["curveball"]
    first = await live.apply(state, curveball)
    again = await live.apply(state, curveball)
    assert first.created and not again.created and again.command_id == first.command_id
    commands = "SELECT count(*) FROM voice_commands WHERE session_id = $1"
    assert await pool.fetchval(commands, sid) == 1
    with pytest.raises(GatewayError) as refused:
        await live.panel_action(state, DismissFrame(type="dismiss", suggestion_id=curveball))
    assert refused.value.code == ErrorCode.NOT_APPLICABLE
    pending = await live.pending_command_frames(sid)
    assert [f["command_type"] for f in frames_of(pending)] == ["curveball_inject"]
    assert frames_of(pending)[0]["suggestion_id"] == str(curveball)


async def test_a_database_failure_is_unavailable_not_a_crash(
    live: LiveService, pool: asyncpg.Pool
) -> None:
    sid = await create_session(pool)
    suggestions = await seed_suggestions(pool, sid)
    state = await live.hub.acquire(sid)
    assert state is not None
    await pool.close()  # every later query fails in the driver
    with pytest.raises(UnavailableError):
        await live.panel_action(
            state, ApplyFrame(type="apply", suggestion_id=suggestions["curveball"])
        )
