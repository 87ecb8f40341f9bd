"""Transcript rows: one batched, idempotent insert per group commit.

A frame is identified by (session_id, round_number, seq). A resend of a stored frame is reported
as a duplicate (same message id) and stored nothing; a resend with different content is a
conflict. Frames for sessions that are not active are refused inside the same statement, so an
ended session can never gain rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import asyncpg

from storage.events import EventRow, bump_counters, insert_events

__all__ = ["FrameOutcome", "FrameResult", "NewFrame", "insert_frames", "recent_lines"]

INSERT_FRAMES = """
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::text[],
                       $6::timestamptz[], $7::int[])
         AS t(session_id, round_number, seq, role, text, ts, word_count)
)
INSERT INTO voice_transcripts (session_id, round_number, seq, role, text, timestamp, word_count)
SELECT i.session_id, i.round_number, i.seq, i.role, i.text, coalesce(i.ts, now()), i.word_count
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
    session_id: uuid.UUID
    round_number: int
    seq: int
    role: str
    text: str
    timestamp: datetime | None

    @property
    def key(self) -> tuple[uuid.UUID, int, int]:
        return (self.session_id, self.round_number, self.seq)

    @property
    def word_count(self) -> int:
        return len(self.text.split())


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
    event: dict[str, Any] | None = None


EventBuilder = Callable[[NewFrame, uuid.UUID, datetime, int, int], dict[str, Any]]


async def insert_frames(
    conn: asyncpg.Connection, frames: Sequence[NewFrame], build_event: EventBuilder
) -> list[FrameResult]:
    """Store frames and their `transcript` events in one transaction; one result per frame.

    `build_event(frame, message_id, timestamp, event_id, message_count)` returns the event
    payload, so the wire format stays in the protocol module.
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
        )
        new = {(r["session_id"], r["round_number"], r["seq"]): r for r in inserted}
        missing = [f for f in frames if f.key not in new]
        existing: dict[tuple[uuid.UUID, int, int], asyncpg.Record] = {}
        if missing:
            rows = await conn.fetch(
                SELECT_EXISTING,
                [f.session_id for f in missing],
                [f.round_number for f in missing],
                [f.seq for f in missing],
            )
            existing = {(r["session_id"], r["round_number"], r["seq"]): r for r in rows}

        # Number the new rows per session, in arrival order.
        per_session: dict[uuid.UUID, int] = {}
        for key in new:
            per_session[key[0]] = per_session.get(key[0], 0) + 1
        bumps = (
            await bump_counters(conn, {s: (n, n) for s, n in per_session.items()})
            if per_session
            else {}
        )
        next_id = {s: bumps[s].last_event_id - n + 1 for s, n in per_session.items()}
        next_count = {s: bumps[s].message_count - n + 1 for s, n in per_session.items()}

        results: list[FrameResult] = []
        events: list[EventRow] = []
        claimed: dict[tuple[uuid.UUID, int, int], NewFrame] = {}
        for frame in frames:
            row = new.get(frame.key)
            if row is not None and frame.key not in claimed:
                claimed[frame.key] = frame
                sid = frame.session_id
                event_id, count = next_id[sid], next_count[sid]
                next_id[sid] += 1
                next_count[sid] += 1
                payload = build_event(frame, row["id"], row["timestamp"], event_id, count)
                events.append(EventRow(sid, event_id, "transcript", payload))
                results.append(
                    FrameResult(
                        FrameOutcome.STORED, row["id"], row["timestamp"], event_id, count, payload
                    )
                )
                continue
            if frame.key in existing:
                prior = existing[frame.key]
                prior_id, same = (
                    prior["id"],
                    (prior["role"], prior["text"]) == (frame.role, frame.text),
                )
            elif frame.key in claimed:  # the same key twice in one batch: compare with the first
                first = claimed[frame.key]
                prior_id, same = (
                    new[frame.key]["id"],
                    (first.role, first.text) == (frame.role, frame.text),
                )
            else:
                results.append(FrameResult(FrameOutcome.REFUSED))
                continue
            outcome = FrameOutcome.DUPLICATE if same else FrameOutcome.CONFLICT
            results.append(FrameResult(outcome, prior_id))
        await insert_events(conn, events)
    return results


async def recent_lines(
    conn: asyncpg.Connection | asyncpg.Pool, session_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    return list(await conn.fetch(SELECT_RECENT, session_id, limit))
