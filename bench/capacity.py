"""Capacity runs: how one gateway process's and PostgreSQL's CPU grow with sessions, panels
per session and messages per minute, at a realistic load (every candidate speaking at a fixed
rate, analyses every 10 messages on the offline analyzer), for docs/operations.md.

Each run is one point: a fresh set of sessions, their candidates sending on a schedule (an open
loop) and their panels reading, for a fixed time; it reports the cores the gateway (with its
analysis workers) and PostgreSQL used, and the ack latency candidates saw.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import asyncpg

from bench.clients import OpenLoopJob, RawIdleJob
from bench.context import Context, split
from bench.procs import Child, cpu_seconds, tree
from bench.sessions import create_sessions, token
from bench.stats import summarize
from bench.workers import WorkerGroup
from gateway.auth import Role

__all__ = ["Point", "run_capacity"]


@dataclass(frozen=True)
class Point:
    sessions: int
    panels: int  # per session
    per_minute: float  # messages per candidate per minute
    gateway_cores: float  # the gateway process and its analysis workers
    postgres_cores: float
    ack_p50: float
    ack_p99: float
    acked_per_s: float
    analyses_per_min: float
    load: float


# Each session starts with 0-9 stored messages (random), so their analyses (every 10th message)
# fall at random times during the run, as in a deployment's steady state, rather than all at
# once after the 10th.
SEED_HISTORY = """
WITH k AS (SELECT s AS session_id, floor(random() * 10)::int AS n FROM unnest($1::uuid[]) s),
     rows AS (
       INSERT INTO voice_transcripts
         (session_id, round_number, seq, role, text, word_count, event_id, message_number)
       SELECT k.session_id, 1, NULL, 'user', 'Earlier in the call we talked about the budget.',
              9, g, g
       FROM k, generate_series(1, k.n) g
     )
UPDATE session_counters c SET last_event_id = k.n, message_count = k.n
FROM k WHERE c.session_id = k.session_id
"""


async def _seed_history(dsn: str, ids: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED_HISTORY, [uuid.UUID(i) for i in ids])
    finally:
        await conn.close()


async def _point(
    ctx: Context,
    gw: Child,
    dsn: str,
    sessions: int,
    panels: int,
    per_minute: float,
    seconds: float,
) -> Point:
    ids = await create_sessions(dsn, sessions)
    await _seed_history(dsn, ids)
    cands = [(sid, token(Role.CANDIDATE, sid)) for sid in ids]
    watchers = [("panel", sid, token(Role.INTERVIEWER, sid)) for sid in ids for _ in range(panels)]
    procs = ctx.scale.load_procs
    jobs: list[OpenLoopJob | RawIdleJob] = [
        OpenLoopJob(gw.ws_url, part, per_minute / 60, seconds) for part in split(cands, procs)
    ]
    jobs += [RawIdleJob(gw.ws_url, part, ["127.0.0.1"]) for part in split(watchers, procs)]
    before = await ctx.metrics(gw)
    async with WorkerGroup(jobs) as group:
        await group.ready(timeout_s=300)
        load = os.getloadavg()[0]
        groups = [tree(gw.proc.pid), tree(ctx.db.postmaster_pid)]
        cpu0 = [cpu_seconds(g) for g in groups]
        group.go()
        results = await group.results(timeout_s=seconds + 60)
        cpu = [(cpu_seconds(g) - c) / seconds for g, c in zip(groups, cpu0, strict=True)]
    after = await ctx.metrics(gw)
    lat = summarize([x for r in results if "latencies" in r for x in r["latencies"]])
    acks = sum(r.get("acks", 0) for r in results)
    runs = sum(
        v - before.get(k, 0.0)
        for k, v in after.items()
        if k.startswith("gateway_analysis_runs_total")
    )
    return Point(
        sessions,
        panels,
        per_minute,
        cpu[0],
        cpu[1],
        lat.p50,
        lat.p99,
        acks / seconds,
        runs / seconds * 60,
        load,
    )


async def run_capacity(ctx: Context, gw: Child, dsn: str, seconds: float, big: bool) -> list[Point]:
    """Three sizes in each dimension around a middle point (300 sessions, 1 panel each, 12
    messages per minute; scaled down for --quick), on `dsn`: the gateway's database, which must
    hold no other recent sessions (its start-up sweep would owe them analyses and run them
    during the points). Before each point the machine settles (`Context.quiesce`): the
    previous point's last analyses are not charged to the next."""
    base_s, base_p, base_m = (300, 1, 12.0) if big else (30, 1, 12.0)
    sizes_s = (100, 300, 1000) if big else (10, 30, 60)
    grid = [(n, base_p, base_m) for n in sizes_s]
    grid += [(base_s, p, base_m) for p in (3, 10)]
    grid += [(base_s, base_p, m) for m in (4.0, 36.0)]
    points = []
    for sessions, panels, per_minute in grid:
        await ctx.quiesce(timeout_s=30.0)
        points.append(await _point(ctx, gw, dsn, sessions, panels, per_minute, seconds))
    return points
