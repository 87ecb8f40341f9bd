"""`interview-gateway migrate`: apply pending migrations (a no-op when up to date)."""

from __future__ import annotations

import argparse
import asyncio

from gateway.settings import load_settings
from storage.database import database
from storage.migrate import apply_migrations


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply numbered SQL files from migrations/ in order, each in one transaction.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with database(settings.database_url, settings.pgdata) as dsn:
        applied = asyncio.run(apply_migrations(dsn))
    if applied:
        for m in applied:
            print(f"applied {m.version}_{m.name}")
    else:
        print("schema is up to date; nothing to apply")
    return 0
