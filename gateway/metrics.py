"""A tiny Prometheus-text metrics registry: counters, gauges and histograms, no dependencies.

Plain objects so the core can count without knowing who scrapes; `/metrics` renders them.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["REGISTRY", "Counter", "Gauge", "Histogram", "Registry"]

_DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    inner = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Metric(ABC):
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)

    @abstractmethod
    def samples(self) -> list[str]:
        """The exposition lines of this metric, without HELP/TYPE."""

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Iterable[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in self._values.items()]


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, fn: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text)
        self._value = 0.0
        self._fn = fn

    def set(self, value: float) -> None:
        self._value = value

    def add(self, amount: float) -> None:
        self._value += amount

    def value(self) -> float:
        return self._fn() if self._fn else self._value

    def samples(self) -> list[str]:
        return [f"{self.name} {self.value():g}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help_text: str, buckets: Iterable[float] = _DEFAULT_BUCKETS
    ) -> None:
        super().__init__(name, help_text)
        self._bounds = tuple(sorted(buckets))
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value
        self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def samples(self) -> list[str]:
        out: list[str] = []
        running = 0
        for bound, n in zip(self._bounds, self._counts, strict=False):
            running += n
            out.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
        out.append(f'{self.name}_bucket{{le="+Inf"}} {self._count}')
        out.append(f"{self.name}_sum {self._sum:g}")
        out.append(f"{self.name}_count {self._count}")
        return out


M = TypeVar("M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, help_text: str, labels: Iterable[str] = ()) -> Counter:
        return self._get(name, lambda: Counter(name, help_text, labels), Counter)

    def gauge(self, name: str, help_text: str, fn: Callable[[], float] | None = None) -> Gauge:
        gauge = self._get(name, lambda: Gauge(name, help_text, fn), Gauge)
        if fn is not None:
            gauge._fn = fn  # re-registration (a new app in the same process) rebinds the source
        return gauge

    def histogram(
        self, name: str, help_text: str, buckets: Iterable[float] = _DEFAULT_BUCKETS
    ) -> Histogram:
        return self._get(name, lambda: Histogram(name, help_text, buckets), Histogram)

    def _get(self, name: str, make: Callable[[], M], kind: type[M]) -> M:
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = make()
        if not isinstance(metric, kind):
            raise TypeError(f"metric {name} already registered as {type(metric).__name__}")
        return metric

    def render(self) -> str:
        return "".join(m.render() for m in self._metrics.values())


REGISTRY = Registry()
