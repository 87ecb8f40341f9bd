"""Cost of the semantic offline analyzer in one worker process (`python -m bench.semantic_cost`,
`--json` for the benchmark report, which runs it in a fresh process: section 9).

Replays every seed transcript as the gateway does (a window of the last 20 messages every 10
messages, plus each new message) and reports: model load time, resident memory after load
and after the run, CPU time per newly embedded message, and the p95 wall time per window.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from analysis.models import TranscriptLine
from analysis.rubrics import BLUEPRINTS, rubric_for

SEEDS = Path(__file__).resolve().parents[1] / "seeds" / "transcripts"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class SemanticCost:
    load_s: float
    rss_loaded_mb: float
    rss_after_mb: float
    windows: int
    embedded: int
    window_median_ms: float
    window_p95_ms: float
    cpu_per_window_ms: float
    cpu_per_new_message_ms: float
    new_messages: int


def measure() -> SemanticCost:
    """Load the model as a worker does, then replay every seed transcript for every blueprint."""
    from analysis import semantic

    started = time.perf_counter()
    engine = semantic.engine()
    load_s = time.perf_counter() - started
    if engine is None:
        raise SystemExit(f"model not loaded: {semantic.status().reason}")
    for name in BLUEPRINTS:  # every blueprint's prototypes, as a long-lived worker would
        engine.blueprint(name)
    rss_loaded = _rss_mb()
    walls: list[float] = []
    cpu_total = 0.0
    runs_before = engine.embedder.runs
    windows = 0
    first_pass_cpu = 0.0
    new_messages = 0
    for path in sorted(SEEDS.glob("*.json")):
        messages = json.loads(path.read_text(encoding="utf-8"))["messages"]
        lines = [TranscriptLine(role=m["role"], text=m["text"]) for m in messages]
        new_messages += len({line.text for line in lines})
        for number, blueprint in enumerate(BLUEPRINTS):
            rubric = rubric_for(blueprint)
            for end in range(10, len(lines) + 10, 10):
                window = lines[max(0, end - 20) : end]
                cpu0, wall0 = time.process_time(), time.perf_counter()
                engine.analyze(window, rubric)
                walls.append(time.perf_counter() - wall0)
                cpu = time.process_time() - cpu0
                cpu_total += cpu
                if number == 0:  # the pass that embeds every message for the first time
                    first_pass_cpu += cpu
                windows += 1
    walls.sort()
    return SemanticCost(
        load_s=load_s,
        rss_loaded_mb=rss_loaded,
        rss_after_mb=_rss_mb(),
        windows=windows,
        embedded=engine.embedder.runs - runs_before,
        window_median_ms=1000 * statistics.median(walls),
        window_p95_ms=1000 * walls[int(0.95 * (len(walls) - 1))],
        cpu_per_window_ms=1000 * cpu_total / windows,
        cpu_per_new_message_ms=1000 * first_pass_cpu / new_messages,
        new_messages=new_messages,
    )


def main() -> None:
    cost = measure()
    if "--json" in sys.argv[1:]:
        print(json.dumps(asdict(cost)))
        return
    print(f"load (model + sales prototypes): {cost.load_s:.2f} s")
    print(
        f"RSS after loading all blueprints: {cost.rss_loaded_mb:.0f} MB; "
        f"after: {cost.rss_after_mb:.0f} MB"
    )
    print(f"windows: {cost.windows}, sentences embedded: {cost.embedded}")
    print(
        f"window wall time: median {cost.window_median_ms:.0f} ms, p95 {cost.window_p95_ms:.0f} ms"
    )
    print(f"CPU per window: {cost.cpu_per_window_ms:.0f} ms")
    print(
        f"CPU per new message (embedding + scoring, first pass): "
        f"{cost.cpu_per_new_message_ms:.1f} ms over {cost.new_messages} messages"
    )


if __name__ == "__main__":
    main()
