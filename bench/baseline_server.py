"""The design's transcript path, as a minimal aiohttp server, for the ingest comparison.

`POST /api/voice/transcript` -> INSERT one row into `voice_transcripts` -> SELECT the session's
message count -> JSON response. One HTTP request and one commit per message, nothing batched:
exactly what the design does, against the same PostgreSQL and schema as the gateway.

    python -m bench.baseline_server --dsn postgresql://... --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator

import asyncpg
import orjson
from aiohttp import web

__all__ = ["create_app", "main"]

POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
DSN: web.AppKey[str] = web.AppKey("dsn", str)
POOL_MAX: web.AppKey[int] = web.AppKey("pool_max", int)

INSERT = """
INSERT INTO voice_transcripts (session_id, round_number, role, text, timestamp, word_count)
VALUES ($1, $2, $3, $4, NOW(), $5)
RETURNING id, session_id, round_number, role, text, timestamp, word_count
"""
COUNT = "SELECT count(*) FROM voice_transcripts WHERE session_id = $1 AND round_number = $2"


async def transcript(request: web.Request) -> web.Response:
    body = await request.json(loads=orjson.loads)
    text = str(body["text"])
    round_number = int(body.get("round_number", 1))
    async with request.app[POOL].acquire() as conn:
        row = await conn.fetchrow(
            INSERT, body["session_id"], round_number, body["role"], text, len(text.split())
        )
        assert row is not None
        count = await conn.fetchval(COUNT, row["session_id"], round_number)
    message = {k: (str(v) if k in ("id", "session_id") else v) for k, v in row.items()}
    message["timestamp"] = row["timestamp"].isoformat()
    return web.Response(
        body=orjson.dumps({"success": True, "message": message, "message_count": count}),
        content_type="application/json",
    )


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    app[POOL] = await asyncpg.create_pool(app[DSN], min_size=2, max_size=app[POOL_MAX])
    yield
    await app[POOL].close()


def create_app(dsn: str, pool_max: int = 10) -> web.Application:
    app = web.Application()
    app[DSN] = dsn
    app[POOL_MAX] = pool_max
    app.cleanup_ctx.append(_pool_ctx)
    app.router.add_post("/api/voice/transcript", transcript)
    app.router.add_get("/readyz", ready)
    return app


async def _serve(dsn: str, port: int, pool_max: int) -> None:
    runner = web.AppRunner(create_app(dsn, pool_max), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-max", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(_serve(args.dsn, args.port, args.pool_max))


if __name__ == "__main__":
    main()
