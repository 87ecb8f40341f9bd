"""Load-generator clients on `websockets`' Sans-I/O protocol and a plain asyncio transport.

A candidate keeps `window` transcript frames in flight and sends a new frame for every ack,
exactly like the reference client, but like any buffered client it writes the frames answered
by one read in one `write()`: each is still its own WebSocket message, masked and framed by
`websockets`. A panel handles each event as it is parsed, without a task per socket. On a
two-core machine shared by the gateway, PostgreSQL and the load generator, the generator's
per-message overhead with the asyncio `connect()` API (a task wake-up per message, a system
call per frame) would otherwise be charged to the gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from bench.wsreader import RawClient

__all__ = [
    "UTTERANCE",
    "LatencyPanel",
    "OpenLoopCandidate",
    "PipelinedCandidate",
    "RawIdle",
    "RawWatchingPanel",
    "SansIOClient",
    "StampedCandidate",
    "WatchingPanel",
    "open_clients",
]

UTTERANCE = "Thanks, that helps. What does success look like for your team in the first 90 days?"
_PREFIX = b'{"type":"transcript","role":"user","text":' + orjson.dumps(UTTERANCE) + b',"seq":'


def _frame(seq: int) -> bytes:
    return b"%s%d}" % (_PREFIX, seq)


class SansIOClient(asyncio.Protocol):
    """One WebSocket on `websockets`' Sans-I/O protocol: text messages are handled as they
    are parsed (no task per socket), and whatever they call for leaves in one write per read.
    `opened` resolves after the handshake and the gateway's first frame."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=2**24)
        self.opened: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.state is not State.OPEN:
                    self._fail(ConnectionError(f"handshake refused: HTTP {event.status_code}"))
            elif isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    frame = orjson.loads(event.data)
                    if not self.opened.done():
                        self.opened.set_result(None)  # hello or snapshot
                    else:
                        self.on_message(frame)
                elif event.opcode is Opcode.CLOSE and self.close_code is None:
                    self.close_code = self.ws.close_code
        self._flush()  # every frame this read called for (and any pong) in one write

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError(f"connection closed ({self.close_code})"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- for subclasses -----------------------------------------------------------------------

    def on_message(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.ws.state is State.OPEN:
            self.ws.send_close(1000)
            self._flush()
        self.transport.close()

    def _flush(self) -> None:
        chunks = self.ws.data_to_send()
        if self.transport is None or not chunks:
            return
        data = b"".join(chunks)
        if data:
            self.transport.write(data)
        if chunks[-1] == b"":  # the protocol asks for a half-close
            self.transport.close()

    def _fail(self, err: BaseException) -> None:
        for future in (self.opened, self.finished):
            if not future.done():
                future.set_exception(err)
                future.exception()  # retrieved: a failure is counted, not logged as unhandled


class PipelinedCandidate(SansIOClient):
    """A candidate keeping `window` frames in flight; `finished` once every frame sent before
    the deadline has been answered."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(url, loop)
        self.acks = 0
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self._sent: dict[int, float] = {}
        self._seq = 0
        self._deadline = 0.0
        self._running = False

    def start(self, window: int, deadline: float) -> None:
        self._deadline = deadline
        self._running = True
        for _ in range(window):
            self._send_next()
        self._flush()

    def on_message(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        now = time.monotonic()
        if kind == "ack":
            t = self._sent.pop(frame["seq"], None)
            if t is None:
                return
            if now <= self._deadline:
                self.acks += 1
                self.latencies.append(now - t)
        elif kind == "error":
            self.errors[str(frame.get("code"))] += 1
            ref = frame.get("ref")
            if isinstance(ref, str) and ref.isdigit():
                self._sent.pop(int(ref), None)
        else:
            return
        if self._running and now < self._deadline:
            self._send_next()
        elif not self._sent and not self.finished.done():
            self.finished.set_result(None)

    def _send_next(self) -> None:
        self._seq += 1
        self._sent[self._seq] = time.monotonic()
        self.ws.send_text(_frame(self._seq))


class OpenLoopCandidate(SansIOClient):
    """A candidate sending on a schedule, whatever the acks do (an open loop): `send` is called
    by the job's ticker; each ack's latency is measured from its frame's send time."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(url, loop)
        self.acks = 0
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.sent: dict[int, float] = {}
        self._seq = 0
        self._deadline = float("inf")

    def send(self, deadline: float) -> None:
        self._deadline = deadline
        self._seq += 1
        self.sent[self._seq] = time.monotonic()
        self.ws.send_text(self._payload(self._seq))
        self._flush()

    def _payload(self, seq: int) -> bytes:
        return _frame(seq)

    def on_message(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ack":
            t = self.sent.pop(frame["seq"], None)
            now = time.monotonic()
            if t is not None and now <= self._deadline:
                self.acks += 1
                self.latencies.append(now - t)
        elif kind == "error":
            self.errors[str(frame.get("code"))] += 1
            ref = frame.get("ref")
            if isinstance(ref, str) and ref.isdigit():
                self.sent.pop(int(ref), None)


class StampedCandidate(OpenLoopCandidate):
    """`OpenLoopCandidate` whose every frame carries its send time (CLOCK_MONOTONIC ns) in its
    text, written by `text_of`, for a panel in another process to measure its latency."""

    def __init__(
        self, url: str, loop: asyncio.AbstractEventLoop, text_of: Callable[[int], str]
    ) -> None:
        super().__init__(url, loop)
        self._text_of = text_of

    def _payload(self, seq: int) -> bytes:
        text = self._text_of(time.monotonic_ns())
        return orjson.dumps({"type": "transcript", "role": "user", "text": text, "seq": seq})


class LatencyPanel(SansIOClient):
    """A panel noting, for each `transcript` event whose text carries a send time (read by
    `stamp`), the seconds from that send to its arrival here."""

    def __init__(
        self, url: str, loop: asyncio.AbstractEventLoop, stamp: Callable[[str], int | None]
    ) -> None:
        super().__init__(url, loop)
        self._stamp = stamp
        self.latencies: list[float] = []

    def on_message(self, frame: dict[str, Any]) -> None:
        now = time.monotonic_ns()
        if frame.get("type") != "transcript":
            return
        sent = self._stamp(frame["text"])
        if sent is not None:
            self.latencies.append((now - sent) / 1e9)


def _note_arrival(
    seen: dict[int, list[int]], frame: dict[str, Any], stamp: Callable[[str], int | None]
) -> int | None:
    """Record a `transcript` event's arrival in `seen`; its seq (None for other frames)."""
    now = time.monotonic_ns()
    if frame.get("type") != "transcript":
        return None
    seq: int = frame["seq"]
    entry = seen.get(seq)
    if entry is None:
        seen[seq] = [stamp(frame["text"]) or 0, now, 1]
    else:
        entry[1] = max(entry[1], now)
        entry[2] += 1
    return seq


class WatchingPanel(SansIOClient):
    """A panel noting when each `transcript` event arrives, into `seen` (shared by the panels
    of one process): seq -> [send time in its text, last arrival, panels that got it], times
    in CLOCK_MONOTONIC ns. `finished` once `last_seq` arrived."""

    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        seen: dict[int, list[int]],
        last_seq: int,
        stamp: Callable[[str], int | None],
    ) -> None:
        super().__init__(url, loop)
        self._seen = seen
        self._last = last_seq
        self._stamp = stamp

    def on_message(self, frame: dict[str, Any]) -> None:
        seq = _note_arrival(self._seen, frame, self._stamp)
        if seq is not None and seq >= self._last and not self.finished.done():
            self.finished.set_result(None)


class RawIdle(RawClient):
    """A socket that only stays open: answers pings (the reader does), discards events."""

    def on_text(self, payload: bytes) -> None:
        pass


class RawWatchingPanel(RawClient):
    """`WatchingPanel` on the minimal frame reader (`bench.wsreader`) instead of `websockets`."""

    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        seen: dict[int, list[int]],
        last_seq: int,
        stamp: Callable[[str], int | None],
    ) -> None:
        super().__init__(url, loop)
        self._seen = seen
        self._last = last_seq
        self._stamp = stamp

    def on_text(self, payload: bytes) -> None:
        seq = _note_arrival(self._seen, orjson.loads(payload), self._stamp)
        if seq is not None and seq >= self._last and not self.finished.done():
            self.finished.set_result(None)


C = TypeVar("C", bound=SansIOClient | RawClient)


async def open_clients(
    urls: list[str],
    make: Callable[[str, asyncio.AbstractEventLoop], C],
    concurrency: int = 64,
    timeout_s: float = 60,
    sources: list[str] | None = None,
) -> tuple[list[C], Counter[str]]:
    """Connect every URL (bounded concurrency) and wait for each gateway's first frame.
    `sources`: local addresses to connect from, in turn (loopback has about 28,000 ephemeral
    ports per source address)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()

    async def one(i: int, url: str) -> C | None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        local = (sources[i % len(sources)], 0) if sources else None
        async with gate:
            client = make(url, loop)
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: client, host, port, local_addr=local),
                    timeout_s,
                )
                await asyncio.wait_for(asyncio.shield(client.opened), timeout_s)
                return client
            except Exception as err:
                failures[type(err).__name__ + ": " + str(err)[:80]] += 1
                client.close()
                return None

    opened = await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
    return [c for c in opened if c is not None], failures
