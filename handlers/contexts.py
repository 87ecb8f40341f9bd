"""Every resource the app holds, as `cleanup_ctx` single-yield generators, in start order.

aiohttp runs the part after `yield` only if the part before it finished, in reverse order, so
each resource is released exactly when it was acquired: the pool last, after the services
that use it have drained.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.admission import Admission, AdmissionLimits
from gateway.looplag import sample
from handlers.keys import (
    ADMISSION,
    AGENT_SWEEPER,
    ANALYSIS,
    ANALYSIS_RETRY,
    ANALYTICS,
    CATALOG,
    CONNECTIONS,
    DSN,
    ELEVENLABS_RETRY,
    LIVE,
    POOL,
    SESSIONS,
    SETTINGS,
    VOICE_AGENTS,
    VOICE_MONITOR,
)
from services.analysis import analysis_engine
from services.analytics import Analytics
from services.catalog import Catalog
from services.live import live_service
from services.sessions import Sessions
from services.voice.agents import voice_agents
from services.voice.monitor import conversation_monitor
from storage.pool import create_pool

__all__ = ["install"]


async def _database(app: web.Application) -> AsyncIterator[None]:
    """The pool and the services that only need it."""
    settings = app[SETTINGS]
    pool = await create_pool(
        app[DSN], min_size=settings.db_pool_min, max_size=settings.db_pool_max
    )
    app[POOL] = pool
    app[CATALOG] = Catalog(pool)
    app[SESSIONS] = Sessions(pool, settings)
    app[ANALYTICS] = Analytics(pool)
    yield
    await pool.close()


async def _live(app: web.Application) -> AsyncIterator[None]:
    async with live_service(app[POOL], app[DSN], app[SETTINGS]) as live:
        app[LIVE] = live
        app[SESSIONS].end_hooks.append(live.session_ended)
        yield


async def _loop_lag(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(sample(), name="loop-lag-sampler")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _analysis(app: web.Application) -> AsyncIterator[None]:
    async with analysis_engine(app[LIVE], app[SETTINGS], app.get(ANALYSIS_RETRY)) as runner:
        app[ANALYSIS] = runner
        # First: the final analysis reaches the panels before `session_ended` closes them.
        hooks = app[SESSIONS].end_hooks
        hooks.insert(0, runner.session_ended)
        try:
            yield
        finally:
            hooks.remove(runner.session_ended)


async def _voice_agents(app: web.Application) -> AsyncIterator[None]:
    settings, pool = app[SETTINGS], app[POOL]
    async with voice_agents(settings, pool, app.get(ELEVENLABS_RETRY)) as (agents, sweeper):
        app[VOICE_AGENTS] = agents
        app[AGENT_SWEEPER] = sweeper

        async def nudge(_session_id: object) -> None:
            sweeper.nudge()  # an ended session's agent can go now

        app[SESSIONS].end_hooks.append(nudge)
        yield


async def _voice_monitor(app: web.Application) -> AsyncIterator[None]:
    async with conversation_monitor(app[LIVE], app[SETTINGS]) as monitor:
        app[VOICE_MONITOR] = monitor
        yield


def install(app: web.Application) -> None:
    app[CONNECTIONS] = set()
    app[ADMISSION] = Admission(AdmissionLimits.from_settings(app[SETTINGS]))
    app.cleanup_ctx.extend(
        [_database, _live, _loop_lag, _analysis, _voice_agents, _voice_monitor]
    )
