"""What the realtime core needs from storage, as protocols; handlers wire the real adapters.

Keeping these as ports lets the hub and scheduler be unit-tested without a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from analysis.models import TranscriptLine

__all__ = ["HubStore", "SessionSeed", "SessionStatus"]


class SessionStatus(StrEnum):
    """`interview_sessions.status`: the values the database's check constraint allows."""

    SCHEDULED = "scheduled"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (SessionStatus.COMPLETED, SessionStatus.CANCELLED)


@dataclass(slots=True)
class SessionSeed:
    """What the hub warms a session with, read from the database."""

    session_id: uuid.UUID
    status: SessionStatus
    round_number: int
    blueprint: str
    language: str
    message_count: int
    last_event_id: int
    recent: Sequence[TranscriptLine] = field(default_factory=tuple)


class HubStore(Protocol):
    async def load_session(self, session_id: uuid.UUID, window: int) -> SessionSeed | None: ...

    async def fetch_events(
        self, session_id: uuid.UUID, after: int, until: int | None = None, limit: int = 5000
    ) -> list[tuple[int, bytes]]: ...
