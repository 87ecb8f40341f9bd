"""Run the app until SIGTERM/SIGINT, then shut down gracefully.

Shutdown order (aiohttp's runner): stop accepting, run `on_shutdown` (sockets closed with 1001,
in-flight frames committed and acked), wait for handlers, then close resources.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from gateway.settings import Settings
from handlers.app import create_app
from handlers.connguard import GuardedAppRunner, runner_options
from handlers.http import AccessLogger
from storage.migrate import apply_migrations
from storage.pool import create_pool
from storage.seed import apply_seeds

__all__ = ["prepare_database", "run_server"]

log = logging.getLogger("gateway.server")


def tune_runtime() -> None:
    """Keep the interpreter from stalling the event loop.

    Garbage collector: thousands of sockets mean millions of long-lived objects; CPython's
    default thresholds make full collections walk all of them every few seconds, a pause every
    connected client feels. What exists after start-up is frozen (never scanned again) and young
    collections run less often; reference counting still frees almost everything immediately.

    No full collection first: at this point it finds nothing to free (measured: 0 objects) yet
    takes 90-200 ms, which a restarting gateway would spend before it answers anyone; the young
    generations are collected (under a millisecond) so what is frozen is what start-up keeps.

    GIL: the offline analyzer's process pool is fed and drained by threads that pickle windows
    and results; a 1 ms switch interval (default 5 ms) hands the GIL back to the loop sooner.
    """
    gc.collect(1)
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    sys.setswitchinterval(0.001)


async def prepare_database(dsn: str, *, seed: bool = False) -> None:
    applied = await apply_migrations(dsn)
    log.info("schema up to date (%d migration(s) applied now)", len(applied))
    if seed:
        pool = await create_pool(dsn, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await apply_seeds(conn)
        finally:
            await pool.close()


async def run_server(
    settings: Settings,
    dsn: str,
    *,
    seed: bool = False,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    await prepare_database(dsn, seed=seed)
    app = create_app(settings, dsn)
    runner = GuardedAppRunner(
        app,
        access_log_class=AccessLogger,
        handle_signals=False,
        shutdown_timeout=10.0,
        **runner_options(settings),
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await site.start()
        tune_runtime()
        addresses = runner.addresses
        port = addresses[0][1] if addresses else settings.port
        url = f"http://{settings.host}:{port}"
        log.info(
            "Interview Gateway listening on %s (event loop: %s)", url, type(loop).__module__
        )
        if on_ready:
            on_ready(url)
        await stop.wait()
        log.info("shutting down: closing sockets and flushing in-flight frames")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("stopped")
