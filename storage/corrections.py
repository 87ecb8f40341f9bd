"""Transcript corrections: one stored message's text replaced, its earlier texts kept.

The SQL function (migration 0014) locks the session's counters like every event writer, so a
correction is numbered in commit order after the message it corrects; the caller writes the
`transcript_updated` event row in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum

from storage.pool import Conn

__all__ = ["Correction", "CorrectionOutcome", "CorrectionResult", "correct_transcript"]

CORRECT = """
SELECT r_outcome, r_message_id, r_event_id, r_role, r_previous_text, r_revision
FROM gateway_correct_transcript($1, $2, $3, $4, $5, $6)
"""



@dataclass(slots=True)
class Correction:
    """A correction to apply: the message is found by (session, round, seq)."""

    session_id: uuid.UUID
    round_number: int
    seq: int
    revision: int
    text: str

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class CorrectionOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    outcome: CorrectionOutcome
    message_id: uuid.UUID | None = None
    event_id: int | None = None
    role: str | None = None
    previous_text: str | None = None
    revision: int | None = None  # stored: the new one; conflict: the row's current one


async def correct_transcript(conn: Conn, c: Correction) -> CorrectionResult:
    """Apply one correction; call inside the transaction that also logs its event."""
    row = await conn.fetchrow(
        CORRECT, c.session_id, c.round_number, c.seq, c.revision, c.text, c.word_count
    )
    assert row is not None  # the function always returns one row
    return CorrectionResult(
        CorrectionOutcome(row["r_outcome"]),
        row["r_message_id"],
        row["r_event_id"],
        row["r_role"],
        row["r_previous_text"],
        row["r_revision"],
    )

