"""Connection-level limits, below HTTP: concurrent connections per client address, and how long
a connection may take to send its request headers.

A middleware runs only once a request's headers have arrived, too late for a client that opens
sockets and sends nothing, or a byte every few seconds (slowloris). So these live on the
protocol object aiohttp makes per TCP connection:

* `MAX_CONNECTIONS_PER_ADDRESS`: one more connection from the same peer address is answered
  `503` with the JSON error body and closed before anything is parsed. (The peer is the TCP
  peer: behind a load balancer set the limit for the balancer's addresses, or enforce it there.)
* `HTTP_HEADER_TIMEOUT`: aiohttp's keep-alive timer, which since 3.10 also runs from the moment
  a connection opens and closes a connection still waiting for a complete request; set to this
  value, it bounds both the wait for the first request's headers (a WebSocket handshake is one)
  and the idle time between requests.

Request bodies have their own deadline (`HTTP_BODY_TIMEOUT`, in handlers/http.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway.metrics import counter
from gateway.settings import Settings

__all__ = ["GuardedAppRunner", "runner_options"]

log = logging.getLogger("gateway.http")

_refused = counter(
    "gateway_connections_refused_total", "TCP connections refused: too many from one address"
)

_BODY = orjson.dumps(
    {
        "error": {
            "code": "too_many_connections",
            "message": "too many connections from this address",
            "details": [],
        }
    }
)
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nRetry-After: 1\r\nContent-Length: "
    + str(len(_BODY)).encode()
    + b"\r\n\r\n"
    + _BODY
)


class _PerAddress:
    """Open connections per peer address."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        n = self.open.get(address, 0)
        if n >= self.limit:
            return False
        self.open[address] = n + 1
        return True

    def release(self, address: str) -> None:
        n = self.open.get(address, 0) - 1
        if n > 0:
            self.open[address] = n
        else:
            self.open.pop(address, None)


class _GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol, counted per peer address."""

    def __init__(self, counter: _PerAddress, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counter = counter
        self._address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else "unknown"
        if self._counter.acquire(address):
            self._address = address
        else:
            _refused.inc()
            log.info("refused a connection from %s: too many open", address)
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(REFUSAL)
            transport.close()
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._address is not None:
            self._counter.release(self._address)
            self._address = None
        super().connection_lost(exc)


class _GuardedServer(web.Server):
    def __init__(self, counter: _PerAddress, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counter = counter

    def __call__(self) -> RequestHandler:
        return _GuardedHandler(self._counter, self, loop=self._loop, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections are counted per address (see the module docstring)."""

    def __init__(self, app: web.Application, *, max_per_address: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._counter = _PerAddress(max_per_address)

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _GuardedServer(
            self._counter,
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )


def runner_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the runner: the header timeout as aiohttp's keep-alive timer."""
    return {
        "max_per_address": settings.max_connections_per_address,
        "keepalive_timeout": settings.http_header_timeout_s,
    }
