"""Event-loop lag: how late the loop wakes a task that asked to sleep a fixed interval.

Everything in the gateway shares one event loop, so CPU work done on it (or a blocking call)
delays every socket. A sampler task sleeps `INTERVAL_S` again and again and records how much
later than asked it woke up in `gateway_event_loop_lag_seconds` (a histogram on `/metrics`,
which the benchmark reads before and after a load to get the lag's percentiles).

On a busy host part of that lag is not the gateway's: the kernel kept the loop's thread
waiting for a CPU while other processes ran. Linux counts that wait per thread
(`/proc/thread-self/schedstat`), so each sample is also recorded without it, in
`gateway_event_loop_busy_lag_seconds` (what the gateway's own work caused), and the waits add up
in `gateway_event_loop_run_queue_seconds_total` (a host that starves the gateway shows there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.metrics import counter, histogram

__all__ = ["INTERVAL_S", "run_queue_clock", "sample"]

# 200 samples a second, so a p99 over a burst of a few seconds rests on hundreds of samples
# (with 20 ms it was the single worst one); a wake-up costs about 20 µs, 0.4% of a core.
INTERVAL_S = 0.005

# Fine steps around the 10 ms that matters: a coarse bucket (10-25 ms) hides whether it is met.
_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 1.0)
_lag = histogram(
    "gateway_event_loop_lag_seconds", "how late the event loop woke a 5 ms sleep", _BUCKETS
)
_busy_lag = histogram(
    "gateway_event_loop_busy_lag_seconds",
    "the same lag less the time the kernel kept the loop's thread waiting for a CPU",
    _BUCKETS,
)
_run_queue = counter(
    "gateway_event_loop_run_queue_seconds_total",
    "time the loop's thread was ready to run but waited for a CPU (Linux)",
)


def run_queue_clock() -> Callable[[], float] | None:
    """Seconds the calling thread has spent waiting for a CPU, or None where the kernel does
    not say (not Linux, or no schedstat)."""
    try:
        stats = open("/proc/thread-self/schedstat", "rb")  # kept open: re-read per sample
    except OSError:
        return None

    def waited() -> float:
        stats.seek(0)
        return int(stats.read().split()[1]) / 1e9

    try:
        waited()
    except (OSError, ValueError, IndexError):
        stats.close()
        return None
    return waited


async def sample(interval_s: float = INTERVAL_S) -> None:
    loop = asyncio.get_running_loop()
    waited = run_queue_clock()  # opened here, in the loop's thread
    before = waited() if waited is not None else 0.0
    while True:
        asked = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        late = max(0.0, loop.time() - asked)
        _lag.observe(late)
        if waited is not None:
            now = waited()
            queued, before = now - before, now
            _run_queue.inc(queued)
            _busy_lag.observe(max(0.0, late - queued))
