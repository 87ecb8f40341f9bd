"""Load-generator processes: each runs one `Job` in its own asyncio loop.

The orchestrator and a worker talk over a pipe in three steps, so that every worker has its
sockets open before any of them starts measuring:

    worker: setup() -> ("ready", info)      orchestrator: waits for all, then "go"
    worker: run()   -> ("done", result)     orchestrator: collects, then "close"
    worker: teardown(), exit

Workers are started with the `spawn` method (the orchestrator runs an event loop; forking it
would copy that loop's state into the child).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import traceback
from multiprocessing.connection import Connection
from typing import Any, Protocol

from bench.procs import raise_nofile_limit

__all__ = ["Job", "WorkerError", "WorkerGroup"]


class Job(Protocol):
    async def setup(self) -> dict[str, Any]: ...

    async def run(self) -> dict[str, Any]: ...

    async def teardown(self) -> None: ...


class WorkerError(Exception):
    pass


def _worker_main(conn: Connection, job: Job) -> None:
    raise_nofile_limit()
    asyncio.run(_serve(conn, job))


async def _recv(conn: Connection) -> Any:
    return await asyncio.to_thread(conn.recv)


async def _serve(conn: Connection, job: Job) -> None:
    try:
        conn.send(("ready", await job.setup()))
        if await _recv(conn) == "go":
            conn.send(("done", await job.run()))
            await _recv(conn)
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc(limit=8)))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(job.teardown(), 30)
        conn.close()


class WorkerGroup:
    """Start one process per job; step them through ready/go/close together."""

    def __init__(self, jobs: list[Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        for job in jobs:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(theirs, job), daemon=True)
            proc.start()
            theirs.close()
            self._pipes.append(ours)
            self._procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [int(p.pid) for p in self._procs if p.pid is not None]

    async def _collect(self, expect: str, timeout_s: float) -> list[dict[str, Any]]:
        async def one(pipe: Connection) -> dict[str, Any]:
            ready = await asyncio.to_thread(pipe.poll, timeout_s)
            if not ready:
                raise WorkerError(f"a worker did not answer {expect!r} within {timeout_s:.0f} s")
            kind, payload = pipe.recv()
            if kind != expect:
                raise WorkerError(f"worker failed:\n{payload}")
            assert isinstance(payload, dict)
            return payload

        return list(await asyncio.gather(*(one(p) for p in self._pipes)))

    async def ready(self, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        return await self._collect("ready", timeout_s)

    def go(self) -> None:
        for pipe in self._pipes:
            pipe.send("go")

    async def results(self, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        return await self._collect("done", timeout_s)

    async def close(self, timeout_s: float = 30.0) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send("close")
        for proc in self._procs:
            await asyncio.to_thread(proc.join, timeout_s)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5)
        for pipe in self._pipes:
            pipe.close()

    async def __aenter__(self) -> WorkerGroup:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
