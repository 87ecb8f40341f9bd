"""Smoke test of the benchmark client: the smallest ingest run, in-process, produces numbers.

Benchmarks never run in the test suite (`interview-gateway bench` does); this only checks that
the load-generator code still speaks the protocol. No timing thresholds.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import orjson
import pytest

from bench.clients import IngestJob, OpenLoopJob, PanelLatencySansIOJob
from bench.stats import summarize
from gateway.auth import Role
from gateway.settings import Settings
from tests.helpers import create_session, make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # As the bench runs the gateway: the per-connection rate limit is not what is measured.
    return make_settings(tmp_path, ws_rate_per_s=1_000_000, ws_rate_burst=1_000_000)


async def test_ingest_job_counts_acks(
    server_url: str, pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    ids: list[uuid.UUID] = [await create_session(pool) for _ in range(2)]
    job = IngestJob(
        server_url.replace("http", "ws", 1),
        [(str(sid), token(Role.CANDIDATE, sid)) for sid in ids],
        window=4,
        duration_s=1.0,
    )
    ready = await job.setup()
    try:
        assert ready["open"] == 2, ready
        result = await job.run()
    finally:
        await job.teardown()
    assert result["acks"] > 0
    assert result["errors"] == {}
    lat = summarize(result["latencies"])
    assert lat.count == result["acks"] and lat.p50 > 0
    stored = await pool.fetchval("SELECT count(*) FROM voice_transcripts")
    assert stored >= result["acks"]


async def test_open_loop_job_sends_on_schedule(
    server_url: str, pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    ids: list[uuid.UUID] = [await create_session(pool) for _ in range(2)]
    job = OpenLoopJob(
        server_url.replace("http", "ws", 1),
        [(str(sid), token(Role.CANDIDATE, sid)) for sid in ids],
        rate_per_conn=20.0,
        duration_s=1.0,
    )
    ready = await job.setup()
    try:
        assert ready["open"] == 2, ready
        result = await job.run()
    finally:
        await job.teardown()
    assert 30 <= result["sent"] <= 42  # 2 sockets x 20 frames/s x 1 s, phases random
    assert result["errors"] == {}
    assert result["acks"] == len(result["latencies"]) > 0
    stored = await pool.fetchval("SELECT count(*) FROM voice_transcripts")
    assert stored == result["sent"]


async def test_sans_io_latency_job_sees_every_frame_on_its_panel(
    server_url: str, pool: asyncpg.Pool, token: Callable[..., str]
) -> None:
    """Section 2's clients: each candidate's stamped frames reach its own session's panel, each
    once, with a latency measured from the stamp; and every frame is stored, in order."""
    ids: list[uuid.UUID] = [await create_session(pool) for _ in range(3)]
    job = PanelLatencySansIOJob(
        server_url.replace("http", "ws", 1),
        [(str(s), token(Role.CANDIDATE, s), token(Role.INTERVIEWER, s)) for s in ids],
        duration_s=1.0,
        interval_s=0.1,
    )
    ready = await job.setup()
    try:
        assert ready == {"open": 6, "failures": {}}
        result = await job.run()
    finally:
        await job.teardown()
    totals = result["totals"]
    assert 24 <= totals["sent"] <= 33  # 3 sockets x 10 frames/s x 1 s, phases random
    assert totals["received"] == totals["sent"]
    # acks are counted until the deadline: a socket's last frame may be acked after it
    assert totals["sent"] - 3 <= totals["acks"] <= totals["sent"]
    lat = summarize(result["latencies"])
    assert lat.count == totals["sent"] and 0 < lat.p50 <= lat.max < 5
    per_session = await pool.fetch(
        "SELECT session_id, count(*) AS n, max(seq) AS last FROM voice_transcripts "
        "GROUP BY session_id"
    )
    assert sum(r["n"] for r in per_session) == totals["sent"]
    assert all(r["n"] == r["last"] for r in per_session)  # seq 1..n, none lost or doubled


def test_machine_floor_reports_every_round() -> None:
    """`bench.floor` (the raw-socket row beside the fan-out figure) completes and counts each
    round once, with readers sharing the sockets unevenly."""
    args = ["--sockets", "5", "--readers", "2", "--rounds", "4", "--gap", "0.01", "--size", "1000"]
    out = subprocess.run(
        [sys.executable, "-m", "bench.floor", *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        check=True,
        timeout=60,
    )
    result = orjson.loads(out.stdout)
    assert result["rounds"] == 4
    assert 0 < result["p50"] <= result["p99"] <= result["max"] < 5


async def test_small_batch_variants_store_every_frame_on_the_schema_they_name(
    pg_admin_dsn: str,
) -> None:
    """Section 1a's small-batch run (`bench/storecost.py`): each variant's database has the
    store function it is named for, the variants "planned before any statistics" really have
    none on the sessions' tables, and every frame of every call is stored."""
    from bench import storecost

    names = []
    try:
        for i, variant in enumerate(storecost.LOCK_VARIANTS):
            name = f"ig_smoke_variant_{uuid.uuid4().hex[:6]}_{i}"
            names.append(name)
            dsn, _ = await storecost._prepare(pg_admin_dsn, name, variant, 30)
            conn = await asyncpg.connect(dsn)
            try:
                body = await conn.fetchval(
                    "SELECT prosrc FROM pg_proc WHERE proname = 'gateway_store_few_frames'"
                )
                probed = "FROM interview_sessions s WHERE s.id = i.session_id LIMIT 1" in body
                if variant.store == storecost.STORE_FEW:
                    assert probed == ("0016" in variant.name), variant.name
                analyzed = await conn.fetchval(
                    "SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'interview_sessions'"
                )
                assert analyzed == variant.analyzed, variant.name
            finally:
                await conn.close()
    finally:
        await storecost._drop_databases(pg_admin_dsn, names)
    results = await storecost.run_small_batches(
        pg_admin_dsn, None, sessions=30, batch=5, calls=4, rounds=2
    )
    assert [r.variant for r in results] == list(storecost.LOCK_VARIANTS)
    assert all(r.rows == 5 * 4 * 2 and len(r.per_round) == 2 for r in results), results
