"""Percentiles and small formatting helpers shared by every benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "Scrapes",
    "Summary",
    "fmt_bucket",
    "fmt_ms",
    "histogram_count",
    "histogram_quantile",
    "percentile",
    "summarize",
]

# (before, after) pairs of /metrics scrapes, {"name{labels}": value}
Scrapes = list[tuple[dict[str, float], dict[str, float]]]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Summary:
    """p50/p99/max of a latency sample, in seconds."""

    __slots__ = ("count", "max", "p50", "p99")

    def __init__(self, values: Sequence[float]) -> None:
        ordered = sorted(values)
        self.count = len(ordered)
        self.p50 = percentile(ordered, 50)
        self.p99 = percentile(ordered, 99)
        self.max = ordered[-1] if ordered else math.nan

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "p50": self.p50, "p99": self.p99, "max": self.max}


def summarize(values: Sequence[float]) -> Summary:
    return Summary(values)


def fmt_ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def histogram_quantile(windows: Scrapes, name: str, q: float) -> tuple[float, float]:
    """The bucket (lower, upper edge] of Prometheus histogram `name` that holds its
    q-quantile, counting only observations made inside the (before, after) windows."""
    prefix = name + "_bucket{"
    counts: dict[float, float] = {}
    for before, after in windows:
        for key, value in after.items():
            if key.startswith(prefix):
                edge = key.split('le="', 1)[1].rstrip('"}')
                bound = math.inf if edge == "+Inf" else float(edge)
                counts[bound] = counts.get(bound, 0.0) + value - before.get(key, 0.0)
    buckets = sorted(counts.items())
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return math.nan, math.nan
    lower = 0.0
    for bound, cumulative in buckets:
        if cumulative >= q * total:
            return lower, bound
        lower = bound
    return lower, math.inf


def histogram_count(windows: Scrapes, name: str) -> float:
    key = name + "_count"
    return sum(after.get(key, 0.0) - before.get(key, 0.0) for before, after in windows)


def fmt_bucket(edges: tuple[float, float]) -> str:
    return f"{fmt_ms(edges[0])} - {fmt_ms(edges[1])}"
