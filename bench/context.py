"""What every benchmark shares: the scale, the database, and how to start a gateway child."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
import asyncpg

from bench.procs import BENCH_SECRET, Child, Database, free_port, start_child
from bench.sessions import admin_token

__all__ = ["FULL", "QUICK", "Context", "Scale", "split"]

T = TypeVar("T")


@dataclass(frozen=True)
class Scale:
    quick: bool
    load_procs: int  # client processes for the ingest/latency/fan-out benchmarks
    ingest_conns: int
    ingest_window: int  # frames in flight per candidate connection
    ingest_s: float
    ingest_rounds: int  # per side, alternating with the design's path
    latency_sessions: int
    latency_s: float
    fanout_panels: int
    fanout_events: int
    fanout_gap_s: float
    fanout_prefill: int  # large events sent while the stalled panel is present, unmeasured
    idle_conns: int
    idle_sessions: int
    idle_procs: int
    analysis_sessions: int  # sessions analyzing at once (loop lag)
    analysis_rounds: int  # bursts of them, for more lag samples
    trigger_samples: int  # one-at-a-time triggers, offline analyzer
    model_samples: int  # one-at-a-time triggers, fake 1 s model
    compression_clients: int
    compression_messages: int
    store_sessions: int  # storecost: frames per batch (one per session)
    store_batches: int  # storecost: batches per variant per round
    store_rounds: int
    small_sessions: int  # storecost, small batches: sessions in each database
    small_batch: int  # frames per call
    small_calls: int  # calls per variant per round
    openloop_s: float
    many_conns: int  # the many-connections run (as far as the descriptor limit allows)
    many_procs: int
    openloop_default_rate: float  # frames/s when section 1 did not run


FULL = Scale(
    quick=False,
    load_procs=2,
    ingest_conns=1000,
    ingest_window=8,
    ingest_s=10.0,
    ingest_rounds=2,
    latency_sessions=1000,
    latency_s=15.0,
    fanout_panels=1000,
    fanout_events=150,
    fanout_gap_s=0.12,
    fanout_prefill=40,
    idle_conns=10_000,
    idle_sessions=1000,
    idle_procs=4,
    analysis_sessions=100,
    analysis_rounds=8,
    trigger_samples=20,
    model_samples=20,
    compression_clients=1000,
    compression_messages=100,
    store_sessions=1000,
    store_batches=40,
    store_rounds=3,
    small_sessions=20_000,
    small_batch=10,
    small_calls=1500,
    openloop_s=15.0,
    many_conns=50_000,
    many_procs=8,
    openloop_default_rate=5000.0,
)

QUICK = Scale(
    quick=True,
    load_procs=2,
    ingest_conns=100,
    ingest_window=8,
    ingest_s=3.0,
    ingest_rounds=1,
    latency_sessions=100,
    latency_s=4.0,
    fanout_panels=100,
    fanout_events=20,
    fanout_gap_s=0.05,
    fanout_prefill=20,
    idle_conns=1000,
    idle_sessions=100,
    idle_procs=2,
    analysis_sessions=20,
    analysis_rounds=1,
    trigger_samples=5,
    model_samples=2,
    compression_clients=100,
    compression_messages=30,
    store_sessions=100,
    store_batches=5,
    store_rounds=1,
    small_sessions=1000,
    small_batch=10,
    small_calls=50,
    openloop_s=4.0,
    many_conns=2_000,
    many_procs=2,
    openloop_default_rate=500.0,
)


def _cpu_times() -> list[int]:
    """The machine's CPU time by kind (user, nice, system, idle, iowait, ...), in ticks."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def split(items: list[T], parts: int) -> list[list[T]]:
    """Deal `items` round-robin into `parts` non-empty lists."""
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


# The gateway under test: offline analyzer and voice agent, no vendor keys. The rate limit is
# an abuse guard, not what is measured: it is lifted so pipelining clients are
# limited by the gateway alone. Analysis runs every 1,000 messages (never, in practice) except
# in the analysis benchmark, so ingest numbers are not mixed with analysis CPU.
GATEWAY_ENV = {
    "GATEWAY_JWT_SECRET": BENCH_SECRET,
    "GATEWAY_LOG_LEVEL": "WARNING",
    "GATEWAY_ANALYZER": "offline",
    "VOICE_AGENT_PROVIDER": "offline",
    "WS_RATE_PER_SECOND": "1000000",
    "WS_RATE_BURST": "1000000",
    # Thousands of clients from one address (the load generator): the admission limits are
    # abuse guards too, lifted like the rate limit.
    "WS_CONNECTS_PER_MINUTE": "60000",
    "WS_CONNECTS_PER_MINUTE_PER_ADDRESS": "600000",
    "WS_PANELS_PER_TOKEN": "10000",
    "MAX_CONNECTIONS_PER_ADDRESS": "1000000",
    "ANALYSIS_EVERY": "1000",
    "GATEWAY_EVENT_LOOP": "uvloop",  # the default (`auto`) when installed; explicit here
}


@dataclass
class Context:
    scale: Scale
    workdir: Path
    db: Database
    measured: dict[str, float] = field(default_factory=dict)  # figures later sections use

    async def start_gateway(self, name: str, env: dict[str, str] | None = None) -> Child:
        port = free_port()
        full_env = {
            **GATEWAY_ENV,
            "DATABASE_URL": self.db.dsn,
            "GATEWAY_DATA_DIR": str(self.workdir / name / "data"),
            **(env or {}),
        }
        child = start_child(
            name,
            ["-m", "gateway", "serve", "--port", str(port), "--seed"],
            full_env,
            self.workdir / name,
            port,
        )
        try:
            await child.wait_ready()
        except BaseException:
            await child.stop()
            raise
        return child

    @staticmethod
    async def metrics(child: Child) -> dict[str, float]:
        """The gateway's /metrics, as {"name{labels}": value}."""
        headers = {"Authorization": f"Bearer {admin_token()}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(child.url + "/metrics", headers=headers) as resp,
        ):
            text = await resp.text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    continue
        return out

    async def quiesce(self, timeout_s: float = 60.0, idle: float = 0.8) -> str:
        """Let the previous section's aftermath pass before the next one measures: a
        `CHECKPOINT` (a saturating run leaves dirty pages and WAL whose writing would otherwise
        land in the next measurement's commits), then wait until the machine's CPUs were at
        least `idle` idle over a second (I/O wait counts as busy) and no autovacuum worker
        runs, for at most `timeout_s`. Returns what happened, for the section's notes."""
        t0 = time.monotonic()
        conn = await asyncpg.connect(self.db.admin_dsn)
        try:
            try:
                await conn.execute("CHECKPOINT")
                checkpoint = "CHECKPOINT"
            except asyncpg.InsufficientPrivilegeError:
                checkpoint = "no CHECKPOINT (not a superuser)"
            state = ""
            while time.monotonic() - t0 < timeout_s:
                a = _cpu_times()
                await asyncio.sleep(1.0)
                b = _cpu_times()
                total = sum(b) - sum(a)
                idle_now = (b[3] - a[3]) / total if total > 0 else 0.0
                vacuuming = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                )
                if idle_now >= idle and not vacuuming:
                    state = "then idle"
                    break
                state = (
                    f"still busy, measured anyway (last second: CPUs {idle_now:.0%} idle, "
                    f"{vacuuming} autovacuum workers)"
                )
        finally:
            await conn.close()
        return f"{checkpoint}, {state} after {time.monotonic() - t0:.1f} s"
