"""Event-loop lag: how late the loop wakes a task that asked to sleep a fixed interval.

Everything in the gateway shares one event loop, so CPU work done on it (or a blocking call)
delays every socket. A sampler task sleeps `INTERVAL_S` again and again and records how much
later than asked it woke up in `gateway_event_loop_lag_seconds` (a histogram on `/metrics`,
which the benchmark reads before and after a load to get the lag's percentiles).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.metrics import REGISTRY

__all__ = ["INTERVAL_S", "sample", "sampler_ctx"]

INTERVAL_S = 0.02  # 50 samples a second: enough for a p99 over a few seconds, costs nothing

# Fine steps around the 10 ms that matters: a coarse bucket (10-25 ms) hides whether it is met.
_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 1.0)
_lag = REGISTRY.histogram(
    "gateway_event_loop_lag_seconds", "how late the event loop woke a 20 ms sleep", _BUCKETS
)


async def sample(interval_s: float = INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        _lag.observe(max(0.0, loop.time() - asked))


async def sampler_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(sample(), name="loop-lag-sampler")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
