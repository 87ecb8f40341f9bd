"""The seam between writers and the hub: committed events travel as bus messages.

Writers (group commit, commands, analysis) publish *after* their transaction commits; the hub
subscribes and fans out. `LocalBus` delivers in-process and synchronously. Several gateway
processes need a bus that crosses processes (PostgreSQL LISTEN/NOTIFY or a broker): implement
`EventBus` and nothing else changes, because event ids come from the database and the hub
already orders and gap-fills by event id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

__all__ = ["Audience", "BusMessage", "EventBus", "LocalBus"]


class Audience(Enum):
    PANELS = "panels"  # an event with an event_id, ordered
    CANDIDATE = "candidate"  # a command frame for the session's candidate client
    END = "end"  # the session ended: send `data` to everyone, then close with 4000


@dataclass(slots=True)
class BusMessage:
    """One event for a session's sockets (not frozen: one is made per stored frame, and
    frozen costs an `object.__setattr__` per field)."""

    session_id: uuid.UUID
    audience: Audience
    data: bytes
    event_id: int | None = None


Handler = Callable[[BusMessage], None]


class EventBus(Protocol):
    def publish(self, message: BusMessage) -> None: ...

    def subscribe(self, handler: Handler) -> Callable[[], None]: ...


class LocalBus:
    """In-process bus: `publish` calls every subscriber synchronously; they must not block."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def publish(self, message: BusMessage) -> None:
        for handler in self._handlers:
            handler(message)

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return unsubscribe
