"""`interview-gateway bench ...`: runs `interview-gateway-bench` (the benchmarks are a client
of the gateway with a console script of their own; the gateway never imports them)."""

from __future__ import annotations

import argparse
import subprocess
import sys


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmarks (same as interview-gateway-bench; see its --help)",
        description="Runs `interview-gateway-bench` with the same arguments "
        "(--quick, --only NAME..., --out FILE).",
        add_help=False,
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed on to interview-gateway-bench")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return subprocess.call([sys.executable, "-m", "bench", *args.args])
