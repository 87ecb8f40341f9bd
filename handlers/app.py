"""The app factory: one place that wires settings, resources and every route together."""

from __future__ import annotations

from aiohttp import web

from gateway.settings import Settings
from handlers import (
    app_metrics,
    candidate_page,
    client_module,
    contexts,
    health,
    openapi,
    pages,
    panel_page,
    rest_analysis,
    rest_auth,
    rest_personas,
    rest_reports,
    rest_scenarios,
    rest_sessions,
    rest_transcript,
    rest_voice_agent,
    rest_voice_monitor,
    ws,
)
from handlers.http import Metrics, error_middleware, metrics_middleware
from handlers.keys import DSN, METRICS, SETTINGS

__all__ = ["create_app"]


def create_app(settings: Settings, dsn: str) -> web.Application:
    """Build the application; resources start in `handlers.contexts`, in the order listed."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[DSN] = dsn
    app[METRICS] = Metrics.create()
    app_metrics.setup(app)
    contexts.install(app)
    ws.setup(app)
    health.setup(app)
    rest_analysis.setup(app)
    rest_transcript.setup(app)
    openapi.setup(app)
    pages.setup(app)
    panel_page.setup(app)
    client_module.setup(app)
    rest_auth.setup(app)
    candidate_page.setup(app)
    rest_personas.setup(app)
    rest_scenarios.setup(app)
    rest_sessions.setup(app)
    rest_reports.setup(app)
    rest_voice_agent.setup(app)
    rest_voice_monitor.setup(app)
    return app
