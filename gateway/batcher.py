"""Group commit: many writers, one transaction per batch, each writer told when its row is durable.

`submit()` enqueues an item and returns a future resolved after the batch containing it
commits; `submit_with()` takes a callback instead, called right after the commit (no future and
no extra event-loop turn per item: the hot path of WebSocket ingest). Batches form naturally
while the previous commit is in flight (an optional `max_delay_s` waits a little longer to grow
them). Up to `max_in_flight` batches commit at once, so the database works on one batch while
the next is prepared; items with the same `key` (a session) are never in two transactions at
once, so per-key order is exactly arrival order.

`linger_s` adapts batch size to load. While a commit is in flight, a small queue waits for it to
finish, for `linger_rows` items, or for its oldest item to be `linger_s` old, whichever comes
first. Without it, frames spread evenly in time start a parallel transaction of one or two rows
each, and a transaction costs the database about as much as seven or eight rows in one. It
waits only when waiting can pay: with nothing in flight, or when items arrive too slowly for
another to come within `linger_s` (the rate over the last 0.1-0.2 s), a batch starts at once.

A batch has two phases. `flush` is the transaction only; the moment it commits, the batch's
keys and its slot are free for the next transaction. `deliver` (publishing what was stored)
and the writers' callbacks then run in commit order, one batch after another, so two batches
that share a key are delivered in the order they were stored, while the database already works
on the next one. Resolving a big batch takes many event-loop turns; holding the transaction
slot through them would make the database wait on the loop.

Everything is bounded: when the queue is full, submitters wait (which stops the caller reading
its socket: backpressure reaches the client instead of memory growing), and no new transaction
starts while `max_undelivered` committed batches wait for delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["BatcherClosed", "GroupCommitter"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Done = Callable[[R | None, BaseException | None], None]
# (item, its callback, when it was queued: loop time)
Entry = tuple[T, Callable[[Any, BaseException | None], None], float]

# Resolving a committed batch runs every item's callback (an ack write each); let the event loop
# breathe between chunks (about 1 ms each) so a 2,000-frame batch cannot stall other sockets.
YIELD_EVERY = 32
# The linger's arrival rate is counted over windows this long; a rate over less than
# RATE_MIN_SPAN_S (a first item) is counted as over that span.
RATE_WINDOW_S = 0.1
RATE_MIN_SPAN_S = 0.01


class BatcherClosed(Exception):
    """The committer is draining or stopped; the item was not accepted."""


class GroupCommitter(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch: int = 500,
        max_delay_s: float = 0.0,
        max_pending: int = 20_000,
        max_in_flight: int = 1,
        linger_s: float = 0.0,
        linger_rows: int = 64,
        max_undelivered: int = 4,
        key: Callable[[T], Hashable] | None = None,
        deliver: Callable[[list[T], list[R]], Awaitable[None]] | None = None,
        on_batch: Callable[[int, float, float], None] | None = None,
        on_answered: Callable[[float], None] | None = None,
    ) -> None:
        """`on_batch(rows, stored_s, delivered_s)` runs per committed batch; `on_answered(s)`
        per item stored, with the seconds from its submit to its callback (ack latency)."""
        if max_in_flight > 1 and key is None:
            raise ValueError("several batches in flight need a key to keep per-key order")
        self._flush = flush
        self._deliver = deliver
        self._max_in_flight = max_in_flight
        self._max_undelivered = max(1, max_undelivered)
        self._undelivered = 0  # committed (or failed), callbacks not yet all run
        self._delivered: asyncio.Future[None] | None = None  # the last batch in the line
        self._key = key
        self._busy_keys: set[Hashable] = set()
        self._flushing: set[asyncio.Task[None]] = set()
        self._batch_done = asyncio.Event()
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._linger = linger_s
        self._linger_rows = linger_rows
        self._enough = asyncio.Event()  # linger_rows are queued: a lingering batch goes now
        # Arrivals in the current rate window and the one before it (count, seconds).
        self._arrived = 0
        self._window_start = 0.0
        self._previous: tuple[int, float] = (0, 0.0)
        self._max_pending = max_pending
        self._on_batch = on_batch
        self._on_answered = on_answered
        self._queue: deque[Entry[T]] = deque()
        self._has_items = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._window_start = loop.time()
            self._task = loop.create_task(self._run(), name="group-commit")

    async def submit(self, item: T) -> asyncio.Future[R]:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()

        def done(result: R | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        await self.submit_with(item, done)
        return future

    async def submit_with(self, item: T, done: Done[R]) -> None:
        """Enqueue `item`; `done(result, None)` or `done(None, error)` runs after its batch."""
        while len(self._queue) >= self._max_pending:
            if self._closed:
                raise BatcherClosed("committer is closed")
            self._has_room.clear()
            await self._has_room.wait()
        if self._closed:
            raise BatcherClosed("committer is closed")
        self._queue.append((item, done, asyncio.get_running_loop().time()))
        self._arrived += 1
        self._has_items.set()
        if len(self._queue) >= self._linger_rows:
            self._enough.set()

    async def drain(self) -> None:
        """Stop accepting, commit everything already queued, then stop the loop."""
        self._closed = True
        self._has_items.set()
        self._has_room.set()
        self._enough.set()  # a lingering queue commits now
        if self._task is not None:
            await self._task
            self._task = None

    @staticmethod
    def _resolve(
        done: Callable[[Any, BaseException | None], None], result: Any, error: BaseException | None
    ) -> None:
        try:
            done(result, error)
        except Exception:
            log.exception("group commit callback failed")

    def _take_batch(self) -> list[Entry[T]]:
        """The oldest items whose key is not in a batch in flight, in queue order."""
        if self._key is None:
            n = min(len(self._queue), self._max_batch)
            return [self._queue.popleft() for _ in range(n)]
        batch: list[Entry[T]] = []
        held: list[Entry[T]] = []
        claimed: set[Hashable] = set()
        busy = self._busy_keys
        while self._queue and len(batch) < self._max_batch:
            entry = self._queue.popleft()
            k = self._key(entry[0])
            if k in busy and k not in claimed:
                held.append(entry)  # an earlier item of this key is committing: keep order
            else:
                if k not in claimed:
                    claimed.add(k)
                    busy.add(k)
                batch.append(entry)
        self._queue.extendleft(reversed(held))
        return batch

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closed and not self._flushing:
                    if self._delivered is not None:
                        await self._delivered
                    return
                self._has_items.clear()
                self._batch_done.clear()
                waits = [asyncio.ensure_future(self._has_items.wait())]
                if self._flushing:
                    waits.append(asyncio.ensure_future(self._batch_done.wait()))
                await _first(waits)
                continue
            if (
                len(self._flushing) >= self._max_in_flight
                or self._undelivered >= self._max_undelivered
            ):
                self._batch_done.clear()
                await self._batch_done.wait()
                continue
            if self._linger and self._flushing and await self._lingered():
                continue
            if self._max_delay and len(self._queue) < self._max_batch and not self._closed:
                await asyncio.sleep(self._max_delay)
            batch = self._take_batch()
            if len(self._queue) < self._max_pending:
                self._has_room.set()
            if not batch:  # everything queued waits for a batch in flight
                self._batch_done.clear()
                await self._batch_done.wait()
                continue
            task = asyncio.get_running_loop().create_task(self._commit(batch))
            self._flushing.add(task)

    async def _lingered(self) -> bool:
        """While a commit is in flight, let a small queue grow; False if it should go now."""
        if self._closed or len(self._queue) >= self._linger_rows:
            return False
        loop = asyncio.get_running_loop()
        now = loop.time()
        remaining = self._queue[0][2] + self._linger - now
        if remaining <= 0 or self._arrival_rate(now) * self._linger < 1:
            return False  # past its deadline, or nothing more is likely to come in time
        self._batch_done.clear()
        self._enough.clear()
        await _first(
            [
                asyncio.ensure_future(self._batch_done.wait()),
                asyncio.ensure_future(self._enough.wait()),
            ],
            at_most_s=remaining,
        )
        return True

    def _arrival_rate(self, now: float) -> float:
        """Items per second over the current window and the one before (0.1-0.2 s in all)."""
        elapsed = now - self._window_start
        count, seconds = self._previous
        rate = (count + self._arrived) / max(seconds + elapsed, RATE_MIN_SPAN_S)
        if elapsed >= RATE_WINDOW_S:
            self._previous = (self._arrived, elapsed)
            self._arrived, self._window_start = 0, now
        return rate

    def _release(self, items: list[T]) -> None:
        if self._key is not None:
            for item in items:
                self._busy_keys.discard(self._key(item))
        current = asyncio.current_task()
        if current is not None:
            self._flushing.discard(current)
        self._batch_done.set()

    async def _commit(self, batch: list[Entry[T]]) -> None:
        loop = asyncio.get_running_loop()
        items = [item for item, _, _ in batch]
        started = loop.time()
        results: list[R] = []
        error: BaseException | None = None
        try:
            results = await self._flush(items)
            if len(results) != len(items):
                raise RuntimeError(f"flush returned {len(results)} results for {len(items)} items")
        except Exception as err:
            log.warning("group commit of %d item(s) failed: %s", len(batch), err)
            error = err
        except BaseException:
            self._release(items)
            raise
        stored_s = loop.time() - started
        # Committed: free the keys and the slot now, and take a place in the delivery line
        # before any later transaction can finish (the line is commit order).
        self._release(items)
        previous, mine = self._delivered, loop.create_future()
        self._delivered = mine
        self._undelivered += 1
        try:
            if previous is not None:
                await previous
            delivered = loop.time()
            if error is None and self._deliver is not None:
                try:
                    await self._deliver(items, results)
                except Exception:  # stored is stored: the writers still hear so
                    log.exception("delivery of a committed batch failed")
            answered = self._on_answered if error is None else None
            now = loop.time()
            for i, (_, done, queued) in enumerate(batch):
                if i and i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a big batch must not hold the loop for its acks
                    now = loop.time()
                if error is None:
                    self._resolve(done, results[i], None)
                else:
                    self._resolve(done, None, error)
                if answered is not None:
                    answered(now - queued)
            if error is None and self._on_batch is not None:
                self._on_batch(len(batch), stored_s, loop.time() - delivered)
        finally:
            self._undelivered -= 1
            mine.set_result(None)
            if self._delivered is mine:
                self._delivered = None
            self._batch_done.set()


async def _first(waits: Sequence[asyncio.Future[Any]], at_most_s: float | None = None) -> None:
    """Wait until one of `waits` is done (or `at_most_s` passes); cancel the rest."""
    _, pending = await asyncio.wait(waits, timeout=at_most_s, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
