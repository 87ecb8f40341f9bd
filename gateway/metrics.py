"""Metrics on `prometheus_client`: the gateway's instruments and one registry per app.

The instruments (counters and histograms the core and the handlers update) are module-level
`prometheus_client` objects that belong to no registry. `INSTRUMENTS` is the one collector
that yields them all; `new_registry()` builds a registry per app with it and the library's
process, platform and GC collectors. Tests build many apps in one process, so nothing here
touches `prometheus_client.REGISTRY` (registering a name twice there raises).

Exposition is the library's too (`render`), Prometheus text or OpenMetrics by `Accept`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = [
    "ACK_BUCKETS",
    "ANALYSIS_BUCKETS",
    "COMMIT_BUCKETS",
    "HTTP_BUCKETS",
    "INSTRUMENTS",
    "MODEL_CALL_BUCKETS",
    "CollectorRegistry",
    "Counter",
    "Gauge",
    "Histogram",
    "counter",
    "histogram",
    "new_registry",
    "render",
    "sample",
]

# `*_created` series double every counter and histogram and no dashboard or alert reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


# Buckets per metric, from the ranges measured in docs/benchmarks.md, so the quantiles that
# dashboards and alerts read fall between close edges where it matters.
# Group commit: 5-25 ms a batch at 1,000 sessions of normal speech, 130 ms mean and p99 in
# 250-500 ms at saturation (11k frames/s); 1 s and beyond is a database in trouble.
COMMIT_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0
)  # fmt: skip
# Ack latency (frame queued to ack handed to the socket): a few ms idle, p50 0.7 s / p99 1.1 s
# at saturation; the fine steps sit under 100 ms, where a healthy gateway lives.
ACK_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0
)  # fmt: skip
# One analysis run: offline 4-6 ms alone, 140-270 ms with 100 at once; a model 1-20 s
# (OPENAI_TIMEOUT is 20 s per attempt, three attempts with backoff).
ANALYSIS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0
)  # fmt: skip
# One model API call (an attempt): about 1 s for a short window, up to the 20 s timeout.
MODEL_CALL_BUCKETS = (
    0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0
)  # fmt: skip
# REST requests: single-row reads and writes, a few ms; session end writes the artifact.
HTTP_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip


class _Instruments(Collector):
    """Every instrument made by `counter()`/`histogram()`, collected as one."""

    def __init__(self) -> None:
        self._metrics: dict[str, MetricWrapperBase] = {}

    def add(self, name: str, metric: MetricWrapperBase) -> None:
        if name in self._metrics:
            raise ValueError(f"metric {name} is already defined")
        self._metrics[name] = metric

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics.values():
            yield from metric.collect()

    def describe(self) -> Iterator[Metric]:
        for metric in self._metrics.values():
            yield from metric.describe()


INSTRUMENTS = _Instruments()


def counter(name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
    """A process-wide counter; `name` is the exposed name (`_total` included)."""
    metric = Counter(name, help_text, labels, registry=None)
    INSTRUMENTS.add(name, metric)
    return metric


def histogram(
    name: str, help_text: str, buckets: Iterable[float], labels: Sequence[str] = ()
) -> Histogram:
    """A process-wide histogram; its buckets are chosen per metric (never the defaults)."""
    metric = Histogram(name, help_text, labels, registry=None, buckets=tuple(buckets))
    INSTRUMENTS.add(name, metric)
    return metric


def new_registry() -> CollectorRegistry:
    """A registry for one app: the instruments, process (RSS, CPU, open fds), platform and GC
    collectors. Per-app gauges (sockets, sessions, pool) are registered on it by the app."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(INSTRUMENTS)
    return registry


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition and its content type: OpenMetrics when `accept` asks for it."""
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type


_ALONE = CollectorRegistry(auto_describe=False)
_ALONE.register(INSTRUMENTS)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """The current value of one instrument sample (0 if absent): for tests and the bench."""
    value = _ALONE.get_sample_value(name, labels or {})
    return 0.0 if value is None else value
