"""Restart to serving: how long after `exec` a gateway killed with SIGKILL answers `/healthz`.

What an operator's supervisor sees after a crash (systemd's `Restart=on-failure`): the process
is started again on the same data directory and database, and candidates reconnect as soon as
it listens. Measured on both database set-ups: `DATABASE_URL` (production) and the embedded
server of `make run`, which the restarted gateway joins (it outlives the killed process).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import GATEWAY_ENV, Context
from bench.procs import Child, free_port, start_child

__all__ = ["RestartRun", "run_restart"]

POLL_S = 0.005  # a plain TCP request every 5 ms: cheap, and finer than the figures


@dataclass
class RestartRun:
    label: str
    first_s: float  # the very first start (schema, seed; for the embedded server also initdb)
    after_kill_s: list[float] = field(default_factory=list)
    import_s: float = 0.0  # the interpreter plus `import handlers.cli`, measured alone


async def run_restart(ctx: Context, rounds: int) -> list[RestartRun]:
    runs = [
        await _restarts(
            ctx, "DATABASE_URL", {"DATABASE_URL": ctx.db.dsn}, rounds, "restart-external"
        ),
        await _restarts(ctx, "embedded PostgreSQL (`make run`)", {}, rounds, "restart-embedded"),
    ]
    imports = await _import_seconds(ctx.workdir)
    for run in runs:
        run.import_s = imports
    return runs


async def _restarts(
    ctx: Context, label: str, env: dict[str, str], rounds: int, name: str
) -> RestartRun:
    workdir = ctx.workdir / name
    full_env = {**GATEWAY_ENV, "GATEWAY_DATA_DIR": str(workdir / "data"), **env}
    port = free_port()
    argv = ["-m", "gateway", "serve", "--port", str(port), "--seed"]
    child = start_child(name, argv, full_env, workdir, port)
    try:
        run = RestartRun(label, await _until_serving(child, time.monotonic()))
        await child.wait_ready()  # migrations and seeds done, the offline pool warming
        for _ in range(rounds):
            await asyncio.sleep(2.0)  # the analysis pool warm, the machine quiet again
            child.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(child.proc.wait)
            started = time.monotonic()
            child = start_child(name, argv[:-1], full_env, workdir, port)  # no --seed again
            run.after_kill_s.append(await _until_serving(child, started))
        return run
    finally:
        await child.stop()
        if not env:  # the embedded server outlives its gateways: stop it like `make run` does
            await _stop_embedded(workdir / "data" / "pgdata")


async def _until_serving(child: Child, started: float, within_s: float = 120.0) -> float:
    """Seconds from `started` until `GET /healthz` answers 200 (polled over plain TCP)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    deadline = started + within_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", child.port)
            try:
                writer.write(request)
                status = await reader.readline()
            finally:
                writer.close()
            if status.startswith(b"HTTP/1.1 200"):
                return time.monotonic() - started
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"{child.name} not serving after {within_s:.0f} s:\n{child.tail()}")


async def _import_seconds(workdir: Path) -> float:
    """Interpreter start plus the gateway's imports: the floor a restart cannot go under
    without changing what the process loads (the best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.monotonic()
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", "import handlers.cli"], cwd=workdir, check=True
        )
        best = min(best, time.monotonic() - started)
    return best


async def _stop_embedded(pgdata: Path) -> None:
    from storage.embedded import EmbeddedPostgres

    if (pgdata / "postmaster.pid").exists():  # still running: join it, then stop it
        server = EmbeddedPostgres(pgdata)
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.stop)
