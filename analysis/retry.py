"""How vendor calls are retried: one policy and one `Retry-After` reader for every client.

It lives at the bottom layer (pure, no I/O) so the OpenAI analyzer here and the ElevenLabs
client in `services.voice` share it.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RetryPolicy", "retry_after_seconds"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter between attempts.

    Delay before attempt n+1 is ``min(max_delay, base_delay * 2**(n-1))``, of which the
    upper ``jitter`` fraction is random, so concurrent sessions hit by the same outage do
    not retry in lockstep. A 429's retry-after wins when present, capped at
    ``max_retry_after`` (a live meter is useless minutes later).
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0
    max_retry_after: float = 10.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within 0..1")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return delay * (1 - self.jitter) + delay * self.jitter * rng.random()

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait after failed attempt ``attempt`` (1-based): the vendor's retry-after when
        it sent one (capped), else the jittered backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt, rng)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date)."""
    try:
        if "retry-after-ms" in headers:
            value = float(headers["retry-after-ms"]) / 1000
            return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        value = when.timestamp() - time.time()
    return max(0.0, value) if math.isfinite(value) else None
