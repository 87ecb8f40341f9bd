"""Smoke test of the benchmark client: the smallest ingest run, in-process, produces numbers.

Benchmarks never run in the test suite (`interview-gateway bench` does); this only checks that
the load-generator code still speaks the protocol. No timing thresholds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from bench.clients import IngestJob
from bench.stats import summarize
from gateway.auth import Role
from gateway.settings import Settings
from tests.conftest import create_session, make_settings


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
