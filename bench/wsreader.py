"""A minimal WebSocket client for the load generator's panels (RFC 6455, client side).

The fan-out benchmark's panels only read: the figure is when an event reaches the last of
1,000 sockets, and on a two-core machine the panels' own CPU per message is charged to that
figure. `websockets`' Sans-I/O protocol costs about 30 µs per message (its generator-based
parser, a `Frame` object per message, UTF-8 validation); this reader parses frame headers
over one buffer and hands each text payload to `on_text` (the JSON parser that reads it checks
the UTF-8). It does what a
conforming client must for the gateway's traffic: checks the handshake (`101` and
`Sec-WebSocket-Accept`), reassembles fragmented messages, refuses masked server frames, answers
pings with masked pongs and a close with a close. It does not offer extensions. Tested against
`websockets`' server protocol in `tests/unit/test_bench_wsreader.py`; the benchmark keeps one
series on `websockets` for reference.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from urllib.parse import urlsplit

__all__ = ["ProtocolViolation", "RawClient", "mask"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CONT, _CLOSE, _PING, _PONG = 0x1, 0x0, 0x8, 0x9, 0xA


class ProtocolViolation(Exception):
    pass


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte `key` repeated (client-to-server frames are masked)."""
    if not payload:
        return b""
    n = len(payload)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")


def _client_frame(opcode: int, payload: bytes) -> bytes:
    if len(payload) > 125:
        raise ValueError("control frames only: payload up to 125 bytes")
    key = os.urandom(4)
    return bytes((0x80 | opcode, 0x80 | len(payload))) + key + mask(payload, key)


class RawClient(asyncio.Protocol):
    """One client socket. `opened` resolves after the handshake and the server's first text
    message (hello or snapshot); later text messages go to `on_text`. `finished` is for
    subclasses; `closed` resolves when the connection is gone."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        parts = urlsplit(url)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._host = parts.netloc
        self._key = base64.b64encode(os.urandom(16))
        self._buf = bytearray()
        self._handshaken = False
        self._fragments: list[bytes] = []
        self.opened: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self._target.encode(), self._host.encode(), self._key)
        )

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            if not self._handshaken and not self._handshake():
                return
            self._frames()
        except ProtocolViolation as err:
            self._fail(err)
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError(f"connection closed ({self.close_code})"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- for subclasses -----------------------------------------------------------------------

    def on_text(self, payload: bytes) -> None:
        raise NotImplementedError

    def close(self, code: int = 1000) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self._handshaken and self.close_code is None:
            self.transport.write(_client_frame(_CLOSE, code.to_bytes(2, "big")))
        self.transport.close()

    # -- parsing ------------------------------------------------------------------------------

    def _handshake(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > 16384:
                raise ProtocolViolation("handshake response too long")
            return False
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise ProtocolViolation(f"handshake refused: {head[0]}")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise ProtocolViolation("bad Sec-WebSocket-Accept")
        if headers.get("sec-websocket-extensions"):
            raise ProtocolViolation("the server chose an extension that was not offered")
        self._handshaken = True
        return True

    def _frames(self) -> None:
        buf = self._buf
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:
                raise ProtocolViolation("masked frame from the server")
            if b0 & 0x70:
                raise ProtocolViolation("reserved bits set without an extension")
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(b0 & 0x80 != 0, b0 & 0x0F, payload)
        del buf[:pos]

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode >= 0x8:  # control frames: never fragmented, at most 125 bytes
            if not fin or len(payload) > 125:
                raise ProtocolViolation("bad control frame")
            if opcode == _PING and self.transport is not None:
                self.transport.write(_client_frame(_PONG, payload))
            elif opcode == _CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                if self.transport is not None:
                    self.transport.write(_client_frame(_CLOSE, payload[:2]))
                    self.transport.close()
            elif opcode != _PONG:
                raise ProtocolViolation(f"unknown opcode {opcode}")
            return
        if opcode == _CONT:
            if not self._fragments:
                raise ProtocolViolation("continuation without a message")
            self._fragments.append(payload)
        elif opcode == _TEXT:
            if self._fragments:
                raise ProtocolViolation("new message inside a fragmented one")
            if fin:
                self._text(payload)
                return
            self._fragments.append(payload)
        else:
            raise ProtocolViolation(f"unexpected opcode {opcode} (the gateway sends text)")
        if fin:
            message, self._fragments = b"".join(self._fragments), []
            self._text(message)

    def _text(self, payload: bytes) -> None:
        if not self.opened.done():
            self.opened.set_result(None)  # hello or snapshot
        else:
            self.on_text(payload)

    def _fail(self, err: BaseException) -> None:
        for future in (self.opened, self.finished):
            if not future.done():
                future.set_exception(err)
                future.exception()  # retrieved: a failure is counted, not logged as unhandled
