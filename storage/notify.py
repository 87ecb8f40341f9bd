"""LISTEN/NOTIFY on dedicated connections (a pooled connection's reset runs `UNLISTEN *`)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from storage.pool import connect

__all__ = ["Listener", "Notifier"]

OnNotify = Callable[[str], None]


class Listener:
    """One connection listening on one channel; `lost` says when to open a new one."""

    def __init__(self, conn: asyncpg.Connection, channel: str) -> None:
        self._conn = conn
        self.channel = channel

    @classmethod
    async def open(cls, dsn: str, channel: str, on_notify: OnNotify) -> Listener:
        conn = await connect(dsn)

        def deliver(_conn: object, _pid: int, _channel: str, payload: object) -> None:
            on_notify(str(payload))

        await conn.add_listener(channel, deliver)
        return cls(conn, channel)

    @property
    def lost(self) -> bool:
        return self._conn.is_closed()

    async def close(self) -> None:
        if not self._conn.is_closed():
            await self._conn.close()


class Notifier:
    """Sends notifications on a dedicated connection, reconnecting after a failure."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def notify(self, channel: str, payload: str) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await connect(self._dsn)
        try:
            await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        except BaseException:
            conn, self._conn = self._conn, None  # reconnect next time; the caller retries
            if conn is not None and not conn.is_closed():
                conn.terminate()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
