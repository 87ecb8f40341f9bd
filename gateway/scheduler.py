"""When to analyze: single-flight per session, one coalesced follow-up, a global limit.

A trigger while a session's analysis runs does not start a second one; it marks the session
dirty, and exactly one follow-up runs on the newest window when the current run ends, however
many triggers arrived. A limit bounds concurrent analyses across sessions, so a burst of
sessions queues instead of stampeding the model. A failing or slow session only delays itself.
Owed runs (the sweep's, for boundaries whose run died with another process) wait behind every
other kind: a backlog of them after a restart must not hold live sessions' analyses back.

Every run has a `run_id` (the stored analysis id). `schedule()` returns the id of the run that
will cover a trigger before it runs: the trigger's own (or a fresh) id when it starts a run, or
the pending follow-up's id when it is coalesced, so a caller can promise the id up front. A
trigger may carry a `done` future: it resolves with the covering run's return value once that
run finishes (with its exception if it raised, cancelled if the scheduler closes first).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = ["AnalysisScheduler", "Trigger", "TriggerReason"]

log = logging.getLogger(__name__)


class TriggerReason(StrEnum):
    """Why an analysis runs (logged with every run)."""

    COUNT = "count"  # every ANALYSIS_EVERY stored messages
    MANUAL = "manual"  # a panel's or REST request
    RETRY = "retry"  # the automatic retry after a failed run
    FINAL = "final"  # the call ended (REST end, end_call, or ANALYSIS_IDLE_SECONDS of silence)
    OWED = "owed"  # a boundary whose run died with its process (services.analysis_debt sweep)


@dataclass(frozen=True, slots=True)
class Trigger:
    session_id: uuid.UUID
    reason: TriggerReason
    message_count: int | None = None
    # The id the run will store under; the scheduler fills it in when absent.
    run_id: uuid.UUID | None = None
    # Resolved with the covering run's result; never passed on to the run function.
    done: asyncio.Future[object] | None = field(default=None, compare=False, repr=False)


RunFn = Callable[[Trigger], Awaitable[object]]


class _Slots:
    """A semaphore whose waiters are served by priority (lower first), in arrival order within
    a priority."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as it was cancelled: pass the slot on
            raise

    def release(self) -> None:
        while self._waiting:
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


def _priority(trigger: Trigger) -> int:
    return 1 if trigger.reason is TriggerReason.OWED else 0


class AnalysisScheduler:
    def __init__(self, run: RunFn, *, concurrency: int = 4) -> None:
        self._run = run
        self._limit = _Slots(concurrency)
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._dirty: dict[uuid.UUID, Trigger] = {}
        self._waiters: dict[uuid.UUID, list[asyncio.Future[object]]] = {}  # by run_id
        self._closed = False

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def trigger(self, trigger: Trigger) -> bool:
        """Schedule an analysis; returns False when it was coalesced into a pending follow-up."""
        sid = trigger.session_id
        started = not self._closed and sid not in self._running
        self.schedule(trigger)
        return started

    def schedule(self, trigger: Trigger) -> uuid.UUID | None:
        """Schedule an analysis; returns the run id that will cover it (None once closed)."""
        if self._closed:
            if trigger.done is not None and not trigger.done.done():
                trigger.done.cancel()
            return None
        sid = trigger.session_id
        pending = self._dirty.get(sid)
        if sid in self._running:
            # The follow-up runs on the newest window but keeps the id it already promised.
            run_id = pending.run_id if pending is not None else trigger.run_id
            current = replace(trigger, run_id=run_id or uuid.uuid4(), done=None)
            self._dirty[sid] = current
        else:
            current = replace(trigger, run_id=trigger.run_id or uuid.uuid4(), done=None)
            task = asyncio.get_running_loop().create_task(
                self._loop(current), name=f"analysis-{sid}"
            )
            self._running[sid] = task
        assert current.run_id is not None
        if trigger.done is not None:
            self._waiters.setdefault(current.run_id, []).append(trigger.done)
        return current.run_id

    async def _loop(self, trigger: Trigger) -> None:
        sid = trigger.session_id
        current: Trigger | None = trigger
        try:
            while current is not None:
                await self._limit.acquire(_priority(current))
                try:
                    result = await self._run(current)
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    log.exception("analysis run for session %s crashed", sid)
                    self._settle(current, error=err)
                else:
                    self._settle(current, result=result)
                finally:
                    self._limit.release()
                current = self._dirty.pop(sid, None)
        finally:
            self._running.pop(sid, None)
            if current is not None:  # cancelled mid-run: its waiters will never get a result
                self._settle(current, cancelled=True)

    def _settle(
        self,
        trigger: Trigger,
        *,
        result: object = None,
        error: BaseException | None = None,
        cancelled: bool = False,
    ) -> None:
        assert trigger.run_id is not None
        for future in self._waiters.pop(trigger.run_id, []):
            if future.done():
                continue
            if cancelled:
                future.cancel()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def wait_idle(self) -> None:
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        for pending in self._dirty.values():
            self._settle(pending, cancelled=True)
        self._dirty.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()
