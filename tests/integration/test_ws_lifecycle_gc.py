"""A closed socket leaves nothing for the garbage collector, and its teardown always runs.

Cyclic garbage per closed socket is what makes full collections (pauses of the event loop)
grow with connection churn; the gateway breaks its own cycles and aiohttp's heartbeat cycle
when a socket ends. The test server cancels a handler whose client went away
(`handler_cancellation=True`), so these tests also show the teardown surviving that.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections import Counter
from collections.abc import Callable

import asyncpg

from gateway.auth import Role
from tests.helpers import create_session
from tests.wsclient import open_ws, recv, recv_until, send, ws_url

# Objects whose presence in cyclic garbage means a closed socket was not released.
SERVER_TYPES = (
    "handlers.ws.Connection",
    "gateway.outbox.Outbox",
    "aiohttp.web_ws.WebSocketResponse",
    "aiohttp.web_protocol.RequestHandler",
    "aiohttp.web_request.Request",
)


async def _session_lifecycle(
    server_url: str, token: Callable[..., str], sid: uuid.UUID, frames: int = 10
) -> None:
    panel = await open_ws(ws_url(server_url, "panel", sid, token(Role.INTERVIEWER, sid)))
    cand = await open_ws(ws_url(server_url, "candidate", sid, token(Role.CANDIDATE, sid)))
    await recv(panel)
    await recv(cand)
    for seq in range(1, frames + 1):
        await send(cand, {"type": "transcript", "seq": seq, "role": "user", "text": f"words {seq}"})
    while (await recv_until(cand, "ack"))["seq"] != frames:
        pass
    await cand.close()
    await panel.close()


async def _settle(pool: asyncpg.Pool, sids: list[uuid.UUID]) -> None:
    """Until every candidate's disconnect is recorded (teardown finished)."""
    async with asyncio.timeout(10):
        while True:
            rows = await pool.fetch(
                "SELECT session_id FROM live_events WHERE session_id = ANY($1::uuid[]) "
                "AND event_type = 'presence' AND payload ->> 'candidate_connected' = 'false'",
                sids,
            )
            gone = {r["session_id"] for r in rows}
            if gone == set(sids):
                return
            await asyncio.sleep(0.05)


async def test_closed_sockets_leave_no_cyclic_garbage(
    server_url: str, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    sids = [await create_session(pool) for _ in range(12)]
    # Warm up (first-use caches, pools), then measure only what the next sockets leave.
    await asyncio.gather(*(_session_lifecycle(server_url, token, s) for s in sids[:2]))
    await _settle(pool, sids[:2])
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await asyncio.gather(*(_session_lifecycle(server_url, token, s) for s in sids[2:]))
        await _settle(pool, sids[2:])
        await asyncio.sleep(0.2)
        gc.collect()
        garbage = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    leaked = {name: garbage[name] for name in SERVER_TYPES if garbage[name]}
    assert leaked == {}, f"closed sockets left cycles: {leaked}"


async def _disconnects(pool: asyncpg.Pool, sids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await pool.fetch(
        "SELECT session_id, count(*) AS n FROM live_events WHERE session_id = ANY($1::uuid[]) "
        "AND event_type = 'presence' AND payload ->> 'candidate_connected' = 'false' "
        "GROUP BY session_id",
        sids,
    )
    return {r["session_id"]: r["n"] for r in rows}


async def test_teardown_records_the_disconnect_even_when_the_handler_is_cancelled(
    server_url: str, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    """The client's TCP connection is aborted (no close frame); aiohttp's test server cancels
    the handler of a lost connection (`handler_cancellation=True`, as in production behind a
    balancer that drops connections): the teardown still runs to the end, once per socket."""
    url = server_url
    sids = [await create_session(pool) for _ in range(3)]
    sockets = []
    for sid in sids:
        cand = await open_ws(ws_url(url, "candidate", sid, token(Role.CANDIDATE, sid)))
        assert (await recv(cand))["type"] == "hello"
        await send(cand, {"type": "transcript", "seq": 1, "role": "user", "text": "hello"})
        assert (await recv_until(cand, "ack"))["seq"] == 1
        sockets.append(cand)
    for cand in sockets:
        cand.transport.abort()  # gone without a close handshake: the server's handler is cancelled
    async with asyncio.timeout(10):
        while len(found := await _disconnects(pool, sids)) < len(sids):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the rows are in another process's database
    assert found == {sid: 1 for sid in sids}
    stored = await pool.fetchval(
        "SELECT count(*) FROM voice_transcripts WHERE session_id = ANY($1::uuid[])", sids
    )
    assert stored == len(sids)
