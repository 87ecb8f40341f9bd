"""The per-session event log and the counters that number it.

The log is `live_events` plus the transcript rows: a stored transcript frame is its own
`transcript` event (`voice_transcripts.event_id`), so ingest writes each frame once.

Event ids come from `session_counters.last_event_id`, bumped inside the writer's transaction.
The row lock that bump takes serializes writers per session, so ids are handed out in commit
order and are gap-free among committed events, across any number of gateway processes.
Sessions are always locked in id order, so multi-session batches cannot deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.pool import DB, Conn

__all__ = [
    "Bump",
    "EventRow",
    "StoredEvent",
    "TranscriptEventRow",
    "bump_counters",
    "fetch_events",
    "insert_events",
    "last_event_id",
]

LOCK_COUNTERS = """
SELECT session_id FROM session_counters WHERE session_id = ANY($1::uuid[])
ORDER BY session_id FOR UPDATE
"""

BUMP_COUNTERS = """
UPDATE session_counters AS c
SET last_event_id = c.last_event_id + i.events, message_count = c.message_count + i.messages
FROM unnest($1::uuid[], $2::int[], $3::int[]) AS i(session_id, events, messages)
WHERE c.session_id = i.session_id
RETURNING c.session_id, c.last_event_id, c.message_count
"""

INSERT_EVENTS = """
INSERT INTO live_events (session_id, event_id, event_type, payload)
SELECT s, e, t, f::jsonb
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS x(s, e, t, f)
"""

SELECT_EVENTS = """
SELECT * FROM (
  SELECT event_id, payload::text AS frame, NULL::uuid AS message_id, NULL::int AS seq,
         NULL::int AS round_number, NULL::text AS role, NULL::text AS text,
         NULL::timestamptz AS timestamp, NULL::int AS word_count, NULL::int AS message_number
  FROM live_events
  WHERE session_id = $1 AND event_id > $2 AND event_id <= $3
  UNION ALL
  SELECT event_id, NULL, id, seq, round_number, role, text, timestamp, word_count, message_number
  FROM voice_transcripts
  WHERE session_id = $1 AND event_id > $2 AND event_id <= $3
) e
ORDER BY event_id LIMIT $4
"""

SELECT_LAST_EVENT = "SELECT last_event_id FROM session_counters WHERE session_id = $1"


@dataclass(frozen=True, slots=True)
class Bump:
    """After a bump: the session's new last event id and message count."""

    last_event_id: int
    message_count: int


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event as panels receive it: `frame` is the serialized JSON, stored as is (jsonb) so
    an event is serialized once for the database and the wire alike."""

    session_id: uuid.UUID
    event_id: int
    event_type: str
    frame: bytes


async def bump_counters(
    conn: Conn, increments: dict[uuid.UUID, tuple[int, int]]
) -> dict[uuid.UUID, Bump]:
    """Reserve `events` ids and add `messages` per session; call inside a transaction."""
    ids = sorted(increments)
    await conn.execute(LOCK_COUNTERS, ids)
    rows = await conn.fetch(
        BUMP_COUNTERS,
        ids,
        [increments[s][0] for s in ids],
        [increments[s][1] for s in ids],
    )
    return {r["session_id"]: Bump(r["last_event_id"], r["message_count"]) for r in rows}


async def insert_events(conn: Conn, events: Sequence[EventRow]) -> None:
    if not events:
        return
    await conn.execute(
        INSERT_EVENTS,
        [e.session_id for e in events],
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.frame.decode() for e in events],
    )


@dataclass(frozen=True, slots=True)
class TranscriptEventRow:
    """A `transcript` event as stored: its transcript row."""

    message_id: uuid.UUID
    seq: int | None
    round_number: int
    role: str
    text: str
    timestamp: datetime
    word_count: int
    message_number: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One logged event: either the exact JSON panels receive (`frame`) or, for a transcript
    event, the row it is built from (`transcript`)."""

    event_id: int
    frame: bytes | None
    transcript: TranscriptEventRow | None


async def fetch_events(
    conn: DB,
    session_id: uuid.UUID,
    after: int,
    until: int | None = None,
    limit: int = 5000,
) -> list[StoredEvent]:
    """Logged events after `after` (up to `until`), in event order."""
    rows = await conn.fetch(SELECT_EVENTS, session_id, after, until or 2**62, limit)
    return [
        StoredEvent(r["event_id"], r["frame"].encode(), None)
        if r["frame"] is not None
        else StoredEvent(
            r["event_id"],
            None,
            TranscriptEventRow(
                r["message_id"],
                r["seq"],
                r["round_number"],
                r["role"],
                r["text"],
                r["timestamp"],
                r["word_count"] or 0,
                r["message_number"],
            ),
        )
        for r in rows
    ]


async def last_event_id(conn: DB, session_id: uuid.UUID) -> int:
    value = await conn.fetchval(SELECT_LAST_EVENT, session_id)
    return int(value or 0)
