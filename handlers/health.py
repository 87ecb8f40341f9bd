"""Probes and metrics: `/healthz` (process alive), `/readyz` (database and schema; `analysis`
says whether the offline analyzer is still warming), `/metrics`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.auth import Role
from gateway.metrics import render
from handlers.http import json_response, require
from handlers.keys import ANALYSIS, METRICS, POOL, SETTINGS
from storage.errors import DB_ERRORS
from storage.migrate import MigrationError, pending_migrations

__all__ = ["setup"]

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(3):
            async with request.app[POOL].acquire() as conn:
                pending = await pending_migrations(conn)
    except DB_ERRORS as err:
        return json_response(
            {"status": "unavailable", "reason": f"database unreachable: {err}"}, 503
        )
    except MigrationError as err:
        return json_response({"status": "unavailable", "reason": str(err)}, 503)
    if pending:
        names = ", ".join(f"{m.version}_{m.name}" for m in pending)
        return json_response(
            {"status": "unavailable", "reason": f"migrations pending: {names}"}, 503
        )
    runner = request.app.get(ANALYSIS)
    analysis = runner.analysis_state() if runner is not None else "off"
    # Serving (ingest, fan-out) does not wait for the analyzer: warming is still ready.
    return json_response({"status": "ready", "analysis": analysis})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    if not request.app[SETTINGS].metrics_public:
        require(request, Role.ADMIN)
    body, content_type = render(request.app[METRICS].registry, request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
