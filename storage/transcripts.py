"""Transcript rows: one batched, idempotent insert per group commit.

A frame is identified by (session_id, round_number, seq). A resend of a stored frame is reported
as a duplicate (same message id) and stored nothing; a resend with different content is a
conflict. Frames for sessions that are not active are refused inside the same statement, so an
ended session can never gain rows.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal

import asyncpg

from storage.events import EventRow, bump_counters, insert_events
from storage.pool import DB, Conn

__all__ = ["FrameOutcome", "FrameResult", "NewFrame", "insert_frames", "recent_lines"]

INSERT_FRAMES = """
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::text[],
                       $6::timestamptz[], $7::int[], $8::uuid[])
         AS t(session_id, round_number, seq, role, text, ts, word_count, id)
)
INSERT INTO voice_transcripts (id, session_id, round_number, seq, role, text, timestamp, word_count)
SELECT i.id, i.session_id, i.round_number, i.seq, i.role, i.text, coalesce(i.ts, now()),
       i.word_count
FROM input i JOIN interview_sessions s ON s.id = i.session_id AND s.status = 'active'
ON CONFLICT (session_id, round_number, seq) WHERE seq IS NOT NULL DO NOTHING
RETURNING id, session_id, round_number, seq, timestamp
"""

SELECT_EXISTING = """
SELECT v.id, v.session_id, v.round_number, v.seq, v.role, v.text
FROM voice_transcripts v
JOIN unnest($1::uuid[], $2::int[], $3::int[]) AS k(session_id, round_number, seq)
  ON v.session_id = k.session_id AND v.round_number = k.round_number AND v.seq = k.seq
"""

SELECT_RECENT = """
SELECT role, text, seq, timestamp FROM (
  SELECT role, text, seq, timestamp, created_at FROM voice_transcripts
  WHERE session_id = $1 ORDER BY created_at DESC, seq DESC NULLS LAST LIMIT $2
) recent ORDER BY created_at, seq NULLS FIRST
"""


@dataclass(frozen=True, slots=True)
class NewFrame:
    """A frame to store. `seq` is None for the design's REST path without one (never deduped);
    `id` is chosen here so each returned row maps back to its frame."""

    session_id: uuid.UUID
    round_number: int
    seq: int | None
    role: Literal["user", "assistant"]
    text: str
    timestamp: datetime | None
    id: uuid.UUID = field(default_factory=lambda: new_id())
    word_count: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "word_count", len(self.text.split()))

    @property
    def key(self) -> tuple[uuid.UUID, int, int | None]:
        return (self.session_id, self.round_number, self.seq)


_ids = random.Random(int.from_bytes(os.urandom(32), "big"))


def new_id() -> uuid.UUID:
    """A random (version 4) UUID without a `urandom` syscall per call: ingest makes one per
    frame. Seeded from the OS per process; ids are identifiers, not secrets."""
    return uuid.UUID(int=_ids.getrandbits(128), version=4)


class FrameOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # same seq, different content
    REFUSED = "refused"  # session not active


@dataclass(frozen=True, slots=True)
class FrameResult:
    outcome: FrameOutcome
    message_id: uuid.UUID | None = None
    timestamp: datetime | None = None
    event_id: int | None = None
    message_count: int | None = None
    frame: bytes | None = None  # the serialized `transcript` event


EventBuilder = Callable[[NewFrame, datetime, int, int], bytes]


async def insert_frames(
    conn: Conn, frames: Sequence[NewFrame], build_event: EventBuilder
) -> list[FrameResult]:
    """Store frames and their `transcript` events in one transaction; one result per frame.

    `build_event(frame, timestamp, event_id, message_count)` returns the serialized event (the
    frame's `id` is its message id), so the wire format stays with the protocol; the same bytes
    are stored and sent.
    """
    async with conn.transaction():
        inserted = await conn.fetch(
            INSERT_FRAMES,
            [f.session_id for f in frames],
            [f.round_number for f in frames],
            [f.seq for f in frames],
            [f.role for f in frames],
            [f.text for f in frames],
            [f.timestamp for f in frames],
            [f.word_count for f in frames],
            [f.id for f in frames],
        )
        stored = {r["id"]: r["timestamp"] for r in inserted}
        # Not inserted: a resend of a stored seq (maybe stored earlier in this very batch, which
        # this transaction sees), or a frame for a session that is not active.
        resent = [f for f in frames if f.id not in stored and f.seq is not None]
        existing: dict[tuple[uuid.UUID, int, int | None], asyncpg.Record] = {}
        if resent:
            rows = await conn.fetch(
                SELECT_EXISTING,
                [f.session_id for f in resent],
                [f.round_number for f in resent],
                [f.seq for f in resent],
            )
            existing = {(r["session_id"], r["round_number"], r["seq"]): r for r in rows}

        # Number the new rows per session, in arrival order.
        per_session: dict[uuid.UUID, int] = {}
        for f in frames:
            if f.id in stored:
                per_session[f.session_id] = per_session.get(f.session_id, 0) + 1
        bumps = (
            await bump_counters(conn, {s: (n, n) for s, n in per_session.items()})
            if per_session
            else {}
        )
        next_id = {s: bumps[s].last_event_id - n + 1 for s, n in per_session.items()}
        next_count = {s: bumps[s].message_count - n + 1 for s, n in per_session.items()}

        results: list[FrameResult] = []
        events: list[EventRow] = []
        for frame in frames:
            if frame.id in stored:
                sid, ts = frame.session_id, stored[frame.id]
                event_id, count = next_id[sid], next_count[sid]
                next_id[sid] += 1
                next_count[sid] += 1
                payload = build_event(frame, ts, event_id, count)
                events.append(EventRow(sid, event_id, "transcript", payload))
                results.append(
                    FrameResult(FrameOutcome.STORED, frame.id, ts, event_id, count, payload)
                )
                continue
            prior = existing.get(frame.key)
            if prior is None:
                results.append(FrameResult(FrameOutcome.REFUSED))
                continue
            same = (prior["role"], prior["text"]) == (frame.role, frame.text)
            outcome = FrameOutcome.DUPLICATE if same else FrameOutcome.CONFLICT
            results.append(FrameResult(outcome, prior["id"]))
        await insert_events(conn, events)
    return results


async def recent_lines(conn: DB, session_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(SELECT_RECENT, session_id, limit))
