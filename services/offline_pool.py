"""The offline analyzer's worker processes: CPU work off the event loop, rebuilt if one dies."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from analysis.models import AnalysisResult, TranscriptLine
from analysis.offline import analyze_lines, init_worker
from analysis.rubrics import Rubric
from services.worker_watch import init_worker as watch_gateway

__all__ = ["OfflinePool"]

log = logging.getLogger("gateway.analysis")


def _mp_context() -> Any:
    """forkserver (workers fork from a small preloaded server: fast, no inherited threads or
    sockets), else spawn. Never plain fork: the gateway process has threads and sockets."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["analysis.offline"])
        return ctx
    return multiprocessing.get_context("spawn")


def _init_worker(parent_pid: int) -> None:
    """Each worker: yield the CPU (`nice` 10) and exit when the gateway dies (even by SIGKILL;
    `services.worker_watch`), then load the semantic model once, before any window."""
    watch_gateway(parent_pid)
    init_worker()


class OfflinePool:
    """The offline analyzer's worker processes, rebuilt if one dies.

    A worker killed by the OOM killer or a signal breaks a `ProcessPoolExecutor` for good; one
    broken pool must cost one failed run, not every analysis until the gateway restarts.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self._workers, mp_context=_mp_context(), initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    async def analyze(
        self,
        window: Sequence[TranscriptLine],
        rubric: Rubric,
        language: str,
        guidance: str | None = None,
    ) -> AnalysisResult:
        """`guidance` shapes a model's prompt; the offline analyzer's rules do not use it."""
        loop = asyncio.get_running_loop()
        lines = [(line.role, line.text) for line in window]
        weights = {f.name: f.weight for f in rubric.factors}
        args = (lines, rubric.blueprint, weights, language)
        pool = self._pool
        try:
            return await self._run(loop, pool, args)
        except BrokenProcessPool:
            if self._pool is pool:  # the first failing run rebuilds; the others just retry
                log.warning("offline analyzer worker died; starting a new process pool")
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            return await self._run(loop, self._pool, args)

    async def _run(
        self, loop: asyncio.AbstractEventLoop, pool: ProcessPoolExecutor, args: tuple[Any, ...]
    ) -> AnalysisResult:
        if len(getattr(pool, "_processes", None) or {}) < self._workers:
            # A submit that starts a worker blocks until it runs (the first one also starts the
            # forkserver, which imports the analyzer: a third of a second here). From a thread,
            # so a restarting gateway serves meanwhile and the loop never stalls on a spawn.
            future = await asyncio.to_thread(pool.submit, analyze_lines, *args)
            return await asyncio.wrap_future(future)
        return await loop.run_in_executor(pool, analyze_lines, *args)

    def worker_pids(self) -> list[int]:
        return list(getattr(self._pool, "_processes", {}) or {})

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
