"""`interview-gateway bench`: start a gateway process, drive it, print and record the figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.runner import NAMES, run_bench


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmarks (ingest, latency, fan-out, memory, analysis, compression)",
        description=(
            "Start the gateway as a separate process on a fresh PostgreSQL, drive it from "
            "separate client processes, print a table and optionally write docs/benchmarks.md. "
            "The full run takes a few minutes; --quick is scaled down (under a minute)."
        ),
    )
    p.add_argument("--quick", action="store_true", help="scaled-down sizes and durations")
    p.add_argument(
        "--only", nargs="+", choices=NAMES, metavar="NAME", help=f"run only: {', '.join(NAMES)}"
    )
    p.add_argument("--out", type=Path, help="write the markdown report here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_bench(args.only, args.quick, args.out)
