"""Analysis boundaries are durable (issue 13, bug 7): a boundary whose run never happened (its
process died) is run by whichever gateway sweeps next, exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from handlers.app import create_app
from storage.live import ensure_counters
from storage.transcripts import NewFrame, insert_frames
from tests.helpers import create_session, make_settings


async def _stored_without_analysis(pool: asyncpg.Pool, n: int) -> uuid.UUID:
    """A session whose frames were committed by a gateway that died before analyzing them."""
    sid = await create_session(pool)
    await ensure_counters(pool, sid)
    frames = [
        NewFrame(sid, 1, seq, "user" if seq % 2 else "assistant", f"line number {seq}", None)
        for seq in range(1, n + 1)
    ]
    async with pool.acquire() as conn:
        await insert_frames(conn, frames)
    return sid


async def _runs(pool: asyncpg.Pool, sid: uuid.UUID) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(DISTINCT run_id) FROM voice_analysis WHERE session_id = $1", sid
        )
    )


async def _wait_runs(pool: asyncpg.Pool, sid: uuid.UUID, want: int, within: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if (n := await _runs(pool, sid)) >= want:
            return n
        await asyncio.sleep(0.1)
    return await _runs(pool, sid)


async def test_owed_boundary_is_run_once_by_the_next_gateway(
    tmp_path: Path, db_dsn: str, pool: asyncpg.Pool, aiohttp_client: Callable[..., Any]
) -> None:
    owed = await _stored_without_analysis(pool, 12)  # one boundary (10) passed, not analyzed
    not_yet = await _stored_without_analysis(pool, 9)
    leased = await _stored_without_analysis(pool, 10)
    # A call silent for longer than ANALYSIS_OWED_MAX_AGE_SECONDS: its boundary is not worth
    # a run (and a backlog of such calls would queue the live ones).
    stale = await _stored_without_analysis(pool, 20)
    await pool.execute(
        "UPDATE voice_transcripts SET created_at = now() - interval '2 hours'"
        " WHERE session_id = $1",
        stale,
    )
    # A run in a process that died holds the lease a little longer: nobody runs it meanwhile.
    await pool.execute(
        "INSERT INTO analysis_progress (session_id, lease_run, lease_until)"
        " VALUES ($1, $2, now() + interval '2 seconds')",
        leased,
        uuid.uuid4(),
    )
    settings = make_settings(tmp_path, analysis_sweep_s=0.2, analysis_owed_max_age_s=3600)
    await aiohttp_client(create_app(settings, db_dsn))
    assert await _wait_runs(pool, owed, 1, within=20) == 1
    assert await _runs(pool, leased) == 0
    assert await _wait_runs(pool, leased, 1, within=20) == 1
    await asyncio.sleep(1.0)  # several more sweeps: nothing runs twice
    assert await _runs(pool, owed) == 1 and await _runs(pool, leased) == 1
    assert await _runs(pool, not_yet) == 0
    assert await _runs(pool, stale) == 0
    covered = await pool.fetchval(
        "SELECT analyzed_through FROM analysis_progress WHERE session_id = $1", owed
    )
    assert covered >= 10
