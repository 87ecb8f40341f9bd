"""The app factory: one place that wires settings, the database and every route together."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.settings import Settings
from handlers import (
    analysis_runner,
    health,
    openapi,
    pages,
    panel_page,
    realtime,
    rest_analysis,
    rest_auth,
    rest_personas,
    rest_reports,
    rest_scenarios,
    rest_sessions,
    rest_transcript,
    rest_voice_agent,
)
from handlers.http import Metrics, error_middleware, metrics_middleware
from handlers.keys import DSN, METRICS, POOL, SESSION_ENDED_HOOKS, SETTINGS
from storage.pool import create_pool

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = await create_pool(
        app[DSN], min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    app[POOL] = pool
    yield
    await pool.close()


def create_app(settings: Settings, dsn: str) -> web.Application:
    """Build the application; resources start in cleanup contexts, in the order listed."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[DSN] = dsn
    app[METRICS] = Metrics.create()
    app[SESSION_ENDED_HOOKS] = []
    app.cleanup_ctx.append(_pool_ctx)
    health.setup(app)
    realtime.setup(app)
    analysis_runner.setup(app)
    rest_analysis.setup(app)
    rest_transcript.setup(app)
    openapi.setup(app)
    pages.setup(app)
    panel_page.setup(app)
    rest_auth.setup(app)
    rest_personas.setup(app)
    rest_scenarios.setup(app)
    rest_sessions.setup(app)
    rest_reports.setup(app)
    rest_voice_agent.setup(app)
    return app
