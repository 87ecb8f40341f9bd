"""Before/after in the same run: the ingest benchmark against two versions of the gateway.

`python -m bench.compare --base REF [--rounds N] [--seconds S] [--open RATE]` exports commit
REF with `git archive` into a temp dir and starts one gateway from it and one from this tree,
each on its own database of one embedded PostgreSQL (so each runs its own migrations), then
drives them in alternating rounds with the same clients (which side goes first alternates
too). Each side's rate is summed over its rounds and its CPU per stored frame (gateway +
PostgreSQL) is reported beside the machine's load: a change is kept only if it is better than
the spread between rounds. With `--open RATE` the clients are section 1b's open loop (RATE
frames/s in all, whatever the acks do) and the ack latency's p50 / p99 is reported too. Beside
each side's figures, its own histograms over the measured rounds say where a frame's time went
inside the gateway: from queued to acked, one commit's transaction, one batch's delivery, the
loop's lag, and rows per commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

from bench.clients import IngestJob, OpenLoopJob
from bench.context import FULL, GATEWAY_ENV, Context, split
from bench.procs import REPO_ROOT, Child, Database, free_port, raise_nofile_limit
from bench.realtime import _run_jobs, _Side
from bench.sessions import create_sessions, token
from bench.stats import Scrapes, fmt_bucket, fmt_ms, histogram_count, histogram_quantile, summarize
from gateway.auth import Role
from storage.database import with_database_name

__all__ = ["main"]


def _export(ref: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def _spawn(
    root: Path, name: str, dsn: str, workdir: Path, loop: str, extra: dict[str, str]
) -> Child:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GATEWAY_"))}
    env.update(GATEWAY_ENV)
    env.update(
        {
            "DATABASE_URL": dsn,
            "GATEWAY_DATA_DIR": str(workdir / name / "data"),
            "GATEWAY_EVENT_LOOP": loop,
            "PYTHONPATH": str(root),
            **extra,
        }
    )
    (workdir / name).mkdir(parents=True, exist_ok=True)
    log = workdir / name / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "serve",
                "--port",
                str(port),
                "--seed",
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=out,
        )
    return Child(name, proc, port, log)


async def _gateway(
    root: Path, name: str, dsn: str, workdir: Path, loop: str, extra: dict[str, str]
) -> Child:
    child = _spawn(root, name, dsn, workdir, loop, extra)
    await child.wait_ready()
    return child


async def _run(
    base: str, rounds: int, seconds: float, loop: str, open_rate: float, env: dict[str, str]
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ig-compare-"))
    old_root = workdir / "base"
    old_root.mkdir()
    _export(base, old_root)
    ctx = Context(FULL, workdir, Database(workdir))
    await ctx.db.start()
    children: list[Child] = []
    try:
        dsns = []
        admin = await asyncpg.connect(ctx.db.admin_dsn)
        try:
            for name in ("ig_compare_base", "ig_compare_head"):
                await admin.execute(f'CREATE DATABASE "{name}"')
                dsns.append(with_database_name(ctx.db.admin_dsn, name))
        finally:
            await admin.close()
        children.append(await _gateway(old_root, "base", dsns[0], workdir, loop, {}))
        children.append(await _gateway(REPO_ROOT, "head", dsns[1], workdir, loop, env))
        sides = [_Side(), _Side()]
        scrapes: dict[str, Scrapes] = {child.name: [] for child in children}
        loads = []
        for r in range(rounds):
            loads.append(os.getloadavg()[0])
            # ABBA: whichever side runs second in a round measures the first one's aftermath
            # (its checkpoint, its autovacuum); the same tree on both sides measured 6-8 % apart
            # in favour of the first when the order was fixed.
            order = list(zip(children, dsns, sides, strict=True))
            for child, dsn, side in order[::-1] if r % 2 else order:
                ids = await create_sessions(dsn, FULL.ingest_conns)
                parts = split(ids, FULL.load_procs)
                jobs: list[IngestJob] | list[OpenLoopJob]
                if open_rate:
                    jobs = [
                        OpenLoopJob(
                            child.ws_url,
                            [(sid, token(Role.CANDIDATE, sid)) for sid in part],
                            open_rate / len(ids),
                            seconds,
                        )
                        for part in parts
                    ]
                else:
                    jobs = [
                        IngestJob(
                            child.ws_url,
                            [(sid, token(Role.CANDIDATE, sid)) for sid in part],
                            FULL.ingest_window,
                            seconds,
                        )
                        for part in parts
                    ]
                before = await ctx.metrics(child)
                side.add(*await _run_jobs(jobs, child.proc.pid, ctx.db.postmaster_pid), seconds)
                scrapes[child.name].append((before, await ctx.metrics(child)))
        head = "head (this tree" + "".join(f", {k}={v}" for k, v in env.items()) + ")"
        for label, side in zip((f"base {base}", head), sides, strict=True):
            c = side.mean_cpu()
            lat = summarize(side.latencies or [])
            print(
                f"{label}: {side.rate:,.0f} frames/s (per round "
                f"{', '.join(f'{r:,.0f}' for r in side.rates or [])}); CPU per frame "
                f"gateway + PostgreSQL {side.server_us_per_message():.1f} µs (gateway "
                f"{c.server:.2f} cores, PostgreSQL {c.postgres:.2f}, clients {c.clients:.2f}); "
                f"ack p50 / p99 {fmt_ms(lat.p50)} / {fmt_ms(lat.p99)}; "
                f"errors {dict(side.errors or {}) or 'none'}"
            )
        for child in children:
            print(f"  inside {child.name}: {_inside(scrapes[child.name])}")
        print(
            f"1-minute load average at each round's start: {', '.join(f'{x:.2f}' for x in loads)}"
        )
    finally:
        for child in children:
            await child.stop()
        await ctx.db.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _inside(windows: Scrapes) -> str:
    """Where a frame's time went inside one gateway, from its histograms (bucket edges)."""
    parts = []
    for label, name in (
        ("queued -> acked", "gateway_ack_seconds"),
        ("commit", "gateway_commit_batch_seconds"),
        ("delivery", "gateway_commit_delivery_seconds"),
        ("loop lag", "gateway_event_loop_lag_seconds"),
    ):
        p50, p99 = (histogram_quantile(windows, name, q) for q in (0.5, 0.99))
        parts.append(f"{label} p50 {fmt_bucket(p50)}, p99 {fmt_bucket(p99)}")
    commits = histogram_count(windows, "gateway_commit_batch_seconds")
    rows = sum(
        a.get("gateway_commit_rows_total", 0.0) - b.get("gateway_commit_rows_total", 0.0)
        for b, a in windows
    )
    parts.append(f"{rows / commits:.1f} rows per commit" if commits else "no commits")
    return "; ".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    p.add_argument("--base", required=True, help="git ref of the version to compare against")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument(
        "--open",
        type=float,
        default=0.0,
        metavar="RATE",
        help="open loop at RATE frames/s in all (section 1b's clients) instead of the closed loop",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the head gateway only (repeatable): compare settings of one version",
    )
    args = p.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    raise_nofile_limit()
    asyncio.run(_run(args.base, args.rounds, args.seconds, args.loop, args.open, env))


if __name__ == "__main__":
    main()
