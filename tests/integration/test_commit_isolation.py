"""Group commit isolates rows PostgreSQL refuses (issue 13, bug 1): one bad row is answered
alone; the batch's other frames, from every session, are stored, in order. Bad rows are built
past the edge's validation on purpose: this is the defence behind it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.live import ensure_counters
from storage.pool import create_pool
from storage.transcripts import FrameOutcome, NewFrame, insert_frames, insert_frames_isolating
from tests.helpers import create_session


def _good(sid: uuid.UUID, seq: int) -> NewFrame:
    return NewFrame(sid, 1, seq, "user", f"good {seq}", None)


# Rows the edge refuses, each refused by PostgreSQL for a different reason tied to the row.
BAD_ROWS = {
    "offset beyond ±15:59": lambda sid, seq: NewFrame(
        sid, 1, seq, "user", "x", datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=20)))
    ),
    "year 0 in UTC": lambda sid, seq: NewFrame(
        sid, 1, seq, "user", "x", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    ),
    "NUL in text": lambda sid, seq: NewFrame(sid, 1, seq, "user", "a\x00b", None),
    "seq beyond integer": lambda sid, seq: NewFrame(sid, 1, 2**40 + seq, "user", "x", None),
    "round beyond integer": lambda sid, seq: NewFrame(sid, 2**40, seq, "user", "x", None),
}


async def _rows(pool: asyncpg.Pool, sid: uuid.UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT text FROM voice_transcripts WHERE session_id = $1 ORDER BY message_number", sid
    )
    return [r["text"] for r in rows]


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
async def test_one_bad_row_fails_alone(pool: asyncpg.Pool, kind: str) -> None:
    a, b = await create_session(pool), await create_session(pool)
    for sid in (a, b):
        await ensure_counters(pool, sid)
    frames = [_good(a, 1), _good(b, 1), BAD_ROWS[kind](a, 2), _good(a, 3), _good(b, 2)]
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.PostgresError):  # today's single statement: all or nothing
            await insert_frames(conn, frames)
        results = await insert_frames_isolating(conn, frames)
    outcomes = [r.outcome for r in results]
    stored, invalid = FrameOutcome.STORED, FrameOutcome.INVALID
    assert outcomes == [stored, stored, invalid, stored, stored]
    assert results[2].reason
    assert await _rows(pool, a) == ["good 1", "good 3"]
    assert await _rows(pool, b) == ["good 1", "good 2"]


async def test_through_the_live_service_only_the_bad_frame_is_refused(
    pool: asyncpg.Pool, db_dsn: str
) -> None:
    from gateway.bus import LocalBus
    from services.live import LiveService
    from tests.conftest import make_settings

    live = LiveService(pool, make_settings(_tmp()), LocalBus())  # type: ignore[arg-type]
    await live.start()
    try:
        a, b = await create_session(pool), await create_session(pool)
        for sid in (a, b):
            await ensure_counters(pool, sid)
        futures = []
        for seq in range(1, 41):
            futures.append(await live.submit(_good(a, seq)))
            bad = BAD_ROWS["offset beyond ±15:59"](b, seq) if seq % 7 == 0 else _good(b, seq)
            futures.append(await live.submit(bad))
        results = await asyncio.gather(*futures)
    finally:
        await live.stop()
    invalid = [i for i, r in enumerate(results) if r.outcome is FrameOutcome.INVALID]
    assert invalid == [2 * seq - 1 for seq in range(7, 41, 7)]
    assert all(r.outcome is FrameOutcome.STORED for i, r in enumerate(results) if i not in invalid)
    assert await _rows(pool, a) == [f"good {s}" for s in range(1, 41)]
    assert await _rows(pool, b) == [f"good {s}" for s in range(1, 41) if s % 7]


def _tmp() -> object:
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="ig-iso-"))


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[int, str | None]]:
    """A batch as (session index, bad kind or None), in submission order."""
    size = draw(st.integers(1, 60))
    kinds = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(sorted(BAD_ROWS)))
    return [(draw(st.integers(0, 2)), draw(kinds)) for _ in range(size)]


def test_property_no_good_frame_is_ever_refused(db_dsn: str) -> None:
    """Random bad rows mixed into good batches, on real PostgreSQL: every good frame is
    stored, in submission order per session; every bad one comes back INVALID."""

    async def check(batch: list[tuple[int, str | None]]) -> None:
        pool = await create_pool(db_dsn, min_size=1, max_size=1)
        try:
            sids = [await create_session(pool) for _ in range(3)]
            for sid in sids:
                await ensure_counters(pool, sid)
            frames: list[NewFrame] = []
            expected: dict[uuid.UUID, list[str]] = {sid: [] for sid in sids}
            for seq, (who, bad) in enumerate(batch, start=1):
                sid = sids[who]
                if bad is None:
                    frames.append(_good(sid, seq))
                    expected[sid].append(f"good {seq}")
                else:
                    frames.append(BAD_ROWS[bad](sid, seq))
            async with pool.acquire() as conn:
                results = await insert_frames_isolating(conn, frames)
            for (_, bad), result in zip(batch, results, strict=True):
                want = FrameOutcome.STORED if bad is None else FrameOutcome.INVALID
                assert result.outcome is want, (bad, result)
            for sid in sids:
                assert await _rows(pool, sid) == expected[sid]
        finally:
            await pool.close()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batches())
    def run(batch: list[tuple[int, str | None]]) -> None:
        asyncio.run(check(batch))

    started = datetime.now(UTC)
    run()
    took = (datetime.now(UTC) - started).total_seconds()
    print(f"\ncommit isolation property: 40 random batches on PostgreSQL in {took:.1f} s")
