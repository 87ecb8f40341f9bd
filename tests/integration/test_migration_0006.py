"""Upgrading a database written by an older gateway to migration 0006: transcript events that
were logged in `live_events` move into their `voice_transcripts` rows (event id, message number),
other events stay, and the event log reads back as the same frames panels received live."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from gateway.frames import numbered_transcript_event, transcript_head
from services.event_log import load_event_frames
from storage.migrate import MIGRATIONS_DIR, apply_migrations, discover
from storage.pool import connect
from storage.transcripts import FrameOutcome, NewFrame, insert_frames

INSERT_ROW = """
INSERT INTO voice_transcripts
  (id, session_id, round_number, seq, role, text, timestamp, word_count)
VALUES ($1, $2, 1, $3, $4, $5, $6, $7)
"""
# As older versions logged events: the serialized frame, cast to jsonb.
INSERT_EVENT = """
INSERT INTO live_events (session_id, event_id, event_type, payload)
VALUES ($1, $2, $3, $4::text::jsonb)
"""


async def _old_transcript(
    conn: asyncpg.Connection,
    session_id: uuid.UUID,
    *,
    seq: int,
    role: str,
    text: str,
    event_id: int,
    message_count: int,
) -> tuple[uuid.UUID, dict[str, Any]]:
    """A transcript row and its `transcript` event as a pre-0006 gateway stored them; returns
    the row id and the logged frame."""
    message_id = uuid.uuid4()
    timestamp = datetime(2025, 1, 2, 10, 0, seq, tzinfo=UTC)
    words = len(text.split())
    await conn.execute(INSERT_ROW, message_id, session_id, seq, role, text, timestamp, words)
    head = transcript_head(
        message_id=message_id,
        seq=seq,
        round_number=1,
        role=role,
        text=text,
        timestamp=timestamp,
        word_count=words,
        session_id=session_id,
    )
    frame = numbered_transcript_event(head, event_id, message_count)
    await conn.execute(INSERT_EVENT, session_id, event_id, "transcript", frame.decode())
    return message_id, orjson.loads(frame)


async def test_0006_moves_logged_transcript_events_into_their_rows(
    empty_db_dsn: str, tmp_path: Path
) -> None:
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0006":
            shutil.copy(path, older / path.name)
    applied = await apply_migrations(empty_db_dsn, older)
    assert [m.version for m in applied] == ["0001", "0002", "0003", "0004", "0005"]

    conn = await connect(empty_db_dsn)
    try:
        sid, other = [
            await conn.fetchval(
                "INSERT INTO interview_sessions (status) VALUES ('active') RETURNING id"
            )
            for _ in range(2)
        ]
        await conn.execute(
            "INSERT INTO session_counters (session_id, last_event_id, message_count)"
            " VALUES ($1, 3, 2), ($2, 1, 1)",
            sid,
            other,
        )
        first_id, first_frame = await _old_transcript(
            conn, sid, seq=1, role="assistant", text="Hello there", event_id=1, message_count=1
        )
        presence = {"type": "presence", "event_id": 2, "role": "candidate", "online": True}
        await conn.execute(INSERT_EVENT, sid, 2, "presence", orjson.dumps(presence).decode())
        second_id, second_frame = await _old_transcript(
            conn, sid, seq=2, role="user", text="Hi, thanks", event_id=3, message_count=2
        )
        other_id, _ = await _old_transcript(
            conn, other, seq=1, role="user", text="Another session", event_id=1, message_count=1
        )

        assert len(await apply_migrations(empty_db_dsn)) == len(discover()) - 5  # 0006 onwards

        rows = await conn.fetch(
            "SELECT id, event_id, message_number FROM voice_transcripts ORDER BY event_id, seq"
        )
        numbers = {r["id"]: (r["event_id"], r["message_number"]) for r in rows}
        assert numbers == {first_id: (1, 1), second_id: (3, 2), other_id: (1, 1)}
        left = await conn.fetch(
            "SELECT session_id, event_id, event_type FROM live_events ORDER BY session_id"
        )
        assert [tuple(r) for r in left] == [(sid, 2, "presence")]

        log = await load_event_frames(conn, sid, 0)
        assert [event_id for event_id, _ in log] == [1, 2, 3]
        parsed = [orjson.loads(data) for _, data in log]
        assert parsed[1] == presence
        for frame, message_id, event_id, message_count in (
            (parsed[0], first_id, 1, 1),
            (parsed[2], second_id, 3, 2),
        ):
            assert frame["type"] == "transcript"
            assert frame["message_id"] == str(message_id)
            assert frame["event_id"] == event_id and frame["message_count"] == message_count
        # Rebuilt from the rows, the transcript events are the frames that were logged.
        assert parsed[0] == first_frame and parsed[2] == second_frame
        assert [eid for eid, _ in await load_event_frames(conn, other, 0)] == [1]

        # Ingest after the upgrade goes on numbering from the session's counters.
        [result] = await insert_frames(conn, [NewFrame(sid, 1, 3, "user", "Next one", None)])
        assert result.outcome is FrameOutcome.STORED
        assert (result.event_id, result.message_count) == (4, 3)
        assert [eid for eid, _ in await load_event_frames(conn, sid, 0)] == [1, 2, 3, 4]
    finally:
        await conn.close()
