"""Lifecycle events (presence, failed analyses) go through their own group commit
(`LiveService.emit_now`), on real PostgreSQL: many sessions' events share transactions, each
session's event ids stay gap-free and in call order, every event is published once after it
is stored, and one bad item fails alone."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import orjson
import pytest

from gateway.bus import BusMessage, LocalBus
from gateway.errors import NotFoundError
from gateway.metrics import sample
from services.live import LiveService
from storage.live import ensure_counters
from tests.helpers import create_session, make_settings


@pytest.fixture
async def live(pool: asyncpg.Pool, tmp_path: Path) -> LiveService:
    service = LiveService(pool, make_settings(tmp_path), LocalBus())
    await service.start()
    yield service  # type: ignore[misc]
    await service.stop()


def _published(live: LiveService) -> list[BusMessage]:
    seen: list[BusMessage] = []
    live.bus.subscribe(seen.append)
    return seen


async def _logged(pool: asyncpg.Pool, sid: uuid.UUID) -> list[tuple[int, dict[str, object]]]:
    rows = await pool.fetch(
        "SELECT event_id, payload::text AS payload FROM live_events"
        " WHERE session_id = $1 ORDER BY event_id",
        sid,
    )
    return [(r["event_id"], orjson.loads(r["payload"])) for r in rows]


async def test_concurrent_emits_share_transactions_and_keep_per_session_order(
    live: LiveService, pool: asyncpg.Pool
) -> None:
    sessions = [await create_session(pool) for _ in range(20)]
    for sid in sessions:
        await ensure_counters(pool, sid)
    published = _published(live)
    before = sample("gateway_event_log_batches_total")
    calls = [
        live.emit_now(sid, [{"type": "presence", "candidate_connected": n % 2 == 0, "n": n}])
        for n in range(5)
        for sid in sessions
    ]
    await asyncio.gather(*calls)
    used = sample("gateway_event_log_batches_total") - before
    assert 1 <= used < len(calls) / 5, f"{used} transactions for {len(calls)} emits"

    for sid in sessions:
        logged = await _logged(pool, sid)
        assert [eid for eid, _ in logged] == [1, 2, 3, 4, 5]
        assert [payload["n"] for _, payload in logged] == [0, 1, 2, 3, 4]
        assert all(payload["event_id"] == eid for eid, payload in logged)
        mine = [m for m in published if m.session_id == sid]
        assert [m.event_id for m in mine] == [1, 2, 3, 4, 5]
        assert [orjson.loads(m.data) for m in mine] == [p for _, p in logged]
        assert (
            await pool.fetchval(
                "SELECT last_event_id FROM session_counters WHERE session_id = $1", sid
            )
            == 5
        )


async def test_a_bad_item_fails_alone(live: LiveService, pool: asyncpg.Pool) -> None:
    good = [await create_session(pool) for _ in range(3)]
    for sid in good:
        await ensure_counters(pool, sid)
    unknown = uuid.uuid4()
    published = _published(live)
    results = await asyncio.gather(
        *(live.emit_now(sid, [{"type": "presence", "candidate_connected": True}]) for sid in good),
        live.emit_now(unknown, [{"type": "presence", "candidate_connected": True}]),
        return_exceptions=True,
    )
    assert results[:3] == [None, None, None]
    assert isinstance(results[3], NotFoundError)
    for sid in good:
        assert [eid for eid, _ in await _logged(pool, sid)] == [1]
    assert sorted(str(m.session_id) for m in published) == sorted(str(s) for s in good)


async def test_emit_after_drain_is_still_recorded(live: LiveService, pool: asyncpg.Pool) -> None:
    """At shutdown the committer drains first; a late emit is written on its own, not lost."""
    sid = await create_session(pool)
    await ensure_counters(pool, sid)
    published = _published(live)
    await live.event_log.drain()
    await live.emit_now(sid, [{"type": "analysis_failed", "reason": "timeout"}])
    assert [eid for eid, _ in await _logged(pool, sid)] == [1]
    assert [m.event_id for m in published] == [1]
