"""Typed application state: every `web.AppKey` the app uses, in one module."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from gateway.settings import Settings

if TYPE_CHECKING:
    from handlers.api import ApiRoute
    from handlers.http import Metrics

__all__ = ["API_ROUTES", "DSN", "METRICS", "POOL", "SESSION_ENDED_HOOKS", "SETTINGS"]

SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Every REST route registered through handlers.api (the OpenAPI document is built from it).
API_ROUTES: web.AppKey[list[ApiRoute]] = web.AppKey("api_routes")
# Awaited, in order, after `POST /api/sessions/{id}/end` commits (e.g. tell connected clients).
SESSION_ENDED_HOOKS: web.AppKey[list[Callable[[uuid.UUID], Awaitable[None]]]] = web.AppKey(
    "session_ended_hooks"
)
