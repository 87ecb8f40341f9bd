"""Wires the realtime core into the app: the live service, WebSocket routes, shutdown order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.admission import Admission, AdmissionLimits
from gateway.bus import LocalBus
from gateway.errors import CloseCode
from gateway.metrics import REGISTRY
from handlers import looplag, ws
from handlers.keys import ADMISSION, CONNECTIONS, DSN, LIVE, POOL, SESSION_ENDED_HOOKS, SETTINGS
from handlers.live import LiveService
from handlers.pgbus import PostgresBus

__all__ = ["setup"]

log = logging.getLogger("gateway.realtime")

EVICT_EVERY_S = 30.0


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pg_bus = PostgresBus(app[DSN], app[POOL]) if settings.bus == "postgres" else None
    live = LiveService(app[POOL], settings, pg_bus or LocalBus())
    if pg_bus is not None:
        pg_bus.interested = lambda sid: live.hub.get(sid) is not None
        await pg_bus.start()
    app[LIVE] = live
    app[SESSION_ENDED_HOOKS].append(live.session_ended)
    REGISTRY.gauge(
        "gateway_sessions_live", "sessions held by the hub", lambda: float(len(live.hub))
    )
    REGISTRY.gauge(
        "gateway_ws_open", "open WebSocket connections", lambda: float(len(app[CONNECTIONS]))
    )
    REGISTRY.gauge(
        "gateway_commit_queue",
        "frames waiting for group commit",
        lambda: float(len(live.committer)),
    )
    await live.start()
    evictor = asyncio.get_running_loop().create_task(_evict_idle(live), name="hub-evictor")
    yield
    evictor.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await evictor
    await live.stop()
    if pg_bus is not None:
        await pg_bus.stop()


async def _evict_idle(live: LiveService) -> None:
    while True:
        await asyncio.sleep(EVICT_EVERY_S)
        evicted = live.hub.evict_idle()
        if evicted:
            log.debug("evicted %d idle session(s)", evicted)


async def _on_shutdown(app: web.Application) -> None:
    """Stop accepting, commit and ack what is in flight, then close every socket with 1001."""
    live = app[LIVE]
    live.hub.closing = True
    await live.committer.drain()
    connections: list[ws.Connection] = [*app[CONNECTIONS]]
    log.info("closing %d socket(s) with 1001", len(connections))
    await asyncio.gather(
        *(c.close(CloseCode.GOING_AWAY, "gateway shutting down") for c in connections),
        return_exceptions=True,
    )


def setup(app: web.Application) -> None:
    """Call after the pool's cleanup context is registered (the live service needs the pool)."""
    app[CONNECTIONS] = set()
    app[ADMISSION] = Admission(AdmissionLimits.from_settings(app[SETTINGS]))
    app.cleanup_ctx.append(_live_ctx)
    app.cleanup_ctx.append(looplag.sampler_ctx)
    app.on_shutdown.append(_on_shutdown)
    ws.setup(app)
