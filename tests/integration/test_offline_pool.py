"""A killed offline-analyzer worker costs nothing: the pool is rebuilt and the run still lands."""

from __future__ import annotations

import os
import signal

from analysis.models import TranscriptLine
from analysis.rubrics import rubric_for
from services.analysis import OfflinePool

WINDOW = [
    TranscriptLine(role="assistant", text="We are struggling with late deliveries."),
    TranscriptLine(role="user", text="What does a late delivery cost you today?"),
]


async def test_pool_survives_a_killed_worker() -> None:
    pool = OfflinePool(1)
    try:
        first = await pool.analyze(WINDOW, rubric_for("sales"), "en")
        pids = pool.worker_pids()
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        again = await pool.analyze(WINDOW, rubric_for("sales"), "en")
        assert again.say_meter.score == first.say_meter.score  # deterministic, and it ran
        assert set(pool.worker_pids()).isdisjoint(pids)
    finally:
        pool.shutdown()
