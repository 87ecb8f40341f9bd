"""A killed offline-analyzer worker costs nothing: the pool is rebuilt and the run still lands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from analysis.models import TranscriptLine
from analysis.rubrics import rubric_for
from services.offline_pool import OfflinePool

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


async def test_worker_start_never_runs_on_the_event_loop() -> None:
    """Starting a worker (and the forkserver, which imports the analyzer) blocks its caller for
    a third of a second or more; the submits that start workers run in a thread, later ones
    submit straight from the loop."""
    pool = OfflinePool(1)
    submitted_from: list[str] = []
    inner = pool._pool.submit

    def recording_submit(*args: object, **kwargs: object) -> object:
        submitted_from.append(threading.current_thread().name)
        return inner(*args, **kwargs)  # type: ignore[arg-type]

    pool._pool.submit = recording_submit  # type: ignore[method-assign,assignment]
    try:
        await pool.analyze(WINDOW, rubric_for("sales"), "en")
        await pool.analyze(WINDOW, rubric_for("sales"), "en")
    finally:
        pool.shutdown()
    loop_thread = threading.main_thread().name
    assert submitted_from[0] != loop_thread, "the submit that starts the worker left the loop"
    assert submitted_from[1] == loop_thread, "a warm pool is fed from the loop directly"


def test_the_offline_gateway_never_imports_the_openai_sdk() -> None:
    """The SDK's import costs about a second; a gateway on the offline analyzer (the default)
    must not pay it on every restart (`serve` imports everything below `handlers.cli`)."""
    code = (
        "import sys, handlers.cli, handlers.app, handlers.server, services.analysis;"
        "print(sorted(m for m in sys.modules if m == 'openai' or m.startswith('openai.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
