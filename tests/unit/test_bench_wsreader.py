"""The load generator's minimal WebSocket reader against `websockets`' server protocol: the
handshake, text messages whole, split across reads and fragmented, pings answered with masked
pongs, the close handshake, and the violations it must refuse."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from bench.wsreader import ProtocolViolation, RawClient, mask


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Client(RawClient):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__("ws://127.0.0.1:9/ws/panel/abc?token=t", loop)
        self.texts: list[bytes] = []

    def on_text(self, payload: bytes) -> None:
        self.texts.append(payload)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _open(loop: asyncio.AbstractEventLoop) -> tuple[_Client, _Transport, ServerProtocol]:
    client, transport, server = _Client(loop), _Transport(), ServerProtocol()
    client.connection_made(transport)
    server.receive_data(bytes(transport.out))
    transport.out.clear()
    (request,) = server.events_received()
    assert isinstance(request, Request)
    assert request.path == "/ws/panel/abc?token=t"
    server.send_response(server.accept(request))
    server.send_text(b'{"type":"hello"}')
    client.data_received(b"".join(server.data_to_send()))
    assert client.opened.done() and client.opened.exception() is None
    return client, transport, server


def _to_server(server: ServerProtocol, transport: _Transport) -> list[Frame]:
    server.receive_data(bytes(transport.out))
    transport.out.clear()
    return [e for e in server.events_received() if isinstance(e, Frame)]


def test_text_messages_whole_split_and_fragmented(loop: asyncio.AbstractEventLoop) -> None:
    client, _, server = _open(loop)
    server.send_text(b'{"n":1}')
    server.send_text(b"x" * 70_000)  # 64-bit length
    server.send_text(b"y" * 300)  # 16-bit length
    wire = b"".join(server.data_to_send())
    for i in range(0, len(wire), 7):  # arrives in 7-byte reads
        client.data_received(wire[i : i + 7])
    server.send_text(b'{"part":', fin=False)
    server.send_continuation(b"1", fin=False)
    server.send_continuation(b"}", fin=True)
    client.data_received(b"".join(server.data_to_send()))
    assert client.texts == [b'{"n":1}', b"x" * 70_000, b"y" * 300, b'{"part":1}']


def test_ping_gets_a_masked_pong_and_close_is_answered(loop: asyncio.AbstractEventLoop) -> None:
    client, transport, server = _open(loop)
    server.send_ping(b"beat")
    client.data_received(b"".join(server.data_to_send()))
    (pong,) = _to_server(server, transport)  # the server protocol refuses unmasked frames
    assert pong.opcode is Opcode.PONG and pong.data == b"beat"
    server.send_close(1001, "bye")
    client.data_received(b"".join(server.data_to_send()))
    assert client.close_code == 1001 and transport.closed
    _to_server(server, transport)
    assert server.state is State.CLOSED or server.close_rcvd is not None


def test_client_close_is_a_masked_close_frame(loop: asyncio.AbstractEventLoop) -> None:
    client, transport, server = _open(loop)
    client.close(1000)
    (close,) = _to_server(server, transport)
    assert close.opcode is Opcode.CLOSE and close.data[:2] == (1000).to_bytes(2, "big")


def test_refused_handshake_and_bad_accept_fail_opened(loop: asyncio.AbstractEventLoop) -> None:
    client, transport = _Client(loop), _Transport()
    client.connection_made(transport)
    client.data_received(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(client.opened.exception(), ProtocolViolation) and transport.closed
    client, transport = _Client(loop), _Transport()
    client.connection_made(transport)
    client.data_received(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: wrong\r\n\r\n"
    )
    assert isinstance(client.opened.exception(), ProtocolViolation)


def test_masked_server_frame_is_a_violation(loop: asyncio.AbstractEventLoop) -> None:
    client, transport, _ = _open(loop)
    client.data_received(bytes((0x81, 0x80 | 2)) + b"abcd" + mask(b"hi", b"abcd"))
    assert transport.closed and client.texts == []


def test_mask_round_trips() -> None:
    key = b"\x01\x02\x03\x04"
    assert mask(mask(b"hello world", key), key) == b"hello world"
    assert mask(b"", key) == b""
