"""Typed application state: every `web.AppKey` the app uses, in one module."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from gateway.admission import Admission
from gateway.settings import Settings

if TYPE_CHECKING:
    from analysis.openai_analyzer import RetryPolicy as AnalysisRetryPolicy
    from gateway.elevenlabs import ElevenLabsClient, RetryPolicy
    from handlers.analysis_runner import AnalysisRunner
    from handlers.api import ApiRoute
    from handlers.http import Metrics
    from handlers.live import LiveService
    from handlers.rest_voice_agent import AgentSweeper
    from handlers.ws import Connection

__all__ = [
    "ADMISSION",
    "AGENT_SWEEPER",
    "ANALYSIS",
    "ANALYSIS_RETRY",
    "API_ROUTES",
    "CONNECTIONS",
    "DSN",
    "ELEVENLABS_RETRY",
    "LIVE",
    "METRICS",
    "POOL",
    "SESSION_ENDED_HOOKS",
    "SETTINGS",
    "VOICE_AGENTS",
]

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
# The ElevenLabs adapter (one aiohttp ClientSession per app) and the agent clean-up sweeper.
VOICE_AGENTS: web.AppKey[ElevenLabsClient] = web.AppKey("voice_agents")
AGENT_SWEEPER: web.AppKey[AgentSweeper] = web.AppKey("agent_sweeper")
# Optional override of the ElevenLabs retry policy, set before startup (tests: tiny delays).
ELEVENLABS_RETRY: web.AppKey[RetryPolicy] = web.AppKey("elevenlabs_retry")
# The live-session service (hub, bus, group commit) and every open WebSocket connection.
LIVE: web.AppKey[LiveService] = web.AppKey("live")
CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("connections")
ADMISSION = web.AppKey("admission", Admission)
# The analysis engine (analyzer, scheduler, runs) and an optional override of the OpenAI
# analyzer's retry policy, set before startup (tests: one attempt, tiny delays).
ANALYSIS: web.AppKey[AnalysisRunner] = web.AppKey("analysis")
ANALYSIS_RETRY: web.AppKey[AnalysisRetryPolicy] = web.AppKey("analysis_retry")
