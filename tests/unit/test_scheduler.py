"""AnalysisScheduler: single-flight per session, one coalesced follow-up, a global bound,
failures isolated, run ids promised up front. No sockets, no database."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.scheduler import AnalysisScheduler, Trigger, TriggerReason


class Recorder:
    """A run function whose runs block until released, recording what ran and how many at once."""

    def __init__(self) -> None:
        self.started: list[Trigger] = []
        self.finished: list[Trigger] = []
        self.gates: dict[uuid.UUID, asyncio.Event] = {}
        self.active = 0
        self.peak = 0
        self.fail: set[uuid.UUID] = set()

    def gate(self, sid: uuid.UUID) -> asyncio.Event:
        return self.gates.setdefault(sid, asyncio.Event())

    async def __call__(self, trigger: Trigger) -> object:
        self.started.append(trigger)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.gate(trigger.session_id).wait()
            if trigger.session_id in self.fail:
                raise RuntimeError("model exploded")
            self.finished.append(trigger)
            return ("done", trigger.run_id)
        finally:
            self.active -= 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_single_flight_and_exactly_one_coalesced_follow_up() -> None:
    rec = Recorder()
    sched = AnalysisScheduler(rec, concurrency=4)
    sid = uuid.uuid4()
    assert sched.trigger(Trigger(sid, TriggerReason.COUNT, 10)) is True
    await settle()
    assert len(rec.started) == 1 and sched.in_flight == 1
    for count in range(11, 31):  # many triggers while the first run is in flight
        assert sched.trigger(Trigger(sid, TriggerReason.COUNT, count)) is False
    await settle()
    assert len(rec.started) == 1  # still single-flight
    rec.gate(sid).set()
    await sched.wait_idle()
    assert [t.message_count for t in rec.started] == [10, 30]  # one follow-up, newest window
    assert sched.in_flight == 0


async def test_global_concurrency_bound() -> None:
    rec = Recorder()
    sched = AnalysisScheduler(rec, concurrency=3)
    sids = [uuid.uuid4() for _ in range(10)]
    for sid in sids:
        assert sched.trigger(Trigger(sid, TriggerReason.COUNT, 10))
    await settle()
    assert rec.active == 3 and sched.in_flight == 10
    for sid in sids:
        rec.gate(sid).set()
    await sched.wait_idle()
    assert rec.peak == 3 and len(rec.finished) == 10


async def test_failing_run_does_not_block_other_sessions_or_its_follow_up() -> None:
    rec = Recorder()
    sched = AnalysisScheduler(rec, concurrency=1)
    bad, good = uuid.uuid4(), uuid.uuid4()
    rec.fail.add(bad)
    sched.trigger(Trigger(bad, TriggerReason.COUNT, 10))
    sched.trigger(Trigger(good, TriggerReason.COUNT, 10))
    # a coalesced follow-up of the failing session
    sched.trigger(Trigger(bad, TriggerReason.COUNT, 20))
    rec.gate(bad).set()
    rec.gate(good).set()
    await sched.wait_idle()
    assert [t.session_id for t in rec.finished] == [good]
    assert [t.message_count for t in rec.started if t.session_id == bad] == [10, 20]
    # The session is free again afterwards.
    rec.fail.clear()
    sched.trigger(Trigger(bad, TriggerReason.MANUAL))
    await sched.wait_idle()
    assert rec.finished[-1].session_id == bad


async def test_run_ids_are_promised_up_front_and_futures_resolve_with_the_covering_run() -> None:
    rec = Recorder()
    sched = AnalysisScheduler(rec, concurrency=2)
    sid = uuid.uuid4()
    loop = asyncio.get_running_loop()
    first: asyncio.Future[object] = loop.create_future()
    chosen = uuid.uuid4()
    assert sched.schedule(Trigger(sid, TriggerReason.MANUAL, run_id=chosen, done=first)) == chosen
    # Two more while running: both covered by the same follow-up, whose id is known now.
    second: asyncio.Future[object] = loop.create_future()
    third: asyncio.Future[object] = loop.create_future()
    follow_up = sched.schedule(Trigger(sid, TriggerReason.MANUAL, done=second))
    assert follow_up is not None and follow_up != chosen
    late = Trigger(sid, TriggerReason.COUNT, 20, run_id=uuid.uuid4(), done=third)
    assert sched.schedule(late) == follow_up
    rec.gate(sid).set()
    assert await first == ("done", chosen)
    assert await second == ("done", follow_up) == await third
    assert [t.run_id for t in rec.started] == [chosen, follow_up]
    assert rec.started[1].message_count == 20  # the newest window
    assert all(t.done is None for t in rec.started)  # futures never reach the run function


async def test_waiters_see_a_crashing_run_and_close_cancels_the_rest() -> None:
    rec = Recorder()
    sched = AnalysisScheduler(rec, concurrency=2)
    bad, slow = uuid.uuid4(), uuid.uuid4()
    rec.fail.add(bad)
    loop = asyncio.get_running_loop()
    crashed: asyncio.Future[object] = loop.create_future()
    sched.schedule(Trigger(bad, TriggerReason.MANUAL, done=crashed))
    rec.gate(bad).set()
    with pytest.raises(RuntimeError, match="exploded"):
        await crashed

    running: asyncio.Future[object] = loop.create_future()
    pending: asyncio.Future[object] = loop.create_future()
    sched.schedule(Trigger(slow, TriggerReason.MANUAL, done=running))
    sched.schedule(Trigger(slow, TriggerReason.MANUAL, done=pending))
    await settle()
    await sched.close()
    assert running.cancelled() and pending.cancelled()
    assert sched.in_flight == 0
    late: asyncio.Future[object] = loop.create_future()
    assert sched.schedule(Trigger(slow, TriggerReason.MANUAL, done=late)) is None
    assert late.cancelled()
    assert sched.trigger(Trigger(slow, TriggerReason.COUNT, 30)) is False


async def test_owed_runs_wait_behind_live_ones_for_a_slot() -> None:
    """A sweep's backlog of owed boundaries must not hold live sessions' analyses back: with
    every slot taken, a live trigger that arrives after owed ones still runs first; owed ones
    keep their order among themselves, and a cancelled waiter gives its turn away."""
    rec = Recorder()
    sched = AnalysisScheduler(rec, concurrency=1)
    busy, owed_a, owed_b, live, gone = (uuid.uuid4() for _ in range(5))
    sched.trigger(Trigger(busy, TriggerReason.COUNT, 10))
    await settle()
    sched.trigger(Trigger(owed_a, TriggerReason.OWED, 10))
    sched.trigger(Trigger(gone, TriggerReason.OWED, 10))
    sched.trigger(Trigger(owed_b, TriggerReason.OWED, 20))
    sched.trigger(Trigger(live, TriggerReason.COUNT, 30))
    await settle()
    sched._running[gone].cancel()  # its session was closed while it waited
    for sid in (busy, owed_a, owed_b, live):
        rec.gate(sid).set()
    await sched.wait_idle()
    assert [t.session_id for t in rec.started] == [busy, live, owed_a, owed_b]
    assert rec.peak == 1
