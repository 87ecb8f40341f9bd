"""Test helpers for real WebSocket clients (the `websockets` library) against the gateway."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

# The patience of every wait in these tests, in seconds. A slow or loaded machine scales it
# with GATEWAY_TEST_TIMEOUT_FACTOR (as python-websockets scales its MS), e.g. 3 under a profiler.
TIMEOUT_FACTOR = float(os.environ.get("GATEWAY_TEST_TIMEOUT_FACTOR", "1"))
UNIT = 5.0 * TIMEOUT_FACTOR


def ws_url(server_url: str, kind: str, session_id: uuid.UUID, token: str, **query: Any) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"{server_url.replace('http', 'ws', 1)}/ws/{kind}/{session_id}?token={token}{extra}"


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, open_timeout=UNIT, **kwargs)


async def recv(ws: ClientConnection, within: float = UNIT) -> dict[str, Any]:
    data = await asyncio.wait_for(ws.recv(), within)
    frame = orjson.loads(data)
    assert isinstance(frame, dict)
    return frame


async def recv_until(ws: ClientConnection, kind: str, within: float = UNIT) -> dict[str, Any]:
    """Skip frames until one of `kind` arrives."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        frame = await recv(ws, max(0.01, deadline - loop.time()))
        if frame.get("type") == kind:
            return frame


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(frame).decode())


def transcript(
    seq: int, text: str | None = None, role: str = "user", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "transcript",
        "seq": seq,
        "role": role,
        "text": text or f"message {seq}",
        **extra,
    }
