"""Percentiles and small formatting helpers shared by every benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["Summary", "fmt_ms", "percentile", "summarize"]


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
