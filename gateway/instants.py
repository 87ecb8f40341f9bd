"""Which client-supplied instants the gateway accepts, checked at the edge (WebSocket and REST).

A timestamp from a client becomes a `timestamptz` in PostgreSQL and later a Python `datetime`
again. Two ways that round trip breaks, each refused here, one value at a time, instead of
failing a database batch shared with other sessions or a read long after the ack:

* PostgreSQL keeps UTC offsets up to ±15:59; `+20:00` parses in Python but fails the batch.
* Python's `datetime` spans years 1-9999 in every zone, but `0001-01-01T00:00:00+05:00` is
  year 0 once in UTC: stored fine, then unreadable.

Transcript timestamps must also lie within `MAX_CLOCK_SKEW_SECONDS` of the server's clock
(`check_recent`): a live utterance is never a century away. Query bounds (analytics `since`,
`until`) may be far in the past, so they only need to be representable (`check_storable`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["MAX_OFFSET", "check_recent", "check_storable"]

MAX_OFFSET = timedelta(hours=15, minutes=59)  # PostgreSQL's limit for a numeric UTC offset
_MIN_UTC = datetime(1, 1, 2, tzinfo=UTC)  # a day inside Python's range in every zone
_MAX_UTC = datetime(9999, 12, 30, tzinfo=UTC)


def check_storable(value: datetime) -> datetime:
    """`value` if PostgreSQL stores it and Python reads it back; else ValueError (a validator)."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise ValueError("UTC offset must be within ±15:59")
    aware = value if offset is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError("instant is outside the supported range (years 1-9999 in UTC)") from None
    if not _MIN_UTC <= utc <= _MAX_UTC:
        raise ValueError("instant is outside the supported range (years 1-9999 in UTC)")
    return value


def check_recent(value: datetime, max_skew_s: float, now: float | None = None) -> str | None:
    """None if `value` (a storable instant; naive means UTC) is within `max_skew_s` seconds of
    `now` (default: the server's clock), else the reason, phrased for an error message."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    skew = aware.timestamp() - (time.time() if now is None else now)
    if abs(skew) <= max_skew_s:
        return None
    side = "ahead of" if skew > 0 else "behind"
    return f"is {abs(skew):.0f} s {side} the server's clock; at most {max_skew_s:.0f} s allowed"
