"""An `EventBus` across gateway processes: PostgreSQL LISTEN/NOTIFY.

Local subscribers get every message synchronously, exactly as with `LocalBus`. Other processes
get a notification per message on one channel, batched: the serialized frame itself when it
fits in a NOTIFY payload, otherwise a reference (event id or command id) that the receiver
reads back from the database. Receivers skip sessions they hold no state for, and the hub
orders events by id and fills gaps from `live_events`, so a notification lost while the
listener reconnects is recovered at the next event of that session.

LISTEN needs its own connection (a pooled connection's reset runs `UNLISTEN *`); NOTIFYs go out
on another dedicated connection from one sender task, so `publish()` never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from gateway import frames
from gateway.bus import Audience, BusMessage, Handler, LocalBus
from gateway.protocol import encode
from services.event_log import load_event_frames
from storage.commands import get_command
from storage.errors import DB_ERRORS
from storage.notify import Listener, Notifier
from storage.pool import Pool

__all__ = ["CHANNEL", "PostgresBus"]

log = logging.getLogger("gateway.bus")

CHANNEL = "interview_gateway_events"
MAX_PAYLOAD = 7900  # PostgreSQL's NOTIFY limit is 8000 bytes
RECONNECT_S = 1.0


class PostgresBus:
    def __init__(self, dsn: str, pool: Pool) -> None:
        self._dsn = dsn
        self._pool = pool
        self._local = LocalBus()
        self._node = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._outgoing: list[dict[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Listener | None = None
        self._closed = False
        self.interested: Callable[[uuid.UUID], bool] = lambda _sid: True
        self.received = 0

    # -- EventBus ---------------------------------------------------------------------------

    def publish(self, message: BusMessage) -> None:
        self._local.publish(message)
        ref: dict[str, Any] = {
            "n": self._node,
            "s": str(message.session_id),
            "a": message.audience.value,
            "e": message.event_id,
        }
        if len(message.data) < MAX_PAYLOAD - 200:
            ref["d"] = message.data.decode()
        elif message.audience is Audience.CANDIDATE:
            ref["c"] = orjson.loads(message.data)["command_id"]
        self._outgoing.append(ref)
        self._wakeup.set()

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        return self._local.subscribe(handler)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self._listen()
        self._tasks = [
            loop.create_task(self._send_loop(), name="bus-notify"),
            loop.create_task(self._watch_listener(), name="bus-listen"),
        ]

    async def stop(self) -> None:
        self._closed = True
        self._wakeup.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()

    async def _listen(self) -> None:
        self._listener = await Listener.open(self._dsn, CHANNEL, self._on_notify)
        log.info("bus: listening on %s as %s", CHANNEL, self._node)

    async def _watch_listener(self) -> None:
        while not self._closed:
            await asyncio.sleep(RECONNECT_S)
            if self._listener is None or self._listener.lost:
                log.warning("bus: listener connection lost; reconnecting")
                with contextlib.suppress(Exception):
                    await self._listen()

    # -- sending ----------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        notifier = Notifier(self._dsn)
        while not self._closed:
            if not self._outgoing:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._outgoing = self._outgoing, []
            try:
                for payload in _chunks(batch):
                    await notifier.notify(CHANNEL, payload)
            except DB_ERRORS as err:
                log.warning("bus: NOTIFY failed (%s); other processes recover by gap fill", err)
                await asyncio.sleep(RECONNECT_S)
        await notifier.close()

    # -- receiving --------------------------------------------------------------------------

    def _on_notify(self, payload: str) -> None:
        try:
            refs = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("bus: ignoring a malformed notification")
            return
        pending: list[dict[str, Any]] = []
        for ref in refs:
            if ref.get("n") == self._node:
                continue
            sid = uuid.UUID(ref["s"])
            if not self.interested(sid):
                continue
            self.received += 1
            event_id = ref.get("e")
            if "d" in ref:
                data = ref["d"].encode()
                self._local.publish(BusMessage(sid, Audience(ref["a"]), data, event_id))
            else:
                pending.append(ref)
        if pending:
            task = asyncio.get_running_loop().create_task(self._resolve(pending))
            self._tasks.append(task)
            task.add_done_callback(self._tasks.remove)

    async def _resolve(self, refs: list[dict[str, Any]]) -> None:
        """Read back messages too large for a notification."""
        for ref in refs:
            sid, audience, event_id = uuid.UUID(ref["s"]), Audience(ref["a"]), ref.get("e")
            try:
                if audience is Audience.CANDIDATE:
                    row = await get_command(self._pool, uuid.UUID(ref["c"]))
                    if row is not None:
                        data = encode(frames.command_frame(row))
                        self._local.publish(BusMessage(sid, audience, data))
                elif event_id is not None:
                    found = await load_event_frames(self._pool, sid, event_id - 1, event_id)
                    for eid, data in found:
                        self._local.publish(BusMessage(sid, audience, data, eid))
            except DB_ERRORS as err:
                log.warning("bus: could not read back %s for %s: %s", audience.value, sid, err)


def _chunks(refs: list[dict[str, Any]]) -> list[str]:
    """Pack references into NOTIFY payloads under the size limit."""
    out: list[str] = []
    current: list[bytes] = []
    size = 2
    for ref in refs:
        item = orjson.dumps(ref)
        if current and size + len(item) + 1 > MAX_PAYLOAD:
            out.append((b"[" + b",".join(current) + b"]").decode())
            current, size = [], 2
        current.append(item)
        size += len(item) + 1
    if current:
        out.append((b"[" + b",".join(current) + b"]").decode())
    return out
