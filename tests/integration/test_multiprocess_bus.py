"""Two gateway processes on one database (GATEWAY_BUS=postgres): a session's candidate on one,
its panels on the other, and nothing is lost or reordered between them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from gateway.auth import Role
from handlers.app import create_app
from tests.helpers import create_session, make_settings, seed_suggestions
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


async def test_events_and_commands_cross_processes(
    aiohttp_server: Callable[..., Any],
    tmp_path: Path,
    db_dsn: str,
    pool: asyncpg.Pool,
    token: Callable[..., str],
) -> None:
    settings = make_settings(tmp_path, bus="postgres")
    a = await aiohttp_server(create_app(settings, db_dsn))
    b = await aiohttp_server(create_app(settings, db_dsn))
    sid = await create_session(pool)
    ids = await seed_suggestions(pool, sid)
    cand_url = ws_url(f"http://127.0.0.1:{a.port}", "candidate", sid, token(Role.CANDIDATE, sid))
    panel_b = ws_url(f"http://127.0.0.1:{b.port}", "panel", sid, token(Role.INTERVIEWER, sid))
    panel_a = ws_url(f"http://127.0.0.1:{a.port}", "panel", sid, token(Role.INTERVIEWER, sid))
    async with await open_ws(panel_b) as pb, await open_ws(panel_a) as pa:
        snap = await recv_until(pb, "snapshot")
        await recv_until(pa, "snapshot")
        async with await open_ws(cand_url) as cand:
            await recv(cand)
            for seq in range(1, 21):
                await send(cand, transcript(seq, "x" * (3000 if seq == 7 else 10)))
            seen: list[dict[str, Any]] = []
            while len([e for e in seen if e["type"] == "transcript"]) < 20:
                frame = await recv(pb)
                if "event_id" in frame:
                    seen.append(frame)
            # Every event, in order, with no gap, although they were committed on process A.
            ids_b = [e["event_id"] for e in seen]
            assert ids_b == list(
                range(snap["last_event_id"] + 1, snap["last_event_id"] + 1 + len(ids_b))
            )
            assert [e["seq"] for e in seen if e["type"] == "transcript"] == list(range(1, 21))
            # A command applied on process B reaches the candidate on process A.
            await send(pb, {"type": "apply", "suggestion_id": str(ids["curveball"])})
            command = await recv_until(cand, "command")
            assert command["command_type"] == "curveball_inject"
            updated = await recv_until(pa, "suggestion_updated")
            assert updated["command_id"] == command["command_id"]
            big = "y" * 7000  # too large for a NOTIFY payload: read back from the database
            await send(
                pb, {"type": "command", "command_type": "context_update", "payload": {"text": big}}
            )
            manual = await recv_until(cand, "command")
            assert manual["payload"]["text"] == big
    await asyncio.sleep(0)
    assert uuid.UUID(command["command_id"])
