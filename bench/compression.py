"""Fan-out cost per message with permessage-deflate on and off (a small in-process app).

The gateway serializes an event once and writes the same bytes to every socket
(`compress=False`). With compression each socket has its own deflate context, so every
message is compressed once per socket. This measures the server's send loop for the same
event to `clients` local `websockets` clients, which offer permessage-deflate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
import zlib
from dataclasses import dataclass

import orjson
from aiohttp import WSMsgType, web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.procs import rss_kib

__all__ = ["CompressionResult", "event_bytes", "run_compression"]


_LINES = (
    "What does success look like for your team in the first 90 days?",
    "Honestly our biggest problem is the manual reconciliation at month end.",
    "Who else will weigh in on the decision, and what would they need to see?",
    "We tried a similar tool two years ago and the rollout stalled after a pilot.",
    "If we could cut that close from ten days to three, what would that be worth to you?",
)


def event_bytes(n: int) -> bytes:
    """The n-th of a sequence of typical `transcript` events as the gateway sends them."""
    text = _LINES[n % len(_LINES)]
    return orjson.dumps(
        {
            "type": "transcript",
            "message_id": str(uuid.UUID(int=(n * 7919 + 12345) << 64 | n)),
            "seq": n + 1,
            "round_number": 1,
            "role": "user" if n % 2 else "assistant",
            "text": text,
            "timestamp": f"2026-11-24T10:15:{n % 60:02d}.{n * 37 % 1000:03d}000+00:00",
            "word_count": len(text.split()),
            "message_count": n + 1,
            "event_id": 100 + n,
            "session_id": "0b6f1d8e-3a43-4c8e-bb5c-7f1f6c3f9e21",
        }
    )


@dataclass(frozen=True)
class CompressionResult:
    compress: bool
    clients: int
    negotiated: int
    messages: int
    send_us_per_socket: float  # wall time of the send loop / (messages * clients)
    cpu_us_per_socket: float  # process CPU time over the same loops
    fanout_ms: float  # mean time to write one message to every socket
    wire_bytes: float  # payload bytes per message per socket
    rss_kib_per_conn: float  # growth of this process (server and client side) per connection


def _deflated_size(events: list[bytes]) -> float:
    """Bytes per message with a per-socket context (context takeover), as aiohttp sends it."""
    comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    total = 0
    for data in events:
        chunk = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
        total += len(chunk) - 4  # the trailing 00 00 ff ff is stripped on the wire
    return total / len(events)


async def _one(compress: bool, clients: int, events: list[bytes]) -> CompressionResult:
    messages = len(events)
    sockets: list[web.WebSocketResponse] = []
    all_in = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compress)
        await ws.prepare(request)
        sockets.append(ws)
        if len(sockets) == clients:
            all_in.set()
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    conns: list[ClientConnection] = []
    received = 0
    got_all = asyncio.Event()

    async def reader(ws: ClientConnection) -> None:
        nonlocal received
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                received += 1
                if received == clients:
                    got_all.set()

    readers: list[asyncio.Task[None]] = []
    rss_before = rss_kib(os.getpid())
    rss_after = rss_before
    try:
        gate = asyncio.Semaphore(64)

        async def open_one() -> None:
            async with gate:
                ws = await connect(f"ws://127.0.0.1:{port}/ws", compression="deflate")
                conns.append(ws)

        await asyncio.gather(*(open_one() for _ in range(clients)))
        await asyncio.wait_for(all_in.wait(), 30)
        negotiated = sum(bool(s.compress) for s in sockets)
        readers = [asyncio.create_task(reader(ws)) for ws in conns]
        send_s = 0.0
        cpu_s = 0.0
        for data in events:
            received = 0
            got_all.clear()
            c0, t0 = time.process_time(), time.perf_counter()
            for s in sockets:
                await s.send_frame(data, WSMsgType.TEXT)
            send_s += time.perf_counter() - t0
            cpu_s += time.process_time() - c0
            await asyncio.wait_for(got_all.wait(), 30)
        rss_after = rss_kib(os.getpid())
    finally:
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await runner.cleanup()
    per = messages * clients
    return CompressionResult(
        compress=compress,
        clients=clients,
        negotiated=negotiated,
        messages=messages,
        send_us_per_socket=send_s / per * 1e6,
        cpu_us_per_socket=cpu_s / per * 1e6,
        fanout_ms=send_s / messages * 1000,
        rss_kib_per_conn=(rss_after - rss_before) / clients,
        wire_bytes=(
            _deflated_size(events) if compress and negotiated else sum(map(len, events)) / messages
        ),
    )


async def run_compression(clients: int, messages: int) -> list[CompressionResult]:
    events = [event_bytes(n) for n in range(messages)]
    return [await _one(flag, clients, events) for flag in (False, True)]
