"""`interview-gateway seed`: load personas and scenarios (idempotent)."""

from __future__ import annotations

import argparse
import asyncio

from gateway.settings import load_settings
from handlers.server import prepare_database
from storage.database import database
from storage.pool import create_pool
from storage.seed import SeedResult, apply_seeds


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "seed",
        help="load seed personas and scenarios (idempotent)",
        description="Apply migrations, then insert seed personas and scenarios missing by id.",
    )
    p.set_defaults(func=run)


async def _seed(dsn: str) -> SeedResult:
    await prepare_database(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            return await apply_seeds(conn)
    finally:
        await pool.close()


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    with database(settings.database_url, settings.pgdata) as dsn:
        result = asyncio.run(_seed(dsn))
    print(f"seeded: {result.personas_added} personas and {result.scenarios_added} scenarios added")
    return 0
