"""A TCP relay in front of the test PostgreSQL that can hold a server's close.

When PostgreSQL ends a backend (`pg_terminate_backend`, a restart) it sends a FATAL error and
then closes the socket. The driver reads the error first; until the close arrives the
connection looks open but is unusable (asyncpg: "cannot switch to state ..."). On a loaded
machine that window is one loop turn wide; `hold_close` widens it so a test can hit it every
time: every byte still reaches the client, only the close waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

APP_NAME = "ig-via-relay"  # what the relayed connections call themselves in pg_stat_activity


class HoldingProxy:
    """Relays 127.0.0.1:`port` to the database in `dsn`; `dsn_through` is the proxied DSN
    (its connections are named `APP_NAME`)."""

    def __init__(self, dsn: str, hold_close: float = 0.0) -> None:
        parts = urlsplit(dsn)
        query = dict(parse_qsl(parts.query))
        socket_dir = query.pop("host", None)  # the test server listens on a Unix socket
        self._dsn = parts._replace(query=urlencode(query))
        port = parts.port or 5432
        self._unix = f"{socket_dir}/.s.PGSQL.{port}" if socket_dir else None
        self._target = (parts.hostname or "127.0.0.1", port)
        self.hold_close = hold_close
        self.links = 0  # relayed connections whose server side is still open
        self.closed_by_server = 0  # upstream closes seen, for tests to wait on
        self._server_closed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def dsn_through(self) -> str:
        userinfo, _, _ = self._dsn.netloc.rpartition("@")
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        query = urlencode({**dict(parse_qsl(self._dsn.query)), "application_name": APP_NAME})
        return urlunsplit(self._dsn._replace(netloc=netloc, query=query))

    async def until_closed_by_server(self, count: int, within: float) -> bool:
        """Wait until the server has closed `count` links in all; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.closed_by_server < count:
            self._server_closed.clear()
            try:
                await asyncio.wait_for(self._server_closed.wait(), deadline - loop.time())
            except TimeoutError:
                return False
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # `close` ends the links it owns
            await self._relay(client_r, client_w)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._unix is not None:
                server_r, server_w = await asyncio.open_unix_connection(self._unix)
            else:
                server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            self._tasks.discard(task)
            return
        up = asyncio.create_task(self._pump(client_r, server_w))
        self.links += 1
        try:
            await self._pump(server_r, client_w, from_server=True)
        finally:
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await up
            server_w.close()
            client_w.close()
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_server: bool = False
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        if from_server:
            self.links -= 1
            self.closed_by_server += 1
            self._server_closed.set()
            await asyncio.sleep(self.hold_close)
