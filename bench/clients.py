"""Client-side jobs, run inside load-generator processes (see `bench.workers`).

All WebSocket clients use the `websockets` library; the baseline uses an aiohttp
`ClientSession` with keep-alive. Every loop is bounded by a deadline. Times come from
`time.monotonic_ns()` (CLOCK_MONOTONIC, the same clock in every process on the machine), so a
send time written by one process can be compared with an arrival time seen by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.pipelined import (
    UTTERANCE,
    LatencyPanel,
    OpenLoopCandidate,
    PipelinedCandidate,
    RawIdle,
    RawWatchingPanel,
    StampedCandidate,
    WatchingPanel,
    open_clients,
)

__all__ = [
    "BaselineJob",
    "FanoutPanelsJob",
    "IdleJob",
    "IngestJob",
    "OpenLoopJob",
    "PanelLatencyJob",
    "PanelLatencySansIOJob",
    "RawIdleJob",
    "candidate_frame",
    "open_all",
    "parse_stamp",
]

CONNECT_CONCURRENCY = 64
MAX_SAMPLES = 200_000


def ws_url(base: str, kind: str, session_id: str, token: str) -> str:
    return f"{base}/ws/{kind}/{session_id}?token={token}"


def candidate_frame(seq: int, text: str) -> str:
    return orjson.dumps({"type": "transcript", "seq": seq, "role": "user", "text": text}).decode()


def stamped_text(sent_ns: int, filler: str = UTTERANCE) -> str:
    """Carry the send time in the utterance itself: `t<ns> <filler>`."""
    return f"t{sent_ns} {filler}"


def parse_stamp(text: str) -> int | None:
    if not text.startswith("t"):
        return None
    head = text[1:].split(" ", 1)[0]
    return int(head) if head.isdigit() else None


async def _open(url: str) -> ClientConnection:
    return await connect(
        url,
        open_timeout=60,
        ping_interval=None,  # the gateway pings; clients only answer
        compression=None,  # the gateway does not negotiate it anyway
        max_queue=None,
        close_timeout=2,
    )


async def open_all(
    urls: list[str], first_frame: bool = True, concurrency: int = CONNECT_CONCURRENCY
) -> tuple[list[ClientConnection | None], Counter[str]]:
    """Open every URL (bounded concurrency); read the first frame (hello/snapshot) of each."""
    gate = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()

    async def one(url: str) -> ClientConnection | None:
        async with gate:
            try:
                ws = await _open(url)
                if first_frame:
                    await asyncio.wait_for(ws.recv(), 60)
                return ws
            except Exception as err:
                failures[type(err).__name__ + ": " + str(err)[:80]] += 1
                return None

    return list(await asyncio.gather(*(one(u) for u in urls))), failures


async def close_all(conns: list[ClientConnection | None]) -> None:
    async def one(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(one(ws) for ws in conns if ws is not None))


def _trim(values: list[float]) -> list[float]:
    if len(values) <= MAX_SAMPLES:
        return values
    return random.sample(values, MAX_SAMPLES)


# -- 1. durable ingest over WebSocket ---------------------------------------------------------


@dataclass
class IngestJob:
    """Candidates pipelining `window` frames each; counts acks (sent only after commit).

    Uses `bench.pipelined`: websockets' Sans-I/O protocol, the frames one read calls for
    leaving in one write."""

    ws_base: str
    sessions: list[tuple[str, str]]  # (session_id, candidate token)
    window: int
    duration_s: float
    _conns: list[PipelinedCandidate] = field(default_factory=list)

    async def setup(self) -> dict[str, Any]:
        urls = [ws_url(self.ws_base, "candidate", s, t) for s, t in self.sessions]
        self._conns, failures = await open_clients(urls, PipelinedCandidate, CONNECT_CONCURRENCY)
        return {"open": len(self._conns), "failures": dict(failures)}

    async def run(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.duration_s
        for conn in self._conns:
            conn.start(self.window, deadline)
        done = [asyncio.shield(c.finished) for c in self._conns]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*done, return_exceptions=True), self.duration_s + 15
            )
        errors: Counter[str] = Counter()
        for conn in self._conns:
            errors.update(conn.errors)
            if conn.finished.done() and conn.finished.exception() is not None:
                errors[type(conn.finished.exception()).__name__] += 1
        return {
            "acks": sum(c.acks for c in self._conns),
            "duration_s": self.duration_s,
            "latencies": _trim([x for c in self._conns for x in c.latencies]),
            "errors": dict(errors),
        }

    async def teardown(self) -> None:
        for conn in self._conns:
            conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(c.closed) for c in self._conns)), 5
            )


async def _send_on_schedule(
    conns: Sequence[OpenLoopCandidate], interval: float, duration_s: float
) -> int:
    """Call each candidate's `send` every `interval` seconds from a random phase, until
    `duration_s` is over, whatever the gateway answers; the number of frames sent."""
    start = time.monotonic()
    deadline = start + duration_s
    due = [(start + random.random() * interval, i) for i in range(len(conns))]
    heapq.heapify(due)
    sent = 0
    while due:
        now = time.monotonic()
        while due and due[0][0] <= now:
            at, i = heapq.heappop(due)
            conns[i].send(deadline)
            sent += 1
            if at + interval < deadline:
                heapq.heappush(due, (at + interval, i))
        await asyncio.sleep(0.001 if not due else max(0.0, min(due[0][0] - now, 0.005)))
    return sent


@dataclass
class OpenLoopJob:
    """Candidates sending at a fixed rate each, whatever the acks do (an open loop), with a
    random phase each: the offered load is `rate_per_conn x connections` frames/s however
    slowly the gateway answers, so the ack latency is what a client sees at that load."""

    ws_base: str
    sessions: list[tuple[str, str]]  # (session_id, candidate token)
    rate_per_conn: float
    duration_s: float
    _conns: list[OpenLoopCandidate] = field(default_factory=list)

    async def setup(self) -> dict[str, Any]:
        urls = [ws_url(self.ws_base, "candidate", s, t) for s, t in self.sessions]
        self._conns, failures = await open_clients(urls, OpenLoopCandidate, CONNECT_CONCURRENCY)
        return {"open": len(self._conns), "failures": dict(failures)}

    async def run(self) -> dict[str, Any]:
        start = time.monotonic()
        sent = await _send_on_schedule(self._conns, 1.0 / self.rate_per_conn, self.duration_s)
        # the answers to the last frames, then count what never came
        for _ in range(200):  # at most 10 s
            if not any(c.sent for c in self._conns):
                break
            await asyncio.sleep(0.05)
        errors: Counter[str] = Counter()
        for conn in self._conns:
            errors.update(conn.errors)
        unanswered = sum(len(c.sent) for c in self._conns)
        if unanswered:
            errors["unanswered after 10 s"] += unanswered
        return {
            "acks": sum(c.acks for c in self._conns),
            "sent": sent,
            "elapsed_s": time.monotonic() - start,
            "latencies": _trim([x for c in self._conns for x in c.latencies]),
            "errors": dict(errors),
        }

    async def teardown(self) -> None:
        for conn in self._conns:
            conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(c.closed) for c in self._conns)), 5
            )


# -- 1b. the design's path: one HTTP POST and one INSERT per message -------------------------


@dataclass
class BaselineJob:
    """`clients` keep-alive HTTP clients, each POSTing one transcript at a time."""

    http_base: str
    session_ids: list[str]
    duration_s: float
    _http: aiohttp.ClientSession | None = None

    def _body(self, session_id: str) -> bytes:
        return orjson.dumps(
            {"session_id": session_id, "round_number": 1, "role": "user", "text": UTTERANCE}
        )

    async def _post(self, session_id: str) -> int:
        assert self._http is not None
        async with self._http.post(
            self.http_base + "/api/voice/transcript",
            data=self._body(session_id),
            headers={"Content-Type": "application/json"},
        ) as resp:
            await resp.read()
            return resp.status

    async def setup(self) -> dict[str, Any]:
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=120),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        # Warm up: open every keep-alive connection before measuring.
        statuses = await asyncio.gather(
            *(self._post(s) for s in self.session_ids), return_exceptions=True
        )
        return {"open": sum(s == 200 for s in statuses)}

    async def run(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.duration_s
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        ok = 0

        async def client(session_id: str) -> None:
            nonlocal ok
            while time.monotonic() < deadline:
                t = time.monotonic()
                try:
                    status = await self._post(session_id)
                except (aiohttp.ClientError, OSError, TimeoutError) as err:
                    errors[type(err).__name__] += 1
                    continue
                now = time.monotonic()
                if status == 200 and now <= deadline:
                    ok += 1
                    latencies.append(now - t)
                elif status != 200:
                    errors[f"http {status}"] += 1

        await asyncio.gather(*(client(s) for s in self.session_ids))
        return {
            "acks": ok,
            "duration_s": self.duration_s,
            "latencies": _trim(latencies),
            "errors": dict(errors),
        }

    async def teardown(self) -> None:
        if self._http is not None:
            await self._http.close()


# -- 2. transcript -> panel latency across many sessions -------------------------------------


@dataclass
class PanelLatencyJob:
    """Per session one panel and one candidate sending a frame every `interval_s`."""

    ws_base: str
    sessions: list[tuple[str, str, str]]  # (session_id, candidate token, interviewer token)
    duration_s: float
    interval_s: float = 1.0
    _panels: list[ClientConnection | None] = field(default_factory=list)
    _candidates: list[ClientConnection | None] = field(default_factory=list)

    async def setup(self) -> dict[str, Any]:
        self._panels, f1 = await open_all(
            [ws_url(self.ws_base, "panel", s, p) for s, _, p in self.sessions]
        )
        self._candidates, f2 = await open_all(
            [ws_url(self.ws_base, "candidate", s, c) for s, c, _ in self.sessions]
        )
        return {
            "open": sum(c is not None for c in self._panels + self._candidates),
            "failures": dict(f1 + f2),
        }

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.duration_s
        latencies: list[float] = []
        totals: Counter[str] = Counter()

        async def session(panel: ClientConnection, cand: ClientConnection) -> None:
            sent = 0
            done = asyncio.Event()

            async def send() -> None:
                nonlocal sent
                await asyncio.sleep(random.uniform(0, self.interval_s))
                tick = loop.time()
                while tick < deadline:
                    sent += 1
                    text = stamped_text(time.monotonic_ns())
                    await cand.send(candidate_frame(sent, text))
                    tick += self.interval_s
                    await asyncio.sleep(max(0.0, tick - loop.time()))
                done.set()

            async def drain_acks() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for raw in cand:
                        frame = orjson.loads(raw)
                        totals["acks" if frame["type"] == "ack" else frame["type"]] += 1

            async def watch() -> None:
                got = 0
                with contextlib.suppress(TimeoutError, ConnectionClosed):
                    async with asyncio.timeout_at(deadline + 10):
                        while not (done.is_set() and got >= sent):
                            raw = await panel.recv()
                            now = time.monotonic_ns()
                            frame = orjson.loads(raw)
                            if frame["type"] != "transcript":
                                continue
                            stamp = parse_stamp(frame["text"])
                            if stamp is not None:
                                got += 1
                                latencies.append((now - stamp) / 1e9)
                totals["received"] += got

            acks = asyncio.create_task(drain_acks())
            await asyncio.gather(send(), watch())
            totals["sent"] += sent
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(acks), 2)
            acks.cancel()

        pairs = [
            (p, c)
            for p, c in zip(self._panels, self._candidates, strict=True)
            if p is not None and c is not None
        ]
        await asyncio.gather(*(session(p, c) for p, c in pairs))
        return {"latencies": _trim(latencies), "totals": dict(totals)}

    async def teardown(self) -> None:
        await close_all(self._panels + self._candidates)


@dataclass
class PanelLatencySansIOJob:
    """`PanelLatencyJob` on `websockets`' Sans-I/O protocol (`bench.pipelined`): no task per
    socket and one write per read, so less of the client side's own scheduling is measured."""

    ws_base: str
    sessions: list[tuple[str, str, str]]  # (session_id, candidate token, interviewer token)
    duration_s: float
    interval_s: float = 1.0
    _panels: list[LatencyPanel] = field(default_factory=list)
    _candidates: list[StampedCandidate] = field(default_factory=list)

    async def setup(self) -> dict[str, Any]:
        self._panels, f1 = await open_clients(
            [ws_url(self.ws_base, "panel", s, p) for s, _, p in self.sessions],
            lambda url, loop: LatencyPanel(url, loop, parse_stamp),
            CONNECT_CONCURRENCY,
        )
        self._candidates, f2 = await open_clients(
            [ws_url(self.ws_base, "candidate", s, c) for s, c, _ in self.sessions],
            lambda url, loop: StampedCandidate(url, loop, stamped_text),
            CONNECT_CONCURRENCY,
        )
        return {
            "open": len(self._panels) + len(self._candidates),
            "failures": dict(f1 + f2),
        }

    async def run(self) -> dict[str, Any]:
        sent = await _send_on_schedule(self._candidates, self.interval_s, self.duration_s)
        for _ in range(200):  # the last frames' way to their panels, at most 10 s
            if sum(len(p.latencies) for p in self._panels) >= sent and not any(
                c.sent for c in self._candidates
            ):
                break
            await asyncio.sleep(0.05)
        latencies = [x for p in self._panels for x in p.latencies]
        totals = {
            "sent": sent,
            "received": len(latencies),
            "acks": sum(c.acks for c in self._candidates),
        }
        return {"latencies": _trim(latencies), "totals": totals}

    async def teardown(self) -> None:
        clients: list[LatencyPanel | StampedCandidate] = [*self._panels, *self._candidates]
        for client in clients:
            client.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(c.closed) for c in clients)), 5)


# -- 3. one session, many panels ---------------------------------------------------------------


@dataclass
class FanoutPanelsJob:
    """Panels of one session recording when each transcript `seq` arrives; stop at `last_seq`.

    Panels are `bench.pipelined.RawWatchingPanel`s (the minimal reader, `bench.wsreader`) or
    `WatchingPanel`s (`websockets`' Sans-I/O protocol): each event is handled as it is parsed,
    so the figure is the gateway's fan-out rather than the load generator's task switching."""

    ws_base: str
    session_id: str
    tokens: list[str]
    last_seq: int
    timeout_s: float
    reader: str = "raw"  # "raw": bench.wsreader; "websockets": its Sans-I/O protocol
    _panels: list[WatchingPanel | RawWatchingPanel] = field(default_factory=list)
    _seen: dict[int, list[int]] = field(default_factory=dict)

    async def setup(self) -> dict[str, Any]:
        urls = [ws_url(self.ws_base, "panel", self.session_id, t) for t in self.tokens]
        kind = RawWatchingPanel if self.reader == "raw" else WatchingPanel

        def make(url: str, loop: asyncio.AbstractEventLoop) -> WatchingPanel | RawWatchingPanel:
            return kind(url, loop, self._seen, self.last_seq, parse_stamp)

        self._panels, failures = await open_clients(urls, make, CONNECT_CONCURRENCY)
        return {"open": len(self._panels), "failures": dict(failures)}

    async def run(self) -> dict[str, Any]:
        closed: Counter[str] = Counter()
        done = [asyncio.shield(p.finished) for p in self._panels]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*done, return_exceptions=True), self.timeout_s)
        for panel in self._panels:
            if not panel.finished.done():
                closed["timeout"] += 1
            elif panel.finished.exception() is not None:
                closed[f"closed {panel.close_code or 'abnormal'}"] += 1
        return {"seen": {str(k): v for k, v in self._seen.items()}, "closed": dict(closed)}

    async def teardown(self) -> None:
        for panel in self._panels:
            panel.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(p.closed) for p in self._panels)), 5
            )


# -- 4. idle connections -----------------------------------------------------------------------


@dataclass
class IdleJob:
    """Open sockets and hold them, reading (and discarding) whatever arrives."""

    ws_base: str
    conns: list[tuple[str, str, str]]  # (kind, session_id, token)
    _open: list[ClientConnection | None] = field(default_factory=list)
    _drains: list[asyncio.Task[None]] = field(default_factory=list)

    async def setup(self) -> dict[str, Any]:
        urls = [ws_url(self.ws_base, k, s, t) for k, s, t in self.conns]
        self._open, failures = await open_all(urls, concurrency=32)

        async def drain(ws: ClientConnection) -> None:
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass

        self._drains = [asyncio.create_task(drain(ws)) for ws in self._open if ws is not None]
        return {"open": len(self._drains), "failures": dict(failures)}

    async def run(self) -> dict[str, Any]:
        return {"still_open": sum(not t.done() for t in self._drains)}

    async def teardown(self) -> None:
        await close_all(self._open)
        for task in self._drains:
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)


@dataclass
class RawIdleJob:
    """Many idle sockets on the minimal reader (a few KiB each in this process, where a
    `websockets` connection costs tens), connected from several loopback source addresses."""

    ws_base: str
    conns: list[tuple[str, str, str]]  # (kind, session_id, token)
    sources: list[str]
    _open: list[RawIdle] = field(default_factory=list)

    async def setup(self) -> dict[str, Any]:
        urls = [ws_url(self.ws_base, k, s, t) for k, s, t in self.conns]
        self._open, failures = await open_clients(
            urls, RawIdle, concurrency=64, timeout_s=120, sources=self.sources
        )
        return {"open": len(self._open), "failures": dict(failures)}

    async def run(self) -> dict[str, Any]:
        return {"still_open": sum(not c.closed.done() for c in self._open)}

    async def teardown(self) -> None:
        for conn in self._open:
            conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(c.closed) for c in self._open)), 10
            )
