"""`GroupCommitter`'s two phases: `flush` (the transaction) frees the batch's keys and slot the
moment it commits; `deliver` and the writers' callbacks then run in commit order, one batch after
another, bounded by `max_undelivered`. No sockets, no database: `flush` and `deliver` are
stand-ins that log what happens and can be held on an event."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from gateway.batcher import GroupCommitter

Item = tuple[str, int]  # (key, value): flush stores value * 10
T = TypeVar("T")

TIMEOUT_S = 2.0  # a regression fails fast instead of hanging the run


def _key(item: Item) -> str:
    return item[0]


async def _wait(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, TIMEOUT_S)


async def _turns(n: int = 20) -> None:
    """Let everything that is ready run (the committer loop, commit tasks)."""
    for _ in range(n):
        await asyncio.sleep(0)


class Pipeline:
    """`flush` and `deliver` for a committer, logging every step; the n-th call (1-based) of
    either waits on `hold_flush[n]` / `hold_deliver[n]` when one is set up."""

    def __init__(self) -> None:
        self.log: list[tuple[str, list[Item]]] = []
        self.flushes = 0
        self.deliveries = 0
        self.hold_flush: dict[int, asyncio.Event] = {}
        self.hold_deliver: dict[int, asyncio.Event] = {}
        self.flushing: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.stored: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.delivering: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.resolved: defaultdict[Item, asyncio.Event] = defaultdict(asyncio.Event)
        self.results: dict[Item, int | BaseException] = {}
        self.order: list[tuple[Item, int | BaseException]] = []  # callbacks, as they ran

    async def flush(self, items: list[Item]) -> list[int]:
        self.flushes += 1
        n = self.flushes
        self.log.append(("flush", items))
        self.flushing[n].set()
        if n in self.hold_flush:
            await self.hold_flush[n].wait()
        self.log.append(("stored", items))
        self.stored[n].set()
        return [value * 10 for _, value in items]

    async def deliver(self, items: list[Item], results: list[int]) -> None:
        self.deliveries += 1
        n = self.deliveries
        assert results == [value * 10 for _, value in items]
        self.log.append(("deliver", items))
        self.delivering[n].set()
        if n in self.hold_deliver:
            await self.hold_deliver[n].wait()
        self.log.append(("delivered", items))

    def done(self, item: Item) -> Callable[[int | None, BaseException | None], None]:
        def callback(result: int | None, error: BaseException | None) -> None:
            outcome: int | BaseException
            if error is not None:
                outcome = error
            else:
                assert result is not None
                outcome = result
            self.results[item] = outcome
            self.order.append((item, outcome))
            self.log.append(("done", [item]))
            self.resolved[item].set()

        return callback


async def test_keys_and_slot_are_free_once_stored_before_delivery_ends() -> None:
    p = Pipeline()
    p.hold_deliver[1] = asyncio.Event()
    gc: GroupCommitter[Item, int] = GroupCommitter(
        p.flush, max_in_flight=1, key=_key, deliver=p.deliver
    )
    gc.start()
    first = await gc.submit(("a", 1))
    await _wait(p.delivering[1].wait())
    second = await gc.submit(("a", 2))
    # The same key and the only slot, yet batch 2 commits while batch 1's delivery is held.
    await _wait(p.stored[2].wait())
    assert not first.done() and not second.done()
    p.hold_deliver[1].set()
    assert await _wait(first) == 10
    assert await _wait(second) == 20
    await _wait(gc.drain())


async def test_deliveries_and_callbacks_run_in_commit_order() -> None:
    p = Pipeline()
    p.hold_deliver[1] = asyncio.Event()
    gc: GroupCommitter[Item, int] = GroupCommitter(
        p.flush, max_in_flight=1, key=_key, deliver=p.deliver
    )
    gc.start()
    a1, a2, b1, a3 = ("a", 1), ("a", 2), ("b", 1), ("a", 3)
    await gc.submit_with(a1, p.done(a1))
    await _wait(p.delivering[1].wait())
    for item in (a2, b1, a3):  # no await suspends in between: one batch
        await gc.submit_with(item, p.done(item))
    await _wait(p.stored[2].wait())
    await _turns()
    assert p.deliveries == 1  # batch 2 is stored, but waits for batch 1's delivery
    assert p.results == {}
    p.hold_deliver[1].set()
    await _wait(gc.drain())
    assert p.log == [
        ("flush", [a1]),
        ("stored", [a1]),
        ("deliver", [a1]),
        ("flush", [a2, b1, a3]),
        ("stored", [a2, b1, a3]),
        ("delivered", [a1]),
        ("done", [a1]),
        ("deliver", [a2, b1, a3]),
        ("delivered", [a2, b1, a3]),
        ("done", [a2]),
        ("done", [b1]),
        ("done", [a3]),
    ]
    per_key: dict[str, list[int | BaseException]] = {}
    for (k, _), outcome in p.order:
        per_key.setdefault(k, []).append(outcome)
    assert per_key == {"a": [10, 20, 30], "b": [10]}


async def test_delivery_line_follows_commit_order_not_start_order() -> None:
    p = Pipeline()
    p.hold_flush[1] = asyncio.Event()
    gc: GroupCommitter[Item, int] = GroupCommitter(
        p.flush, max_in_flight=2, key=_key, deliver=p.deliver
    )
    gc.start()
    a1, b1 = ("a", 1), ("b", 1)
    await gc.submit_with(a1, p.done(a1))
    await _wait(p.flushing[1].wait())
    await gc.submit_with(b1, p.done(b1))
    # Batch 2 starts later but commits first: it is delivered without waiting for batch 1.
    await _wait(p.resolved[b1].wait())
    assert a1 not in p.results
    p.hold_flush[1].set()
    await _wait(gc.drain())
    assert [step for step in p.log if step[0] in ("deliver", "done")] == [
        ("deliver", [b1]),
        ("done", [b1]),
        ("deliver", [a1]),
        ("done", [a1]),
    ]


async def test_failed_delivery_still_resolves_writers_and_committer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[list[Item]] = []

    async def flush(items: list[Item]) -> list[int]:
        return [value * 10 for _, value in items]

    async def deliver(items: list[Item], results: list[int]) -> None:
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("bus went away")

    gc: GroupCommitter[Item, int] = GroupCommitter(flush, key=_key, deliver=deliver)
    gc.start()
    with caplog.at_level(logging.ERROR, logger="gateway.batcher"):
        first = [await gc.submit(("a", 1)), await gc.submit(("b", 2))]
        assert [await _wait(f) for f in first] == [10, 20]  # stored is stored
    assert "delivery of a committed batch failed" in caplog.text
    later = await gc.submit(("a", 3))
    assert await _wait(later) == 30
    assert calls == [[("a", 1), ("b", 2)], [("a", 3)]]
    await _wait(gc.drain())


async def test_failed_flush_fails_its_writers_and_is_not_delivered() -> None:
    calls = 0
    delivered: list[list[Item]] = []

    async def flush(items: list[Item]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database went away")
        return [value * 10 for _, value in items]

    async def deliver(items: list[Item], results: list[int]) -> None:
        delivered.append(items)

    gc: GroupCommitter[Item, int] = GroupCommitter(flush, key=_key, deliver=deliver)
    gc.start()
    doomed = [await gc.submit(("a", 1)), await gc.submit(("b", 1))]
    for future in doomed:
        with pytest.raises(OSError, match="database went away"):
            await _wait(future)
    assert delivered == []
    later = await gc.submit(("a", 2))
    assert await _wait(later) == 20
    assert delivered == [[("a", 2)]]
    await _wait(gc.drain())


async def test_max_undelivered_holds_the_next_flush_until_delivery() -> None:
    p = Pipeline()
    p.hold_deliver[1] = asyncio.Event()
    gc: GroupCommitter[Item, int] = GroupCommitter(
        p.flush, max_in_flight=2, max_undelivered=1, key=_key, deliver=p.deliver
    )
    gc.start()
    first = await gc.submit(("a", 1))
    await _wait(p.delivering[1].wait())
    # Another key and a free slot: only the bound on undelivered batches can hold it back.
    second = await gc.submit(("b", 2))
    await asyncio.sleep(0.02)
    await _turns()
    assert p.flushes == 1
    assert len(gc) == 1
    p.hold_deliver[1].set()
    await _wait(p.stored[2].wait())
    assert await _wait(first) == 10
    assert await _wait(second) == 20
    await _wait(gc.drain())


@pytest.mark.parametrize("extra", [-1, 1])
async def test_flush_with_a_wrong_result_count_fails_the_batch(extra: int) -> None:
    calls = 0
    delivered: list[list[Item]] = []

    async def flush(items: list[Item]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return list(range(len(items) + extra))
        return [value * 10 for _, value in items]

    async def deliver(items: list[Item], results: list[int]) -> None:
        delivered.append(items)

    gc: GroupCommitter[Item, int] = GroupCommitter(flush, key=_key, deliver=deliver)
    gc.start()
    doomed = [await gc.submit(("a", 1)), await gc.submit(("b", 2))]  # one batch of two
    for future in doomed:
        with pytest.raises(RuntimeError, match="results for 2 items"):
            await _wait(future)
    assert delivered == []
    later = await gc.submit(("a", 3))
    assert await _wait(later) == 30
    assert calls == 2 and delivered == [[("a", 3)]]
    await _wait(gc.drain())


async def test_drain_waits_for_pending_deliveries() -> None:
    p = Pipeline()
    p.hold_flush[1] = asyncio.Event()
    p.hold_deliver[1] = asyncio.Event()
    gc: GroupCommitter[Item, int] = GroupCommitter(p.flush, key=_key, deliver=p.deliver)
    gc.start()
    future = await gc.submit(("a", 1))
    await _wait(p.flushing[1].wait())
    draining = asyncio.create_task(gc.drain())
    await _turns()
    assert not draining.done()  # the transaction is still open
    p.hold_flush[1].set()
    await _wait(p.delivering[1].wait())
    await asyncio.sleep(0.02)
    await _turns()
    assert not draining.done()  # stored, not yet delivered
    assert not future.done()
    p.hold_deliver[1].set()
    await _wait(draining)
    assert p.log[-1] == ("delivered", [("a", 1)])
    assert future.done() and future.result() == 10


async def test_on_batch_reports_rows_stored_and_delivered_seconds() -> None:
    calls: list[tuple[int, float, float]] = []

    async def flush(items: list[Item]) -> list[int]:
        if items[0][1] == 1:
            await asyncio.sleep(0.04)  # a slow transaction
        return [value * 10 for _, value in items]

    async def deliver(items: list[Item], results: list[int]) -> None:
        if items[0][1] == 2:
            await asyncio.sleep(0.04)  # a slow delivery

    def on_batch(rows: int, stored_s: float, delivered_s: float) -> None:
        calls.append((rows, stored_s, delivered_s))

    gc: GroupCommitter[Item, int] = GroupCommitter(
        flush, key=_key, deliver=deliver, on_batch=on_batch
    )
    gc.start()
    first = [await gc.submit(("a", 1)), await gc.submit(("b", 1)), await gc.submit(("c", 1))]
    assert [await _wait(f) for f in first] == [10, 10, 10]
    assert await _wait(await gc.submit(("a", 2))) == 20
    await _wait(gc.drain())
    assert [rows for rows, _, _ in calls] == [3, 1]
    assert all(stored_s >= 0 and delivered_s >= 0 for _, stored_s, delivered_s in calls)
    (_, stored_1, delivered_1), (_, stored_2, delivered_2) = calls
    assert stored_1 >= 0.03 > delivered_1  # stored_s times the transaction...
    assert delivered_2 >= 0.03 > stored_2  # ...delivered_s the delivery and the callbacks
