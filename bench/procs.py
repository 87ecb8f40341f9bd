"""The processes a benchmark run owns: PostgreSQL, gateway children, the baseline server.

Everything listens on 127.0.0.1 only. Each child is a separate OS process started with
`sys.executable`, its output kept in a log file under the run's temp dir (shown on failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from storage.embedded import EmbeddedPostgres

__all__ = [
    "BENCH_SECRET",
    "Child",
    "Database",
    "TreeMemory",
    "children_of",
    "cpu_seconds",
    "free_port",
    "process_memory",
    "raise_nofile_limit",
    "rss_kib",
    "start_child",
    "tree",
]

# The children get this secret explicitly, so the bench can sign admin/session tokens itself.
BENCH_SECRET = "bench-secret-" + "0123456789abcdef" * 3
REPO_ROOT = Path(__file__).resolve().parent.parent


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database_name(uri: str, name: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(path="/" + name))


@dataclass
class Database:
    """A fresh database for the run: on the embedded server in `root`, or on `DATABASE_URL`."""

    root: Path
    dsn: str = ""
    version: str = ""
    postmaster_pid: int | None = None
    _server: EmbeddedPostgres | None = None
    _admin: str = ""
    _name: str = field(default_factory=lambda: f"ig_bench_{uuid.uuid4().hex[:8]}")
    _extra: list[str] = field(default_factory=list)  # databases of single sections

    async def start(self) -> None:
        external = os.environ.get("DATABASE_URL")
        if external:
            self._admin = external
        else:
            self._server = EmbeddedPostgres(self.root / "pgdata", delete_on_stop=True)
            self._admin = await asyncio.to_thread(self._server.start)
            pid_file = self.root / "pgdata" / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError):
                self.postmaster_pid = int(pid_file.read_text().split()[0])
        conn = await asyncpg.connect(self._admin)
        try:
            await conn.execute(f'CREATE DATABASE "{self._name}"')
            self.version = str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
        self.dsn = _with_database_name(self._admin, self._name)

    @property
    def admin_dsn(self) -> str:
        """The server's maintenance database (for benchmarks that make databases of their own)."""
        return self._admin

    async def create_database(self, prefix: str) -> str:
        """Another empty database on the same server, for a section that must not see the
        others' rows; its DSN. Dropped by `stop`."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(self._admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self._extra.append(name)
        return _with_database_name(self._admin, name)

    async def stop(self) -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(self._admin)
            try:
                for name in (self._name, *self._extra):
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)


@dataclass
class Child:
    """A child process serving HTTP on `port`; `url` is its base URL."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait_ready(self, path: str = "/readyz", timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.url + path) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")

    async def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)


def start_child(name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int) -> Child:
    """Start `python argv...` in `workdir` (no stray `.env`), logging to `workdir/name.log`."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GATEWAY_"))}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv], cwd=workdir, env=full_env, stdout=out, stderr=out
        )
    return Child(name, proc, port, log)


def _status_kib(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    """VmRSS of one process, KiB (0 if it is gone)."""
    return _status_kib(pid, "VmRSS")


def _pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(entry.name))
    return out


@dataclass(frozen=True)
class TreeMemory:
    processes: int
    rss_kib: int
    pss_kib: int


def process_memory(pid: int, *, with_children: bool) -> TreeMemory:
    """RSS and PSS of `pid` (and its direct children: PostgreSQL backends, analysis workers)."""
    pids = [pid, *(_children(pid) if with_children else [])]
    return TreeMemory(len(pids), sum(rss_kib(p) for p in pids), sum(_pss_kib(p) for p in pids))


def children_of(pid: int) -> list[int]:
    return _children(pid)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by `pids` (live processes only)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def tree(pid: int | None) -> list[int]:
    """`pid` and its direct children (PostgreSQL: the postmaster and its backends)."""
    return [] if pid is None else [pid, *_children(pid)]
