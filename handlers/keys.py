"""Typed application state: every `web.AppKey` the app uses, in one module."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from gateway.settings import Settings

if TYPE_CHECKING:
    from handlers.http import Metrics

__all__ = ["DSN", "METRICS", "POOL", "SETTINGS"]

SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
POOL = web.AppKey("pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", "Metrics")
