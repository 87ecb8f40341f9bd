"""The app's gauges: read from its live objects at scrape time, registered on its registry.

They belong to one app (its sockets, its hub, its pool), so they live on the app's
`CollectorRegistry` and not among the process-wide instruments; a gauge reads 0 while the
object it reads is not there yet (before start-up) or any more.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from gateway.metrics import Gauge
from handlers.keys import CONNECTIONS, LIVE, METRICS, POOL
from storage.pool import Pool

__all__ = ["setup"]


def _pool_reader(app: web.Application, read: Callable[[Pool], int]) -> Callable[[], float]:
    def value() -> float:
        pool = app.get(POOL)
        return float(read(pool)) if pool is not None else 0.0

    return value


def _gauge(app: web.Application, name: str, help_text: str, fn: Callable[[], float]) -> None:
    Gauge(name, help_text, registry=app[METRICS].registry).set_function(fn)


def setup(app: web.Application) -> None:
    """Call after the app's `METRICS` is set."""

    def sessions() -> float:
        live = app.get(LIVE)
        return float(len(live.hub)) if live is not None else 0.0

    def commit_queue() -> float:
        live = app.get(LIVE)
        return float(len(live.committer)) if live is not None else 0.0

    def sockets() -> float:
        return float(len(app.get(CONNECTIONS, ())))

    _gauge(app, "gateway_sessions_live", "sessions held by the hub", sessions)
    _gauge(app, "gateway_ws_open", "open WebSocket connections", sockets)
    _gauge(app, "gateway_commit_queue", "frames waiting for group commit", commit_queue)
    _gauge(
        app,
        "gateway_db_pool_connections",
        "database connections the pool holds (idle or in use)",
        _pool_reader(app, lambda p: p.get_size()),
    )
    _gauge(
        app,
        "gateway_db_pool_in_use",
        "database connections acquired right now",
        _pool_reader(app, lambda p: p.get_size() - p.get_idle_size()),
    )
    _gauge(
        app,
        "gateway_db_pool_max",
        "the pool's ceiling (DB_POOL_MAX)",
        _pool_reader(app, lambda p: p.get_max_size()),
    )
