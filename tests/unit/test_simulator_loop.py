"""The simulator's socket loop against a tiny local gateway double (websockets server).

The double keeps the contract's candidate side: `hello` with the highest committed seq, an
`ack` per frame (`duplicate` for a resend), commands to be acked. Each test scripts one way the
real gateway or the network can misbehave and checks what arrived, exactly once and in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from client.simulator import Message, Simulator

MESSAGES = [Message("assistant" if n % 2 else "user", f"line {n}") for n in range(1, 9)]
FAST = 500.0  # frames per second: the pacing itself is not under test here


@dataclass
class FakeGateway:
    stored: dict[int, str] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    refuse_with: int | None = None
    # seq -> close code: commit the frame, then close before acking it (once per seq).
    close_after_commit: dict[int, int] = field(default_factory=dict)
    abort_after_commit: set[int] = field(default_factory=set)
    # seq -> command frame sent right after acking that seq.
    command_after: dict[int, dict[str, Any]] = field(default_factory=dict)
    unavailable_once: set[int] = field(default_factory=set)
    close_on_connect: int | None = None
    authorization: list[str] = field(default_factory=list)

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.authorization.append(request.headers.get("Authorization", ""))
        if self.refuse_with is None:
            return None
        body = json.dumps({"error": {"code": "unauthorized", "message": "invalid token"}})
        return Response(self.refuse_with, "Refused", Headers(), body.encode())

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "protocol": 1,
                    "session_id": "s",
                    "round_number": 1,
                    "last_seq": max(self.stored, default=0),
                }
            )
        )
        if self.close_on_connect is not None:
            await ws.close(self.close_on_connect, "scripted")
            return
        async for raw in ws:
            frame = json.loads(raw)
            self.received.append(frame)
            if frame["type"] != "transcript":
                continue
            seq = frame["seq"]
            if seq in self.unavailable_once:
                self.unavailable_once.discard(seq)
                await ws.send(
                    json.dumps(
                        {
                            "type": "error",
                            "code": "unavailable",
                            "message": "database down",
                            "ref": str(seq),
                        }
                    )
                )
                await ws.close(1011, "frame not stored; reconnect, resend")  # as the gateway does
                return
            duplicate = seq in self.stored
            self.stored.setdefault(seq, frame["text"])
            if seq in self.close_after_commit:
                await ws.close(self.close_after_commit.pop(seq), "scripted")
                return
            if seq in self.abort_after_commit:
                self.abort_after_commit.discard(seq)
                ws.transport.abort()
                return
            await ws.send(
                json.dumps(
                    {"type": "ack", "seq": seq, "message_id": f"m{seq}", "duplicate": duplicate}
                )
            )
            if seq in self.command_after:
                await ws.send(json.dumps(self.command_after.pop(seq)))

    def transcript_frames(self) -> list[int]:
        return [f["seq"] for f in self.received if f["type"] == "transcript"]


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    server: Server = await serve(fake.handler, "127.0.0.1", 0, process_request=fake.process_request)
    port = server.sockets[0].getsockname()[1]
    try:
        yield fake, f"ws://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def make(url: str, lines: list[str], **kw: Any) -> Simulator:
    out: Callable[[str], None] = lines.append
    options: dict[str, Any] = {
        "rate": FAST,
        "linger": 0.0,
        "backoff_base": 0.02,
        "backoff_cap": 0.05,
        "out": out,
    }
    options.update(kw)
    return Simulator(url, "s", "tok", MESSAGES, **options)


async def test_delivers_the_transcript_and_injects_commands(
    gateway: tuple[FakeGateway, str],
) -> None:
    fake, url = gateway
    fake.command_after[3] = {
        "type": "command",
        "command_id": "c1",
        "command_type": "difficulty_change",
        "payload": {"context_injection": "Ask about budget"},
        "source": "ai_suggested",
    }
    lines: list[str] = []
    result = await asyncio.wait_for(make(url, lines).run(), 10)
    assert result.exit_code == 0 and result.reason == "transcript delivered"
    assert fake.stored == {n: f"line {n}" for n in range(1, 9)}
    assert fake.transcript_frames() == list(range(1, 9))
    assert {"type": "command_ack", "command_id": "c1"} in fake.received
    update = '{"type":"contextual_update","text":"[Interviewer guidance] Ask about budget"}'
    assert f"-> ElevenLabs {update}" in lines
    assert fake.authorization == ["Bearer tok"]
    assert result.acked == 8 and [c["command_id"] for c in result.commands] == ["c1"]


@pytest.mark.parametrize("code", [1001, 1011, 1013])
async def test_reconnects_and_resends_what_was_not_acked(
    gateway: tuple[FakeGateway, str], code: int
) -> None:
    fake, url = gateway
    fake.close_after_commit[4] = code
    lines: list[str] = []
    sim = make(url, lines)
    result = await asyncio.wait_for(sim.run(), 10)
    assert result.exit_code == 0
    assert sim.connections == 2 and fake.connections == 2
    assert fake.stored == {n: f"line {n}" for n in range(1, 9)}
    # Everything from seq 4 on went out again, in order; seq 4 was committed, so a duplicate.
    frames = fake.transcript_frames()
    assert frames[: frames.index(4) + 1] == [1, 2, 3, 4]
    assert frames[-5:] == [4, 5, 6, 7, 8]
    assert "ack seq 4 (duplicate)" in lines
    assert any("hello:" in line and "gateway has seq <= 4" in line for line in lines)


async def test_network_blip_without_close_frame_is_survived(
    gateway: tuple[FakeGateway, str],
) -> None:
    fake, url = gateway
    fake.abort_after_commit.add(2)
    result = await asyncio.wait_for(make(url, []).run(), 10)
    assert result.exit_code == 0 and fake.connections == 2
    assert sorted(fake.stored) == list(range(1, 9))


async def test_unavailable_frame_is_resent_in_order_after_the_reconnect(
    gateway: tuple[FakeGateway, str],
) -> None:
    fake, url = gateway
    fake.unavailable_once.add(5)
    sim = make(url, [])
    sim.retry_delay = 0.05
    result = await asyncio.wait_for(sim.run(), 10)
    assert result.exit_code == 0 and fake.connections == 2
    assert fake.transcript_frames().count(5) == 2 and sorted(fake.stored) == list(range(1, 9))
    assert list(fake.stored) == list(range(1, 9))  # stored in seq order


async def test_bad_token_is_a_clear_unrecoverable_error(gateway: tuple[FakeGateway, str]) -> None:
    fake, url = gateway
    fake.refuse_with = 401
    result = await asyncio.wait_for(make(url, []).run(), 10)
    assert result.exit_code == 1
    assert "HTTP 401: invalid token" in result.reason and "--token" in result.reason
    assert len(fake.authorization) == 1  # no retry loop on a refusal


async def test_session_ended_close_stops_without_reconnecting(
    gateway: tuple[FakeGateway, str],
) -> None:
    fake, url = gateway
    fake.close_on_connect = 4000
    result = await asyncio.wait_for(make(url, []).run(), 10)
    assert result.exit_code == 0 and "4000" in result.reason and fake.connections == 1


async def test_replaced_close_stops_with_an_error(gateway: tuple[FakeGateway, str]) -> None:
    fake, url = gateway
    fake.close_on_connect = 4001
    result = await asyncio.wait_for(make(url, []).run(), 10)
    assert result.exit_code == 1 and "replaced" in result.reason and fake.connections == 1


async def test_gives_up_when_the_gateway_stays_unreachable() -> None:
    lines: list[str] = []
    sim = make("ws://127.0.0.1:1", lines, max_attempts=3)
    result = await asyncio.wait_for(sim.run(), 10)
    assert result.exit_code == 1
    assert result.reason.startswith("gave up after 3 failed connection attempts")
    assert sum("cannot reach the gateway" in line for line in lines) == 3


async def test_keeps_reconnecting_for_a_time_not_a_number_of_tries() -> None:
    """By default a failing network is retried for 60 s (with capped, jittered backoff), not
    for a fixed number of attempts: here 0.6 s of 20-50 ms pauses is far more than 8 tries."""
    lines: list[str] = []
    assert make("ws://127.0.0.1:1", lines).reconnect_for == 60.0
    sim = make("ws://127.0.0.1:1", lines, reconnect_for=0.6)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await asyncio.wait_for(sim.run(), 10)
    took = loop.time() - started
    attempts = sum("cannot reach the gateway" in line for line in lines)
    assert result.exit_code == 1 and "gave up" in result.reason
    assert 0.6 <= took < 3 and attempts > 8, (took, attempts)
