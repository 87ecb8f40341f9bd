"""The PostgreSQL bus (`GATEWAY_BUS=postgres`): how many events per second one NOTIFY channel
carries, measured with the gateway's own `PostgresBus` in separate processes.

Every gateway process publishes its events on the one channel and reads every notification on
it (it skips, after parsing, those of sessions it holds nothing for), so each process's listener
takes the whole deployment's event rate. The figure that limits a deployment is therefore what
one listener can take, and how that changes as processes are added.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.procs import cpu_seconds, tree
from bench.workers import WorkerGroup
from gateway.bus import Audience, BusMessage
from services.pgbus import PostgresBus
from storage.pool import Pool, create_pool

__all__ = ["BusJob", "run_bus"]

# A transcript event of the size panels get (about 380 bytes).
EVENT = (
    b'{"type":"transcript","message_id":"0190c3a2-6a1e-7b3c-9d2f-1a2b3c4d5e6f","seq":100,'
    b'"round_number":1,"role":"user","text":"Thanks, that helps. What does success look like '
    b'for your team in the first 90 days?","timestamp":"2026-12-01T10:00:00.000000+00:00",'
    b'"word_count":16,"session_id":"0190c3a2-6a1e-7b3c-9d2f-1a2b3c4d5e6f","event_id":1000,'
    b'"message_count":100}'
)
BACKLOG = 20_000  # a publisher waits while this many events wait to be sent


@dataclass
class BusJob:
    dsn: str
    publish: bool
    seconds: float
    _pool: Pool | None = None
    _bus: PostgresBus | None = None
    _received: list[int] = field(default_factory=lambda: [0])

    async def setup(self) -> dict[str, Any]:
        self._pool = await create_pool(self.dsn, min_size=1, max_size=2)
        self._bus = PostgresBus(self.dsn, self._pool)
        counter = self._received

        def count(_message: BusMessage) -> None:
            counter[0] += 1

        self._bus.subscribe(count)
        await self._bus.start()
        return {"open": 1}

    async def run(self) -> dict[str, Any]:
        bus = self._bus
        assert bus is not None
        sids = [uuid.uuid4() for _ in range(1000)]
        published = 0
        t0 = time.monotonic()
        deadline = t0 + self.seconds
        while self.publish and time.monotonic() < deadline:
            if len(bus._outgoing) > BACKLOG:  # the sender task is behind: let it catch up
                await asyncio.sleep(0.001)
                continue
            for i in range(200):
                bus.publish(BusMessage(sids[i % 1000], Audience.PANELS, EVENT, published + i))
            published += 200
            await asyncio.sleep(0)
        if not self.publish:
            await asyncio.sleep(self.seconds)
        await asyncio.sleep(3.0)  # what is still in flight arrives
        remote = bus.received
        return {"published": published, "received": remote, "seconds": self.seconds}

    async def teardown(self) -> None:
        if self._bus is not None:
            await self._bus.stop()
        if self._pool is not None:
            await self._pool.close()


@dataclass(frozen=True)
class BusResult:
    label: str
    processes: int
    published_per_s: float  # all publishers together
    received_per_s: float  # per listening process (events of the others)
    expected_per_s: float  # what each listener should have received per second
    postgres_cores: float


async def run_bus(dsn: str, postmaster_pid: int | None, seconds: float) -> list[BusResult]:
    setups = [
        ("1 publisher, 1 listener", [True, False]),
        ("2 processes, each publishing and listening", [True, True]),
        ("4 processes, each publishing and listening", [True] * 4),
    ]
    out: list[BusResult] = []
    for label, roles in setups:
        jobs = [BusJob(dsn, publish, seconds) for publish in roles]
        async with WorkerGroup(jobs) as group:
            await group.ready()
            pg0, t0 = cpu_seconds(tree(postmaster_pid)), time.monotonic()
            group.go()
            results = await group.results(timeout_s=seconds + 60)
            pg_cores = (cpu_seconds(tree(postmaster_pid)) - pg0) / (time.monotonic() - t0)
        total = sum(r["published"] for r in results)
        # each listener should get every event but its own
        listeners = [(r, total - r["published"]) for r in results if total > r["published"]]
        received = sum(r["received"] for r, _ in listeners) / len(listeners) / seconds
        expected = sum(e for _, e in listeners) / len(listeners) / seconds
        out.append(BusResult(label, len(roles), total / seconds, received, expected, pg_cores))
    return out
