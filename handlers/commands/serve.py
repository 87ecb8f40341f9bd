"""`interview-gateway serve`: migrate, then serve until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType

from gateway import logs
from gateway.settings import load_settings
from handlers.eventloop import run as run_loop
from handlers.server import run_server
from storage.database import database

log = logging.getLogger("gateway.cli")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="apply pending migrations, then serve HTTP and WebSocket",
        description="Apply pending migrations, then serve until SIGTERM/SIGINT (graceful).",
    )
    p.add_argument("--host", help="interface to bind (default GATEWAY_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind (default GATEWAY_PORT or 8080; 0 = any)")
    p.add_argument("--seed", action="store_true", help="also load the idempotent seed data")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    logs.configure(settings.log_format, settings.log_level)
    # Until the server installs its graceful handler, SIGTERM unwinds like Ctrl-C does, so a
    # stop during start-up still stops the embedded database it may have started.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with database(settings.database_url, settings.pgdata) as dsn:
        run_loop(run_server(settings, dsn, seed=args.seed), settings.event_loop)
    return 0


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    log.info("SIGTERM during start-up: stopping")
    raise SystemExit(128 + signum)
