"""The ingest benchmark's candidate client: `websockets`' Sans-I/O protocol on a plain asyncio
transport.

Each candidate keeps `window` transcript frames in flight and sends a new frame for every ack,
exactly like the reference client, but like any buffered client it writes the frames answered
by one read in one `write()`: each is still its own WebSocket message, masked and framed by
`websockets`. On a two-core machine shared by the gateway, PostgreSQL and the load generator,
the generator's per-message overhead (a task wake-up and a system call per frame with the
asyncio `connect()` API) would otherwise be charged to the gateway's throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

__all__ = ["PipelinedCandidate", "open_candidates"]

UTTERANCE = "Thanks, that helps. What does success look like for your team in the first 90 days?"
_PREFIX = b'{"type":"transcript","role":"user","text":' + orjson.dumps(UTTERANCE) + b',"seq":'


def _frame(seq: int) -> bytes:
    return b"%s%d}" % (_PREFIX, seq)


class PipelinedCandidate(asyncio.Protocol):
    """One candidate connection. `opened` resolves after the handshake and the gateway's
    `hello`; `finished` once every frame sent before the deadline has been answered."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.ws = ClientProtocol(parse_uri(url), max_size=2**20)
        self.opened: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.acks = 0
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self._sent: dict[int, float] = {}
        self._seq = 0
        self._deadline = 0.0
        self._running = False

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
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._on_message(orjson.loads(event.data))
        self._flush()  # every frame this read called for (and any pong) in one write

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- the benchmark --------------------------------------------------------------------------

    def start(self, window: int, deadline: float) -> None:
        self._deadline = deadline
        self._running = True
        for _ in range(window):
            self._send_next()
        self._flush()

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.ws.state is State.OPEN:
            self.ws.send_close(1000)
            self._flush()
        self.transport.close()

    def _on_message(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            if not self.opened.done():
                self.opened.set_result(None)
            return
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


async def open_candidates(
    urls: list[str], concurrency: int = 64, timeout_s: float = 60
) -> tuple[list[PipelinedCandidate], Counter[str]]:
    """Connect every URL (bounded concurrency) and wait for each gateway `hello`."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()

    async def one(url: str) -> PipelinedCandidate | None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        async with gate:
            client = PipelinedCandidate(url, loop)
            try:
                await asyncio.wait_for(
                    loop.create_connection(lambda: client, host, port), timeout_s
                )
                await asyncio.wait_for(asyncio.shield(client.opened), timeout_s)
                return client
            except Exception as err:
                failures[type(err).__name__ + ": " + str(err)[:80]] += 1
                client.close()
                return None

    opened = await asyncio.gather(*(one(u) for u in urls))
    return [c for c in opened if c is not None], failures
