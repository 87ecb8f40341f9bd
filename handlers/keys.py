"""Typed application state: every `web.AppKey` the app uses, in one module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.admission import Admission
from gateway.settings import Settings

if TYPE_CHECKING:
    from analysis.retry import RetryPolicy
    from handlers.api import ApiRoute
    from handlers.http import Metrics
    from handlers.ws import Connection
    from services.analysis import AnalysisRunner
    from services.analytics import Analytics
    from services.catalog import Catalog
    from services.live import LiveService
    from services.sessions import Sessions
    from services.voice.agents import AgentSweeper, VoiceAgents
    from services.voice.monitor import ConversationMonitor
    from storage.pool import Pool

__all__ = [
    "ADMISSION",
    "AGENT_SWEEPER",
    "ANALYSIS",
    "ANALYSIS_RETRY",
    "ANALYTICS",
    "API_ROUTES",
    "CATALOG",
    "CONNECTIONS",
    "DSN",
    "ELEVENLABS_RETRY",
    "LIVE",
    "METRICS",
    "POOL",
    "SESSIONS",
    "SETTINGS",
    "VOICE_AGENTS",
    "VOICE_MONITOR",
]

SETTINGS = web.AppKey("settings", Settings)
DSN = web.AppKey("dsn", str)
POOL: web.AppKey[Pool] = web.AppKey("pool")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Every REST route registered through handlers.api (the OpenAPI document is built from it).
API_ROUTES: web.AppKey[list[ApiRoute]] = web.AppKey("api_routes")
# The services the edge calls (built in handlers.contexts once the pool exists).
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog")
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions")
ANALYTICS: web.AppKey[Analytics] = web.AppKey("analytics")
# Voice agents (one ElevenLabs HTTP session per app) and the agent clean-up sweeper.
VOICE_AGENTS: web.AppKey[VoiceAgents] = web.AppKey("voice_agents")
AGENT_SWEEPER: web.AppKey[AgentSweeper] = web.AppKey("agent_sweeper")
# Monitor mode: the gateway reads the call from ElevenLabs' monitor socket.
VOICE_MONITOR: web.AppKey[ConversationMonitor] = web.AppKey("voice_monitor")
# Optional override of the ElevenLabs retry policy, set before startup (tests: tiny delays).
ELEVENLABS_RETRY: web.AppKey[RetryPolicy] = web.AppKey("elevenlabs_retry")
# The live-session service (hub, bus, group commit) and every open WebSocket connection.
LIVE: web.AppKey[LiveService] = web.AppKey("live")
CONNECTIONS: web.AppKey[set[Connection]] = web.AppKey("connections")
ADMISSION = web.AppKey("admission", Admission)
# The analysis engine (analyzer, scheduler, runs) and an optional override of the OpenAI
# analyzer's retry policy, set before startup (tests: one attempt, tiny delays).
ANALYSIS: web.AppKey[AnalysisRunner] = web.AppKey("analysis")
ANALYSIS_RETRY: web.AppKey[RetryPolicy] = web.AppKey("analysis_retry")
