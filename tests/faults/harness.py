"""The fault tier's tools: a gateway in its own process (so it can be SIGKILLed), a candidate
that streams and resends as docs/protocol.md says, and a panel that checks its event ids."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from tests.helpers import TEST_SECRET

CLI = [sys.executable, "-m", "gateway"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI", "ELEVEN"))
    }
    env.pop("DATABASE_URL", None)
    env.update(
        GATEWAY_DATA_DIR=str(data_dir),
        GATEWAY_PORT=str(port),
        GATEWAY_JWT_SECRET=TEST_SECRET,
        GATEWAY_ANALYZER="offline",
        VOICE_AGENT_PROVIDER="offline",
        ANALYSIS_WORKERS="1",
        WS_RATE_PER_SECOND="10000",  # these tests are about faults, not the rate limit
        WS_RATE_BURST="10000",
        GATEWAY_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


async def until(condition: Callable[[], bool], within: float, step: float = 0.01) -> bool:
    """Poll `condition` every `step` seconds for up to `within`; whether it came true."""
    for _ in range(max(1, int(within / step))):
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        if fields[0] not in (b"Z", b"X"):
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {c for c, p in parents.items() if p in frontier and c not in found}
        found |= children
        frontier = children
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in (b"Z", b"X"):
            out.add(pid)
    return out


class GatewayProcess:
    """`interview-gateway serve` as a child process; its log is kept in `lines`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self, *args: str, within: float = 60.0) -> float:
        """Start and wait until it serves `/healthz`; returns the seconds that took."""
        started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            *CLI, "serve", *args, env=self.env, stderr=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read(self.proc))
        port = self.env["GATEWAY_PORT"]
        self.url = f"http://127.0.0.1:{port}"
        async with asyncio.timeout(within):
            while True:
                assert self.proc.returncode is None, "\n".join(self.lines[-20:])
                if await _healthy(int(port)):
                    return time.monotonic() - started
                await asyncio.sleep(0.02)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())

    async def wait_for_line(self, pattern: str, within: float = 60.0) -> str:
        async with asyncio.timeout(within):
            while True:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                await asyncio.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.lines.clear()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def _healthy(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = await asyncio.wait_for(reader.read(12), 2)
        return head.startswith(b"HTTP/1.1 200")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class StreamingCandidate:
    """Streams `total` transcript frames as the protocol's delivery rules say: keep each until
    its ack; on any close (or an `unavailable` answer) reconnect with short backoff and resend
    every unacked frame in seq order. Records every ack for the checks."""

    url: str
    session_id: uuid.UUID
    token: str
    total: int
    window: int = 100
    rate: float = 400.0  # frames per second
    acks: dict[int, set[str]] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    unacked: dict[int, dict[str, Any]] = field(default_factory=dict)
    connections: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)  # HTTP statuses of refused connects
    on_ack: Callable[[int], None] | None = None
    _next: int = 1

    def frame(self, seq: int) -> dict[str, Any]:
        return {
            "type": "transcript",
            "seq": seq,
            "role": "user" if seq % 2 else "assistant",
            "text": f"frame {seq} of the fault test",
        }

    @property
    def done(self) -> bool:
        return len(self.acks) >= self.total

    async def run(self, within: float) -> None:
        url = f"{self.url.replace('http', 'ws', 1)}/ws/candidate/{self.session_id}"
        headers = {"Authorization": f"Bearer {self.token}"}
        delay = 0.05  # capped exponential backoff with jitter, as the simulator does
        async with asyncio.timeout(within):
            while not self.done:
                greeted = self.connections
                try:
                    async with connect(
                        url, additional_headers=headers, open_timeout=5, close_timeout=1
                    ) as ws:
                        self.connections += 1
                        await self._converse(ws)
                except ConnectionClosed as err:
                    self.closes.append(err.rcvd.code if err.rcvd is not None else None)
                except InvalidStatus as err:
                    self.refusals.append(err.response.status_code)
                except (OSError, TimeoutError, WebSocketException):
                    pass
                if self.done:
                    break
                delay = 0.05 if self.connections > greeted else min(0.4, delay * 2)
                await asyncio.sleep(random.uniform(delay / 2, delay))

    async def _converse(self, ws: ClientConnection) -> None:
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello", hello
        for seq in sorted(self.unacked):  # resend, in order, what was not acked
            await ws.send(orjson.dumps(self.unacked[seq]).decode())
        broken = asyncio.Event()
        sender = asyncio.create_task(self._send_new(ws, broken))
        try:
            while not self.done:
                msg = orjson.loads(await ws.recv())
                if msg["type"] == "ack":
                    seq = msg["seq"]
                    self.acks.setdefault(seq, set()).add(msg["message_id"])
                    self.ack_times.append(time.monotonic())
                    self.unacked.pop(seq, None)
                    if self.on_ack is not None:
                        self.on_ack(seq)
                elif msg["type"] == "error":
                    self.errors.append(msg)
                    if msg["code"] == "unavailable":  # nothing stored: reconnect and resend
                        await ws.close()
                        return
        finally:
            broken.set()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _send_new(self, ws: ClientConnection, broken: asyncio.Event) -> None:
        interval = 1.0 / self.rate
        while self._next <= self.total and not broken.is_set():
            if len(self.unacked) >= self.window:
                await asyncio.sleep(interval)
                continue
            seq = self._next
            self.unacked[seq] = self.frame(seq)
            self._next += 1
            await ws.send(orjson.dumps(self.unacked[seq]).decode())
            await asyncio.sleep(interval)


@dataclass
class WatchingPanel:
    """A panel that resumes with `?after=` and records every event id it receives."""

    url: str
    session_id: uuid.UUID
    token: str
    event_ids: list[int] = field(default_factory=list)
    transcript_seqs: list[int] = field(default_factory=list)
    snapshots: int = 0
    connections: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        base = f"{self.url.replace('http', 'ws', 1)}/ws/panel/{self.session_id}?token={self.token}"
        while not stop.is_set():
            after = f"&after={self.event_ids[-1]}" if self.event_ids else ""
            try:
                async with connect(base + after, open_timeout=5, close_timeout=1) as ws:
                    self.connections += 1
                    while not stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            continue
                        self._record(orjson.loads(raw))
            except (OSError, TimeoutError, InvalidStatus, WebSocketException):
                await asyncio.sleep(0.05)

    def _record(self, event: dict[str, Any]) -> None:
        if event["type"] == "snapshot":
            self.snapshots += 1
            if not self.event_ids:
                self.event_ids.append(event["last_event_id"])
            return
        if "event_id" in event:
            self.event_ids.append(event["event_id"])
        if event["type"] == "transcript":
            self.transcript_seqs.append(event["seq"])

    def gaps(self) -> list[tuple[int, int]]:
        ids = self.event_ids
        return [(a, b) for a, b in itertools.pairwise(ids) if b != a + 1]
