"""kill -9 of the gateway, three times, while a candidate streams 2,000 frames; each restart on
the same data directory (embedded PostgreSQL). Every frame is stored exactly once, in seq
order, and every ack's message_id is the stored row's. Also: after a SIGKILL nothing the
gateway started (forkserver, resource tracker, analysis workers) outlives it, and a restarted
gateway serves again quickly."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg

from gateway.auth import Role, issue_token
from storage.database import EMBEDDED_DB_NAME, with_database_name
from storage.embedded import EmbeddedPostgres
from tests.faults.harness import (
    GatewayProcess,
    StreamingCandidate,
    alive,
    descendants,
    free_port,
    gateway_env,
)
from tests.helpers import TEST_SECRET, create_session

FRAMES = 2000
KILLS = 3


async def test_kill9_three_times_while_streaming() -> None:
    # A short path: the server's Unix socket lives in it (pytest's tmp_path is too long).
    root = Path(tempfile.mkdtemp(prefix="ig-k9-"))
    data = root / "data"
    # The test holds the data directory's embedded server too (the wheel counts its users),
    # so it can read the rows while gateways come and go.
    server = EmbeddedPostgres(data / "pgdata")
    gateway = GatewayProcess(gateway_env(data, free_port()))
    try:
        await gateway.start("--seed", within=120)
        dsn = with_database_name(server.start(), EMBEDDED_DB_NAME)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        sid = await create_session(pool)
        token = issue_token(TEST_SECRET, Role.CANDIDATE, session_id=sid)
        kill_at = [FRAMES * (k + 1) // (KILLS + 1) for k in range(KILLS)]  # 500, 1000, 1500
        reached = asyncio.Event()

        def on_ack(seq: int) -> None:
            if kill_at and len(candidate.acks) >= kill_at[0]:
                reached.set()

        candidate = StreamingCandidate(gateway.url, sid, token, FRAMES, on_ack=on_ack)
        streaming = asyncio.create_task(candidate.run(within=180))
        restarts: list[float] = []
        for _ in range(KILLS):
            await asyncio.wait_for(reached.wait(), 60)
            reached.clear()
            kill_at.pop(0)
            await gateway.kill()
            restarts.append(await gateway.start())
        await streaming
        rows = await pool.fetch(
            "SELECT seq, id::text AS id, message_number FROM voice_transcripts"
            " WHERE session_id = $1 ORDER BY message_number",
            sid,
        )
        await pool.close()
    finally:
        await gateway.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    seqs = [r["seq"] for r in rows]
    assert seqs == list(range(1, FRAMES + 1)), "stored exactly once, in seq order"
    assert [r["message_number"] for r in rows] == list(range(1, FRAMES + 1))
    ids = {r["seq"]: r["id"] for r in rows}
    wrong = {seq: got for seq, got in candidate.acks.items() if got != {ids[seq]}}
    assert not wrong, f"acks naming another row: {list(wrong.items())[:5]}"
    print(
        f"\nkill -9 x{KILLS} during {FRAMES} frames: {len(rows)} rows, "
        f"{candidate.connections} connections, restarts served after "
        + ", ".join(f"{s:.2f} s" for s in restarts)
    )


async def test_sigkill_leaves_no_orphans_and_restart_serves_quickly(
    tmp_path: Path, db_dsn: str
) -> None:
    env = gateway_env(tmp_path / "data", free_port(), DATABASE_URL=db_dsn, ANALYSIS_WORKERS="2")
    gateway = GatewayProcess(env)
    try:
        first = await gateway.start()
        await gateway.wait_for_line("offline analyzer warm")
        helpers = descendants(gateway.pid)
        assert len(helpers) >= 3, helpers  # forkserver, resource tracker, two workers
        await gateway.kill()
        killed = time.monotonic()
        left = await _outliving(helpers, within=10)
        gone_s = time.monotonic() - killed
        assert not left, f"still running {gone_s:.1f} s after SIGKILL: {sorted(left)}"
        again = await gateway.start()
        ready = await _readyz(gateway.url)
    finally:
        await gateway.stop()
    assert ready["status"] == "ready" and ready["analysis"] in {"warming", "ready"}
    print(
        f"\nSIGKILL: {len(helpers)} helper processes gone within {gone_s:.2f} s; "
        f"start to serving: first {first:.2f} s, after the kill {again:.2f} s "
        f"(analysis {ready['analysis']} when first asked)"
    )
    assert again < 10, "serving again after a kill (target 2 s on a quiet machine)"


async def _outliving(pids: set[int], within: float) -> set[int]:
    """The pids still running once all are gone or `within` seconds passed (polled /proc)."""
    deadline = time.monotonic() + within
    left = alive(pids)
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        left = alive(left)
    return left


async def _readyz(url: str) -> dict[str, str]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
        body: dict[str, str] = await resp.json()
        return body
