"""The one-round-trip group commit (`storage.transcripts.insert_frames`, migration 0006), on
real PostgreSQL: numbering, idempotency within and across batches, refusal of ended sessions,
and the event log read back (`live_events` plus transcript rows) as the frames sent live."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

import storage.transcripts
from gateway.frames import numbered_transcript_event, transcript_head
from services.event_log import load_event_frames
from storage.events import EventRow, bump_counters, insert_events
from storage.live import ensure_counters
from storage.transcripts import FrameOutcome, FrameResult, NewFrame, insert_frames
from tests.helpers import create_session


@pytest.fixture(autouse=True, params=["few", "many"])
def store_function(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs against both store functions (migration 0015): the one for small batches
    and, with the threshold at 0, the one for large ones."""
    if request.param == "many":
        monkeypatch.setattr(storage.transcripts, "FEW_FRAMES", 0)
    return str(request.param)


def _frame(sid: uuid.UUID, seq: int | None, text: str, round_number: int = 1) -> NewFrame:
    return NewFrame(sid, round_number, seq, "user", text, None)


async def _store(pool: asyncpg.Pool, frames: list[NewFrame]) -> list[FrameResult]:
    async with pool.acquire() as conn:
        return await insert_frames(conn, frames)


async def _counters(pool: asyncpg.Pool, sid: uuid.UUID) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT last_event_id, message_count FROM session_counters WHERE session_id = $1", sid
    )
    assert row is not None
    return row["last_event_id"], row["message_count"]


async def test_batch_is_numbered_per_session_in_batch_order(pool: asyncpg.Pool) -> None:
    a, b = await create_session(pool), await create_session(pool)
    for sid in (a, b):
        await ensure_counters(pool, sid)
    frames = [_frame(a, 1, "a1"), _frame(b, 1, "b1"), _frame(a, 2, "a2"), _frame(b, None, "b-")]
    results = await _store(pool, frames)
    assert [r.outcome for r in results] == [FrameOutcome.STORED] * 4
    assert [(r.event_id, r.message_count) for r in results] == [(1, 1), (1, 1), (2, 2), (2, 2)]
    assert [r.message_id for r in results] == [f.id for f in frames]
    assert await _counters(pool, a) == (2, 2) and await _counters(pool, b) == (2, 2)

    again = await _store(pool, [_frame(a, 3, "a3")])
    assert (again[0].event_id, again[0].message_count) == (3, 3)

    # Another kind of event between transcripts, then the log read back: transcript events
    # come from their rows, built exactly as the live path builds them.
    async with pool.acquire() as conn, conn.transaction():
        bump = await bump_counters(conn, {a: (1, 0)})
        marker = orjson.dumps({"type": "presence", "event_id": bump[a].last_event_id})
        await insert_events(conn, [EventRow(a, bump[a].last_event_id, "presence", marker)])
    last = await _store(pool, [_frame(a, 4, "a4")])
    assert (last[0].event_id, last[0].message_count) == (5, 4)

    log = await load_event_frames(pool, a, 0)
    assert [eid for eid, _ in log] == [1, 2, 3, 4, 5]
    assert orjson.loads(log[3][1]) == {"type": "presence", "event_id": 4}
    for (eid, data), frame, result in zip(
        [log[0], log[1], log[4]],
        [frames[0], frames[2], None],
        [results[0], results[2], last[0]],
        strict=True,
    ):
        assert result.event_id == eid
        if frame is not None:
            assert data == _live_frame(frame, eid, result.message_count)
        parsed = orjson.loads(data)
        assert parsed["type"] == "transcript" and parsed["event_id"] == eid
        assert parsed["message_count"] == result.message_count and parsed["session_id"] == str(a)
    assert await load_event_frames(pool, a, 1, 2) == [log[1]]
    assert await load_event_frames(pool, a, 0, limit=2) == log[:2]


def _live_frame(frame: NewFrame, event_id: int, count: int | None) -> bytes:
    assert count is not None
    head = transcript_head(
        message_id=frame.id,
        seq=frame.seq,
        round_number=frame.round_number,
        role=frame.role,
        text=frame.text,
        timestamp=frame.timestamp,
        word_count=frame.word_count,
        session_id=frame.session_id,
    )
    return numbered_transcript_event(head, event_id, count)


async def test_resends_within_and_across_batches(pool: asyncpg.Pool) -> None:
    sid = await create_session(pool)
    await ensure_counters(pool, sid)
    first = await _store(pool, [_frame(sid, 1, "hello there")])
    batch = [
        _frame(sid, 1, "hello there"),  # resend of a stored frame
        _frame(sid, 1, "something else"),  # same seq, different words
        _frame(sid, 2, "two"),
        _frame(sid, 2, "two"),  # resend within this very batch
        _frame(sid, 2, "TWO"),  # conflict within this batch
        _frame(sid, 2, "two", round_number=2),  # another round: a different frame
    ]
    results = await _store(pool, batch)
    assert [r.outcome for r in results] == [
        FrameOutcome.DUPLICATE,
        FrameOutcome.CONFLICT,
        FrameOutcome.STORED,
        FrameOutcome.DUPLICATE,
        FrameOutcome.CONFLICT,
        FrameOutcome.STORED,
    ]
    assert results[0].message_id == first[0].message_id
    assert results[3].message_id == batch[2].id
    assert results[0].event_id is None and results[1].event_id is None
    assert (
        await pool.fetchval("SELECT count(*) FROM voice_transcripts WHERE session_id = $1", sid)
        == 3
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM voice_transcripts WHERE session_id = $1 AND event_id IS NOT NULL",
            sid,
        )
        == 3
    )
    assert await _counters(pool, sid) == (3, 3)


async def test_frames_of_an_ended_session_are_refused_and_leave_no_trace(
    pool: asyncpg.Pool,
) -> None:
    live, ended = await create_session(pool), await create_session(pool)
    for sid in (live, ended):
        await ensure_counters(pool, sid)
    await pool.execute("UPDATE interview_sessions SET status = 'completed' WHERE id = $1", ended)
    results = await _store(pool, [_frame(ended, 1, "late"), _frame(live, 1, "on time")])
    assert [r.outcome for r in results] == [FrameOutcome.REFUSED, FrameOutcome.STORED]
    assert (
        await pool.fetchval("SELECT count(*) FROM voice_transcripts WHERE session_id = $1", ended)
        == 0
    )
    assert await _counters(pool, ended) == (0, 0)


async def test_concurrent_batches_sharing_sessions_do_not_deadlock(pool: asyncpg.Pool) -> None:
    """Several gateway processes may commit batches that share sessions, in any order."""
    sids = [await create_session(pool) for _ in range(6)]
    for sid in sids:
        await ensure_counters(pool, sid)

    async def writer(order: list[uuid.UUID], start: int) -> None:
        for k in range(10):
            await _store(pool, [_frame(sid, start + k * 10 + 1, f"w{start}") for sid in order])

    await asyncio.wait_for(
        asyncio.gather(
            writer(sids, 0), writer(sids[::-1], 1000), writer(sids[2:] + sids[:2], 5000)
        ),
        30,
    )
    for sid in sids:
        ids = [
            r["event_id"]
            for r in await pool.fetch(
                "SELECT event_id FROM voice_transcripts WHERE session_id = $1 ORDER BY event_id",
                sid,
            )
        ]
        assert ids == list(range(1, 31))  # gap-free, no duplicate


def test_numbered_transcript_event_appends_the_assigned_fields() -> None:
    done = numbered_transcript_event(b'{"type":"transcript"}', 7, 3)
    assert orjson.loads(done) == {"type": "transcript", "event_id": 7, "message_count": 3}
    for bad in (b"{}", b"[1]", b""):
        with pytest.raises(ValueError):
            numbered_transcript_event(bad, 1, 1)


def test_a_frame_without_a_timestamp_is_stamped_on_arrival() -> None:
    before = datetime.now(UTC)
    frame = _frame(uuid.uuid4(), 1, "one two three")
    assert frame.timestamp is not None and before <= frame.timestamp <= datetime.now(UTC)
    assert frame.word_count == 3


async def test_client_times_are_kept_exactly_and_naive_ones_read_as_utc(
    pool: asyncpg.Pool,
) -> None:
    sid = await create_session(pool)
    await ensure_counters(pool, sid)
    aware = datetime(2026, 11, 24, 10, 15, 2, 120034, tzinfo=UTC)
    naive = datetime(2026, 11, 24, 10, 15, 3, 5)
    frames = [
        NewFrame(sid, 1, 1, "user", "with offset", aware),
        NewFrame(sid, 1, 2, "assistant", "without", naive),
    ]
    await _store(pool, frames)
    stored = await pool.fetch(
        "SELECT seq, timestamp FROM voice_transcripts WHERE session_id = $1 ORDER BY seq", sid
    )
    assert [r["timestamp"] for r in stored] == [aware, naive.replace(tzinfo=UTC)]


async def test_a_small_batch_probes_indexes_however_the_tables_grew(
    pool: asyncpg.Pool, store_function: str
) -> None:
    """Migration 0015: every statement of the small-batch store function is index probes,
    whatever the table sizes were when the connection planned it, and neither function scans
    the counters to lock them. The plans are made on nearly empty tables (one frame), the tables
    then grow to thousands of sessions and rows, and a batch on the same connection is read
    with auto_explain (nested statements, sent to this client): no sequential scan, no hash
    join, no hashed subplan over the transcript table, and each frame's session read by its key
    (0016)."""
    plans: list[str] = []

    def listen(_conn: object, message: asyncpg.PostgresLogMessage) -> None:
        plans.append(message.message)

    first = await create_session(pool)
    async with pool.acquire() as conn:
        await conn.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
            " SET auto_explain.log_nested_statements = on"
        )
        try:
            assert (await insert_frames(conn, [_frame(first, 1, "first")]))[0].outcome is (
                FrameOutcome.STORED
            )
            await conn.execute(
                "WITH s AS (INSERT INTO interview_sessions (status) SELECT 'active'"
                " FROM generate_series(1, 3000) RETURNING id)"
                " INSERT INTO session_counters (session_id) SELECT id FROM s"
            )
            many = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT session_id AS id FROM session_counters WHERE session_id <> $1", first
                )
            ]
            for seq in (1, 2):
                await insert_frames(conn, [_frame(sid, seq, "grown") for sid in many])
            conn.add_log_listener(listen)
            await conn.execute("SET client_min_messages = log")
            sid = await create_session(pool)
            results = await insert_frames(
                conn, [_frame(sid, 1, "one"), _frame(first, 2, "two"), _frame(first, 1, "first")]
            )
        finally:
            await conn.execute("RESET client_min_messages; RESET auto_explain.log_min_duration")
            conn.remove_log_listener(listen)
    assert [r.outcome for r in results] == [
        FrameOutcome.STORED, FrameOutcome.STORED, FrameOutcome.DUPLICATE,
    ]
    statements = [p for p in plans if "gateway_store_" not in p]
    lock = [p for p in statements if "FOR UPDATE" in p and "session_counters" in p]
    assert lock, plans
    assert all("Seq Scan" not in p for p in lock), lock
    if store_function == "many":
        return  # large batches keep 0014's plans apart from the lock (a hash is right there)
    for plan in statements:
        assert "Seq Scan" not in plan, plan
        assert "Hash Join" not in plan and "Hash Semi Join" not in plan, plan
        assert "hashed SubPlan" not in plan, plan
        # Migration 0016: a frame's session is probed by key, not found among every active one
        # (the status index) nor in a scan of them all.
        lines = plan.splitlines()
        for at, line in enumerate(lines):
            if " on interview_sessions s " in line:
                assert "interview_sessions_pkey" in line, plan
                assert "Index Cond: (id = " in lines[at + 1], plan
