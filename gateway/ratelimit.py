"""Per-connection token bucket, plus a strike counter that tells sustained abuse from a burst."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["Abuse", "TokenBucket"]


class TokenBucket:
    __slots__ = ("_burst", "_clock", "_last", "_rate", "_tokens")

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def full(self) -> bool:
        """Refilled to its burst: indistinguishable from a new bucket."""
        refilled = self._tokens + (self._clock() - self._last) * self._rate
        return refilled >= self._burst


class Abuse:
    """Counts refused or invalid frames in a sliding window; `strike()` says when to hang up."""

    __slots__ = ("_clock", "_limit", "_strikes", "_window")

    def __init__(
        self, limit: int = 50, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window_s
        self._clock = clock
        self._strikes: deque[float] = deque()

    def strike(self) -> bool:
        """Record one bad frame; True when the connection should be closed (1008)."""
        now = self._clock()
        self._strikes.append(now)
        while self._strikes and now - self._strikes[0] > self._window:
            self._strikes.popleft()
        return len(self._strikes) >= self._limit
