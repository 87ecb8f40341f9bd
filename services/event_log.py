"""Reading a session's event log back as the exact frames panels received live.

Most events are stored as their serialized JSON; a `transcript` event is its transcript row,
and is rebuilt here with the same builder the live path uses, so a resumed panel gets the
same fields it would have got live.
"""

from __future__ import annotations

import uuid

from gateway import frames
from storage.events import StoredEvent, fetch_events
from storage.pool import DB

__all__ = ["load_event_frames", "stored_event_frame"]


def stored_event_frame(session_id: uuid.UUID, event: StoredEvent) -> bytes:
    if event.frame is not None:
        return event.frame
    row = event.transcript
    assert row is not None
    head = frames.transcript_head(
        message_id=row.message_id,
        seq=row.seq,
        round_number=row.round_number,
        role=row.role,
        text=row.text,
        timestamp=row.timestamp,
        word_count=row.word_count,
        session_id=session_id,
    )
    return frames.numbered_transcript_event(head, event.event_id, row.message_number)


async def load_event_frames(
    db: DB, session_id: uuid.UUID, after: int, until: int | None = None, limit: int = 5000
) -> list[tuple[int, bytes]]:
    """Logged events after `after` (up to `until`) as (event id, wire frame), in order."""
    stored = await fetch_events(db, session_id, after, until, limit)
    return [(e.event_id, stored_event_frame(session_id, e)) for e in stored]
