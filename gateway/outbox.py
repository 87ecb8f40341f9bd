"""One bounded outbox and one writer task per socket.

Publishers never await a peer: `put()` takes pre-serialized bytes and returns at once. When
nothing is queued and the transport is not backed up, `write_now` hands the complete wire frame
to the transport synchronously (no task switch per message: fan-out to a thousand sockets is a
thousand buffer writes); otherwise the bytes queue and the writer task drains them through the
socket's send callable, in order. When a peer cannot keep up and
the outbox passes its bound, the outbox is marked overflowed and `on_overflow` runs once: the
transport closes that socket (1013) and the client resumes from its last event id, so a slow
panel never delays ingest or other panels.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum

from gateway.wsframe import text_frame

__all__ = ["Outbox", "OutboxState"]

log = logging.getLogger(__name__)

Send = Callable[[bytes], Awaitable[None]]
WriteNow = Callable[[bytes], bool]


async def _gone(data: bytes) -> None:
    raise ConnectionError("outbox released")


def _nothing() -> None:
    return None


class OutboxState(Enum):
    OPEN = "open"
    OVERFLOWED = "overflowed"
    CLOSED = "closed"


class Outbox:
    __slots__ = (
        "_items",
        "_max",
        "_on_overflow",
        "_send",
        "_sending",
        "_wakeup",
        "_write_now",
        "sent",
        "state",
    )

    def __init__(
        self,
        send: Send,
        max_items: int,
        on_overflow: Callable[[], None],
        write_now: WriteNow | None = None,
    ) -> None:
        self._send = send
        self._write_now = write_now
        self._sending = False
        self._max = max_items
        self._on_overflow = on_overflow
        self._items: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self.state = OutboxState.OPEN
        self.sent = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, data: bytes, wire: bytes | None = None) -> bool:
        """Send or queue bytes for this socket; False when closed or just overflowed.

        `wire` is `data` already framed (shared by every subscriber of an event)."""
        if self.state is not OutboxState.OPEN:
            return False
        if not self._items and not self._sending and self._write_now is not None:
            if self._write_now(wire if wire is not None else text_frame(data)):
                self.sent += 1
                return True
        if len(self._items) >= self._max:
            self.state = OutboxState.OVERFLOWED
            self._items.clear()
            self._wakeup.set()
            self._on_overflow()
            return False
        self._items.append(data)
        self._wakeup.set()
        return True

    def put_many(self, items: list[bytes]) -> bool:
        """Several frames at once (e.g. a batch's acks for this socket): one transport write
        when the fast path is open, else queued in order like `put`."""
        if self.state is not OutboxState.OPEN:
            return False
        if not self._items and not self._sending and self._write_now is not None:
            if self._write_now(b"".join(text_frame(data) for data in items)):
                self.sent += len(items)
                return True
        return all([self.put(data) for data in items])

    def close(self) -> None:
        """Stop accepting; the writer sends what is queued, then returns."""
        if self.state is OutboxState.OPEN:
            self.state = OutboxState.CLOSED
        self._wakeup.set()

    def release(self) -> None:
        """Closed for good and drained: drop the callbacks into the socket's owner, so the pair
        is freed by reference counting when the connection ends rather than left as a cycle
        for the garbage collector (whose full passes pause the loop)."""
        self.close()
        self.state = OutboxState.CLOSED
        self._items.clear()
        self._send = _gone
        self._write_now = None
        self._on_overflow = _nothing

    async def run(self) -> None:
        """The socket's only writer. Returns when closed and drained, or on overflow/send error."""
        items = self._items
        while True:
            while items:
                if self.state is OutboxState.OVERFLOWED:
                    return
                data = items.popleft()
                self._sending = True
                try:
                    await self._send(data)
                except (ConnectionError, RuntimeError) as err:
                    log.debug("outbox send failed: %s", err)
                    self.state = OutboxState.CLOSED
                    items.clear()
                    return
                finally:
                    self._sending = False
                self.sent += 1
            if self.state is not OutboxState.OPEN:
                return
            self._wakeup.clear()
            await self._wakeup.wait()
