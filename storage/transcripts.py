"""Transcript rows: one batched, idempotent insert per group commit.

A frame is identified by (session_id, round_number, seq). A resend of a stored frame is reported
as a duplicate (same message id) and stored nothing; a resend with different content is a
conflict. Frames for sessions that are not active are refused inside the same statement, so an
ended session can never gain rows.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Literal

import asyncpg
import orjson

from storage.pool import DB, Conn

__all__ = [
    "FrameOutcome",
    "FrameResult",
    "NewFrame",
    "insert_frames",
    "insert_frames_isolating",
    "recent_lines",
]

STORE_FRAMES = """
SELECT r_ord, r_stored, r_message_id, r_event_id, r_message_number, r_prior_role, r_prior_text
FROM gateway_store_frames($1::text::jsonb)  -- text: the JSON is already built
"""
# Up to this many frames go to the function whose plans are index probes only (0015, 0016).
FEW_FRAMES = 64
STORE_FEW_FRAMES = STORE_FRAMES.replace("gateway_store_frames(", "gateway_store_few_frames(")

SELECT_RECENT = """
SELECT role, text, seq, timestamp FROM (
  SELECT role, text, seq, timestamp, created_at FROM voice_transcripts
  WHERE session_id = $1 ORDER BY created_at DESC, seq DESC NULLS LAST LIMIT $2
) recent ORDER BY created_at, seq NULLS FIRST
"""


@dataclass(slots=True)
class NewFrame:
    """A frame to store. `seq` is None for the design's REST path without one (never deduped);
    `id` is chosen here so each returned row maps back to its frame. Without a client
    timestamp the frame is stamped when the gateway receives it. (Not frozen: one is made per
    frame, and a frozen dataclass costs a slow `object.__setattr__` per field.)"""

    session_id: uuid.UUID
    round_number: int
    seq: int | None
    role: Literal["user", "assistant"]
    text: str
    timestamp: datetime | None
    id: uuid.UUID = field(default_factory=lambda: new_id())
    word_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.word_count = len(self.text.split())
        if self.timestamp is None:
            self.timestamp = datetime.now(UTC)
        elif self.timestamp.tzinfo is None:  # a client's time without an offset is UTC
            self.timestamp = self.timestamp.replace(tzinfo=UTC)

    @property
    def key(self) -> tuple[uuid.UUID, int, int | None]:
        return (self.session_id, self.round_number, self.seq)


_ids = random.Random(int.from_bytes(os.urandom(32), "big"))
_V7 = (0x7 << 76) | (0b10 << 62)  # version 7, RFC 9562 variant
_RAND_A = 0xFFF << 64  # 12 random bits after the version
_RAND_B = (1 << 62) - 1  # 62 random bits after the variant


def new_id() -> uuid.UUID:
    """A time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix milliseconds, then random.

    Ingest makes one per frame and they are the primary key of `voice_transcripts`: keys that
    grow with time are appended at the right edge of the B-tree instead of landing on a random
    page each (docs/benchmarks.md, "PostgreSQL's share"). No `urandom` syscall per call: the
    generator is seeded from the OS per process; ids are identifiers, not secrets."""
    rand = _ids.getrandbits(128)
    return uuid.UUID(int=(time.time_ns() // 1_000_000) << 80 | _V7 | rand & (_RAND_A | _RAND_B))


class FrameOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # same seq, different content
    REFUSED = "refused"  # session not active
    INVALID = "invalid"  # PostgreSQL refused this row itself (see insert_frames_isolating)


@dataclass(slots=True)
class FrameResult:
    """One frame's outcome (not frozen for the same reason as `NewFrame`: one per frame)."""

    outcome: FrameOutcome
    message_id: uuid.UUID | None = None
    timestamp: datetime | None = None
    event_id: int | None = None
    message_count: int | None = None
    reason: str | None = None  # why PostgreSQL refused an INVALID frame


_REFUSED = FrameResult(FrameOutcome.REFUSED)


async def insert_frames(conn: Conn, frames: Sequence[NewFrame]) -> list[FrameResult]:
    """Store frames in one transaction and one round trip (see migrations 0006 and 0007); one
    result per frame. A stored frame is also its session's `transcript` event: its result carries
    the event id and message number it was given."""
    # One JSON document rather than eight typed arrays: orjson builds it in C, where the
    # driver's array encoding is Python-level work per value (migration 0007).
    batch = orjson.dumps(
        [
            (f.id, f.session_id, f.round_number, f.seq, f.role, f.text, f.timestamp, f.word_count)
            for f in frames
        ],
        default=str,  # the driver's own UUID type (ids read from the database)
    )
    rows = await conn.fetch(
        STORE_FEW_FRAMES if len(frames) <= FEW_FRAMES else STORE_FRAMES, batch.decode()
    )
    results = [_REFUSED] * len(frames)
    for r in rows:
        i = r["r_ord"] - 1
        frame = frames[i]
        if r["r_stored"]:
            results[i] = FrameResult(
                FrameOutcome.STORED,
                frame.id,
                frame.timestamp,
                r["r_event_id"],
                r["r_message_number"],
            )
        else:
            same = (r["r_prior_role"], r["r_prior_text"]) == (frame.role, frame.text)
            outcome = FrameOutcome.DUPLICATE if same else FrameOutcome.CONFLICT
            results[i] = FrameResult(outcome, r["r_message_id"])
    return results


# SQLSTATE classes tied to a row's values, not to the connection or the server's state: data
# exceptions (22: an out-of-range value), integrity violations (23: a CHECK), program limits
# (54: a value too big to index).
ROW_FAULTS = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


async def insert_frames_isolating(conn: Conn, frames: Sequence[NewFrame]) -> list[FrameResult]:
    """`insert_frames`, except that a row PostgreSQL refuses fails alone: a batch refused for a
    reason tied to its values is split in halves, each stored (or split again) in order, so
    the others are stored and the culprit comes back INVALID. A session's frames keep their
    order: the earlier half commits first. Other errors (connection, server) still fail the
    whole batch. Costs about 2·log2(n) extra statements per bad row, none on the good path."""
    try:
        return await insert_frames(conn, frames)
    except ROW_FAULTS as err:
        if len(frames) == 1:
            reason = f"{err.sqlstate}: {str(err)[:200]}"
            return [FrameResult(FrameOutcome.INVALID, reason=reason)]
    mid = len(frames) // 2
    first = await insert_frames_isolating(conn, frames[:mid])
    return first + await insert_frames_isolating(conn, frames[mid:])


async def recent_lines(conn: DB, session_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(SELECT_RECENT, session_id, limit))


SELECT_MESSAGE_COUNT = "SELECT message_count FROM session_counters WHERE session_id = $1"


async def message_count(conn: DB, session_id: uuid.UUID) -> int:
    """The session's stored message count (0 before its counters exist)."""
    return int(await conn.fetchval(SELECT_MESSAGE_COUNT, session_id) or 0)
