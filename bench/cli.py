"""`interview-gateway-bench` (also `interview-gateway bench`): start a gateway process, drive it,
print and record the figures. A console script of its own: the benchmarks are a client of the
gateway, never imported by it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.runner import NAMES, run_bench

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="interview-gateway-bench",
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run_bench(args.only, args.quick, args.out)
