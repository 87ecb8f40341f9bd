"""Helpers shared by the browser tests: the page's colours and a minimal candidate client."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

__all__ = ["PRIORITY_COLOUR", "RGB", "Candidate"]

RGB = {
    "red": "rgb(220, 38, 38)",
    "orange": "rgb(249, 115, 22)",
    "yellow": "rgb(234, 179, 8)",
    "green": "rgb(22, 163, 74)",
    "blue": "rgb(59, 130, 246)",
}
PRIORITY_COLOUR = {"critical": "red", "high": "orange", "medium": "yellow", "low": "blue"}


class Candidate:
    """A minimal candidate client for tests that need to say one line at a time.

    A background reader resolves each `say()` on its ack and acks every command it receives
    (keeping them in `commands`), as the real client does.
    """

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.commands: list[dict[str, Any]] = []
        self.command_arrived = asyncio.Event()
        self.ended = asyncio.Event()  # the gateway sent `session_ended`
        self._acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, server_url: str, session_id: str, token: str) -> Candidate:
        from websockets.asyncio.client import connect

        url = f"{server_url.replace('http', 'ws', 1)}/ws/candidate/{session_id}?token={token}"
        ws = await connect(url, open_timeout=5, compression=None)
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello", hello
        return cls(ws)

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame["type"] == "ack":
                future = self._acks.pop(frame["seq"], None)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif frame["type"] == "session_ended":
                self.ended.set()
            elif frame["type"] == "command":
                self.commands.append(frame)
                self.command_arrived.set()
                ack = {"type": "command_ack", "command_id": frame["command_id"]}
                await self.ws.send(orjson.dumps(ack).decode())  # text: binary frames get 1003

    async def say(self, seq: int, text: str, role: str = "user") -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[seq] = future
        frame = {"type": "transcript", "seq": seq, "role": role, "text": text}
        await self.ws.send(orjson.dumps(frame).decode())
        return await asyncio.wait_for(future, 5)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
