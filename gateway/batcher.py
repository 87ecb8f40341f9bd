"""Group commit: many writers, one transaction per batch, each writer told when its row is durable.

`submit()` enqueues an item and returns a future resolved after the batch containing it
commits. Batches form naturally while the previous commit is in flight (an optional
`max_delay_s` waits a little longer to grow them). The queue is bounded: when it is full,
`submit()` waits, which stops the caller reading its socket: backpressure reaches the client
instead of memory growing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["BatcherClosed", "GroupCommitter"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


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
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._max_delay = max_delay_s
        self._max_pending = max_pending
        self._on_batch = on_batch
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._has_items = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def submit(self, item: T) -> asyncio.Future[R]:
        while len(self._queue) >= self._max_pending:
            if self._closed:
                raise BatcherClosed("committer is closed")
            self._has_room.clear()
            await self._has_room.wait()
        if self._closed:
            raise BatcherClosed("committer is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._has_items.set()
        return future

    async def drain(self) -> None:
        """Stop accepting, commit everything already queued, then stop the loop."""
        self._closed = True
        self._has_items.set()
        self._has_room.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._has_items.clear()
                await self._has_items.wait()
                continue
            if self._max_delay and len(self._queue) < self._max_batch and not self._closed:
                await asyncio.sleep(self._max_delay)
            n = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(n)]
            if len(self._queue) < self._max_pending:
                self._has_room.set()
            started = loop.time()
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as err:
                log.warning("group commit of %d item(s) failed: %s", n, err)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            if self._on_batch is not None:
                self._on_batch(n, loop.time() - started)
