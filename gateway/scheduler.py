"""When to analyze: single-flight per session, one coalesced follow-up, a global limit.

A trigger while a session's analysis runs does not start a second one; it marks the session
dirty, and exactly one follow-up runs on the newest window when the current run ends, however
many triggers arrived. A semaphore bounds concurrent analyses across sessions, so a burst of
sessions queues instead of stampeding the model. A failing or slow session only delays itself.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["AnalysisScheduler", "Trigger"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Trigger:
    session_id: uuid.UUID
    reason: str  # "count" (every N messages), "manual" (panel/REST), ...
    message_count: int | None = None


RunFn = Callable[[Trigger], Awaitable[None]]


class AnalysisScheduler:
    def __init__(self, run: RunFn, *, concurrency: int = 4) -> None:
        self._run = run
        self._limit = asyncio.Semaphore(concurrency)
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._dirty: dict[uuid.UUID, Trigger] = {}
        self._closed = False

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def trigger(self, trigger: Trigger) -> bool:
        """Schedule an analysis; returns False when it was coalesced into a pending follow-up."""
        if self._closed:
            return False
        sid = trigger.session_id
        if sid in self._running:
            self._dirty[sid] = trigger
            return False
        task = asyncio.get_running_loop().create_task(self._loop(trigger), name=f"analysis-{sid}")
        self._running[sid] = task
        return True

    async def _loop(self, trigger: Trigger) -> None:
        sid = trigger.session_id
        try:
            current: Trigger | None = trigger
            while current is not None:
                async with self._limit:
                    try:
                        await self._run(current)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("analysis run for session %s crashed", sid)
                current = self._dirty.pop(sid, None)
        finally:
            self._running.pop(sid, None)

    async def wait_idle(self) -> None:
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        self._dirty.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
