"""Benchmarks 1-4: durable ingest vs the design's path, transcript -> panel latency, one event to
many panels (with and without a stalled panel), memory of idle connections."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.clients import (
    BaselineJob,
    FanoutPanelsJob,
    IdleJob,
    IngestJob,
    OpenLoopJob,
    PanelLatencyJob,
    PanelLatencySansIOJob,
    RawIdleJob,
    candidate_frame,
    stamped_text,
    ws_url,
)
from bench.context import Context, split
from bench.procs import (
    REPO_ROOT,
    Child,
    cpu_seconds,
    free_port,
    process_memory,
    rss_kib,
    start_child,
    tree,
)
from bench.report import Figure, Section
from bench.sessions import create_sessions, token
from bench.stats import (
    Summary,
    fmt_bucket,
    fmt_ms,
    histogram_count,
    histogram_quantile,
    summarize,
)
from bench.workers import WorkerGroup
from gateway.auth import Role
from gateway.frames import numbered_transcript_event, transcript_head
from gateway.wsframe import text_frame

__all__ = [
    "bench_connections",
    "bench_fanout",
    "bench_ingest",
    "bench_latency",
    "bench_memory",
    "bench_openloop",
]

TARGET_MS = 0.050
RUN_QUEUE_METRIC = "gateway_event_loop_run_queue_seconds_total"


def _cmd(ctx: Context, name: str) -> str:
    return f"interview-gateway bench --only {name}" + (" --quick" if ctx.scale.quick else "")


def gateway_health(before: dict[str, float], after: dict[str, float]) -> str:
    """Loop lag and commit time inside the gateway over a measurement, from its histograms."""
    w = [(before, after)]
    lag = histogram_quantile(w, "gateway_event_loop_lag_seconds", 0.99)
    commit = histogram_quantile(w, "gateway_commit_batch_seconds", 0.99)
    commit_max = histogram_quantile(w, "gateway_commit_batch_seconds", 1.0)
    return (
        f"Inside the gateway meanwhile: event-loop lag p99 in {fmt_bucket(lag)}; group-commit "
        f"time p99 in {fmt_bucket(commit)}, max in {fmt_bucket(commit_max)} (histogram buckets)."
    )


def _merge_errors(results: list[dict[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for r in results:
        total.update(r.get("errors", {}))
    return dict(total)


@dataclass
class CpuShare:
    """CPU used while measuring, in cores (1.0 = one core busy the whole time)."""

    server: float = 0.0
    postgres: float = 0.0
    clients: float = 0.0

    def describe(self, server: str) -> str:
        return (
            f"CPU while measuring (cores of 2): {server} {self.server:.2f}, PostgreSQL "
            f"{self.postgres:.2f}, client processes {self.clients:.2f}."
        )


async def _run_jobs(
    jobs: list[Any],
    server_pid: int | None = None,
    pg_pid: int | None = None,
    on_ready: Callable[[], Awaitable[object]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], CpuShare]:
    async with WorkerGroup(jobs) as group:
        ready = await group.ready()
        if on_ready is not None:
            await on_ready()
        groups = [[server_pid] if server_pid else [], tree(pg_pid), group.pids]
        before = [cpu_seconds(g) for g in groups]
        t0 = time.monotonic()
        group.go()
        results = await group.results(timeout_s=300)
        elapsed = time.monotonic() - t0
        used = [(cpu_seconds(g) - b) / elapsed for g, b in zip(groups, before, strict=True)]
        return ready, results, CpuShare(*used)


# -- 1. ingest ------------------------------------------------------------------------------


@dataclass
class _Side:
    """One side of the ingest comparison, summed over its rounds."""

    acks: int = 0
    seconds: float = 0.0
    latencies: list[float] | None = None
    errors: Counter[str] | None = None
    opened: int = 0
    cpu: list[CpuShare] | None = None
    rates: list[float] | None = None

    def add(
        self, ready: list[dict[str, Any]], results: list[dict[str, Any]], cpu: CpuShare, s: float
    ) -> None:
        acks = sum(r["acks"] for r in results)
        self.acks += acks
        self.seconds += s
        self.latencies = (self.latencies or []) + [x for r in results for x in r["latencies"]]
        self.errors = (self.errors or Counter()) + Counter(_merge_errors(results))
        self.opened = max(self.opened, sum(r["open"] for r in ready))
        self.cpu = (self.cpu or []) + [cpu]
        self.rates = (self.rates or []) + [acks / s]

    @property
    def rate(self) -> float:
        return self.acks / self.seconds if self.seconds else 0.0

    def mean_cpu(self) -> CpuShare:
        cpu = self.cpu or [CpuShare()]
        return CpuShare(
            sum(c.server for c in cpu) / len(cpu),
            sum(c.postgres for c in cpu) / len(cpu),
            sum(c.clients for c in cpu) / len(cpu),
        )

    def server_us_per_message(self) -> float:
        """Gateway (or design server) plus PostgreSQL CPU per stored message, in µs."""
        c = self.mean_cpu()
        return (c.server + c.postgres) / self.rate * 1e6 if self.rate else 0.0


def _commit_note(before: dict[str, float], after: dict[str, float]) -> str:
    rows = after.get("gateway_commit_rows_total", 0) - before.get("gateway_commit_rows_total", 0)
    batches = after.get("gateway_commit_batch_seconds_count", 0) - before.get(
        "gateway_commit_batch_seconds_count", 0
    )
    flush_s = after.get("gateway_commit_batch_seconds_sum", 0) - before.get(
        "gateway_commit_batch_seconds_sum", 0
    )
    return (
        f"{rows:,.0f} rows in {batches:,.0f} transactions "
        f"(mean {rows / batches if batches else 0:,.1f} rows and "
        f"{fmt_ms(flush_s / batches if batches else 0)} per transaction)"
    )


async def bench_ingest(ctx: Context, gw: Child) -> Section:
    """The gateway on uvloop, the same gateway on asyncio's loop, and the design's path, in
    alternating rounds on the same machine, each side's rate summed over its rounds: a slow
    spell of the shared machine then weighs on every side instead of on whichever happened to
    run in it."""
    s = ctx.scale
    n = s.ingest_conns
    sec = Section(
        "ingest",
        f"1. Durable ingest, {n:,} concurrent candidate connections",
        _cmd(ctx, "ingest"),
    )
    port = free_port()
    baseline = start_child(
        "baseline",
        ["-m", "bench.baseline_server", "--dsn", ctx.db.dsn, "--port", str(port)],
        {},
        ctx.workdir / "baseline",
        port,
    )
    gw_asyncio = await ctx.start_gateway("gateway-asyncio", {"GATEWAY_EVENT_LOOP": "asyncio"})
    gateways = [(gw, _Side()), (gw_asyncio, _Side())]
    design = _Side()
    befores = [await ctx.metrics(g) for g, _ in gateways]
    loads: list[float] = []
    try:
        await baseline.wait_ready()
        for _ in range(s.ingest_rounds):
            loads.append(os.getloadavg()[0])
            for child, side in gateways:
                ids = await create_sessions(ctx.db.dsn, n)  # fresh sessions: every frame is new
                jobs = [
                    IngestJob(
                        child.ws_url,
                        [(sid, token(Role.CANDIDATE, sid)) for sid in part],
                        s.ingest_window,
                        s.ingest_s,
                    )
                    for part in split(ids, s.load_procs)
                ]
                side.add(*await _run_jobs(jobs, child.proc.pid, ctx.db.postmaster_pid), s.ingest_s)
            base_ids = await create_sessions(ctx.db.dsn, n)
            bjobs = [
                BaselineJob(baseline.url, part, s.ingest_s)
                for part in split(base_ids, s.load_procs)
            ]
            design.add(
                *await _run_jobs(bjobs, baseline.proc.pid, ctx.db.postmaster_pid), s.ingest_s
            )
        afters = [await ctx.metrics(g) for g, _ in gateways]
    finally:
        await baseline.stop()
        await gw_asyncio.stop()
    gws, aio = gateways[0][1], gateways[1][1]
    gw_lat = summarize(gws.latencies or [])
    aio_lat = summarize(aio.latencies or [])
    b_lat = summarize(design.latencies or [])
    ratio = gws.rate / design.rate if design.rate else float("inf")
    per_round = [g / b for g, b in zip(gws.rates or [], design.rates or [], strict=True) if b]
    rounds = s.ingest_rounds
    cpu_us = gws.server_us_per_message()
    ctx.measured["ingest_rate"] = gws.rate

    sec.figures += [
        Figure(
            "gateway (uvloop): frames acked/s", f"{gws.rate:,.0f}", ">= 30,000", gws.rate >= 30_000
        ),
        Figure("gateway (asyncio loop): frames acked/s", f"{aio.rate:,.0f}"),
        Figure(
            "ack latency p50 / p99 at saturation (queueing), uvloop / asyncio",
            f"{fmt_ms(gw_lat.p50)} / {fmt_ms(gw_lat.p99)}; "
            f"{fmt_ms(aio_lat.p50)} / {fmt_ms(aio_lat.p99)}",
        ),
        Figure("design path: messages stored/s", f"{design.rate:,.0f}"),
        Figure("design path: response p50 / p99", f"{fmt_ms(b_lat.p50)} / {fmt_ms(b_lat.p99)}"),
        Figure(
            "server + PostgreSQL CPU per stored message, gateway uvloop / asyncio / design path",
            f"{cpu_us:,.0f} / {aio.server_us_per_message():,.0f} / "
            f"{design.server_us_per_message():,.0f} µs",
            "<= 35 µs",
            cpu_us <= 35,
        ),
        Figure("gateway (uvloop) / design path", f"{ratio:.1f}x", ">= 20x", ratio >= 20),
    ]
    sec.notes += [
        f"{rounds} rounds of {s.ingest_s:.0f} s per side, alternating (gateway on uvloop, the "
        f"same gateway on asyncio's loop, the design's path); the rates are each side's acks "
        f"over its {rounds * s.ingest_s:.0f} s. Per round, gateway (uvloop) / design path: "
        f"{', '.join(f'{r:.1f}x' for r in per_round)}; uvloop / asyncio: "
        + ", ".join(
            f"{u / a:.2f}x" for u, a in zip(gws.rates or [], aio.rates or [], strict=True) if a
        )
        + f". 1-minute load average at each round's start: "
        f"{', '.join(f'{x:.2f}' for x in loads)}.",
        f"Gateway: {gws.opened:,} candidate WebSockets (`websockets` Sans-I/O protocol, "
        f"`bench/pipelined.py`) over {s.load_procs} client processes, each keeping "
        f"{s.ingest_window} transcript frames in flight (a new frame per ack); an ack is sent "
        f"only after the frame's batch committed. This is a closed loop: the clients send as "
        f"fast as acks come back, so the latency here is the time a frame waits in the queue "
        f"of a saturated gateway, not what a user sees (section 1b has a fixed rate). "
        f"uvloop: {gws.acks:,} acks; errors: {dict(gws.errors or {}) or 'none'}; asyncio: "
        f"{aio.acks:,} acks; errors: {dict(aio.errors or {}) or 'none'}.",
        f"Group commit, uvloop: {_commit_note(befores[0], afters[0])}; asyncio: "
        f"{_commit_note(befores[1], afters[1])}. "
        + gws.mean_cpu().describe("gateway (uvloop)")
        + " Asyncio's loop: "
        + aio.mean_cpu().describe("gateway (asyncio)")
        + " "
        + gateway_health(befores[0], afters[0]),
        f"Design path: `bench/baseline_server.py` (aiohttp, asyncpg pool of 10 like the "
        f"gateway's default) in its own process: `POST /api/voice/transcript` -> INSERT one row "
        f"-> SELECT count -> JSON. {design.opened:,} keep-alive aiohttp clients over "
        f"{s.load_procs} processes, one request at a time each. {design.acks:,} responses; "
        f"errors: {dict(design.errors or {}) or 'none'}. "
        + design.mean_cpu().describe("baseline server"),
        "CPU per stored message adds the server process and PostgreSQL (not the load "
        "generators), so it compares the designs' cost independently of how fast the "
        "shared machine happened to be. Same PostgreSQL, same schema, `fsync` and "
        "`synchronous_commit` on (defaults).",
    ]
    return sec


# -- 1b. ack latency at a fixed rate (open loop) ----------------------------------------------


async def bench_openloop(ctx: Context, gw: Child) -> Section:
    """1,000 candidates at a fixed total rate of half the closed loop's maximum: the ack
    latency a client sees when the gateway is not saturated."""
    s = ctx.scale
    n = s.ingest_conns
    maximum = ctx.measured.get("ingest_rate") or 0.0
    total = (maximum / 2) if maximum else s.openloop_default_rate
    sec = Section(
        "openloop",
        f"1b. Ack latency at a fixed rate, {n:,} candidates",
        _cmd(ctx, "openloop"),
    )
    ids = await create_sessions(ctx.db.dsn, n)
    before: dict[str, float] = {}

    async def scrape() -> None:
        before.update(await ctx.metrics(gw))

    jobs = [
        OpenLoopJob(
            gw.ws_url,
            [(sid, token(Role.CANDIDATE, sid)) for sid in part],
            total / n,
            s.openloop_s,
        )
        for part in split(ids, s.load_procs)
    ]
    load = os.getloadavg()[0]
    ready, results, cpu = await _run_jobs(jobs, gw.proc.pid, ctx.db.postmaster_pid, scrape)
    after = await ctx.metrics(gw)
    lat = summarize([x for r in results for x in r["latencies"]])
    acks = sum(r["acks"] for r in results)
    sent = sum(r["sent"] for r in results)
    rate = acks / s.openloop_s
    sec.figures += [
        Figure(
            "offered rate (half the closed loop's maximum) / acked",
            f"{total:,.0f} / {rate:,.0f} frames/s",
        ),
        Figure("ack latency p50", fmt_ms(lat.p50), "<= 5 ms", lat.p50 <= 0.005),
        Figure("ack latency p99", fmt_ms(lat.p99), "<= 25 ms", lat.p99 <= 0.025),
    ]
    sec.notes += [
        f"{sum(r['open'] for r in ready):,} candidate WebSockets (`websockets` Sans-I/O "
        f"protocol, `bench/pipelined.py`) over {len(jobs)} client processes, each sending "
        f"{total / n:.2f} frames/s on its own schedule (random phase) for {s.openloop_s:.0f} s "
        "whatever the acks do (an open loop); latency from a frame's send to its ack, which "
        "the gateway sends after the frame's batch committed. "
        + (
            f"The rate is half the gateway's closed-loop maximum measured in section 1 of the "
            f"same run ({maximum:,.0f} frames/s). "
            if maximum
            else f"Section 1 did not run: a fixed {total:,.0f} frames/s. "
        )
        + "Section 1's latency, at saturation, is queueing: clients there send a new frame "
        "for every ack, so frames wait behind the others in flight; no client sees it at "
        "this load.",
        f"{sent:,} frames sent, {acks:,} acked; max {fmt_ms(lat.max)}; errors: "
        f"{_merge_errors(results) or 'none'}. "
        + cpu.describe("gateway")
        + f" 1-minute load average at the start: {load:.2f}.",
        gateway_health(before, after),
    ]
    return sec


# -- 2. transcript -> panel latency -------------------------------------------------------------


async def _latency_run(
    ctx: Context, gw: Child, job: type[PanelLatencyJob] | type[PanelLatencySansIOJob]
) -> tuple[Summary, Counter[str], CpuShare, str]:
    """One measured run of section 2's clients on sessions of their own."""
    s = ctx.scale
    ids = await create_sessions(ctx.db.dsn, s.latency_sessions)
    before: dict[str, float] = {}

    async def scrape() -> None:
        before.update(await ctx.metrics(gw))

    triples = [(sid, token(Role.CANDIDATE, sid), token(Role.INTERVIEWER, sid)) for sid in ids]
    jobs = [job(gw.ws_url, part, s.latency_s) for part in split(triples, s.load_procs)]
    _, results, cpu = await _run_jobs(jobs, gw.proc.pid, ctx.db.postmaster_pid, scrape)
    after = await ctx.metrics(gw)
    totals: Counter[str] = Counter()
    for r in results:
        totals.update(r["totals"])
    lat = summarize([x for r in results for x in r["latencies"]])
    return lat, totals, cpu, gateway_health(before, after)


async def bench_latency(ctx: Context, gw: Child) -> Section:
    s = ctx.scale
    n = s.latency_sessions
    sec = Section(
        "latency",
        f"2. Transcript -> panel latency, {n:,} active sessions",
        _cmd(ctx, "latency"),
    )
    lat, totals, cpu, health = await _latency_run(ctx, gw, PanelLatencySansIOJob)
    ref, ref_totals, ref_cpu, ref_health = await _latency_run(ctx, gw, PanelLatencyJob)
    sec.figures += [
        Figure("p50", fmt_ms(lat.p50)),
        Figure("p99", fmt_ms(lat.p99), "<= 20 ms", lat.p99 <= 0.020),
        Figure(
            "p50 / p99, `websockets` clients (reference)", f"{fmt_ms(ref.p50)} / {fmt_ms(ref.p99)}"
        ),
    ]
    sec.notes += [
        f"Per session one panel and one candidate, {2 * n:,} sockets over {s.load_procs} client "
        f"processes. Each candidate sends one frame per second (random phase) for "
        f"{s.latency_s:.0f} s, its send time (CLOCK_MONOTONIC) in the text; the panel measures "
        "arrival. Includes the group commit: a frame reaches panels only after it is stored.",
        "Two runs on sessions of their own, one after the other. The figures with the target: "
        "clients on `websockets`' Sans-I/O protocol (`bench/pipelined.py`: no task per socket, "
        "one write per read, a scheduler sending on time whatever the acks do). For reference, "
        "comparable with earlier reports: clients on the `websockets` asyncio API, a task per "
        "socket (`bench/clients.py:PanelLatencyJob`).",
        f"Sans-I/O run: {totals['sent']:,} frames sent, {totals['received']:,} received by "
        f"panels, {totals['acks']:,} acks; max {fmt_ms(lat.max)}. {cpu.describe('gateway')} "
        + health,
        f"`websockets` run: {ref_totals['sent']:,} sent, {ref_totals['received']:,} received, "
        f"{ref_totals['acks']:,} acks; max {fmt_ms(ref.max)}. {ref_cpu.describe('gateway')} "
        + ref_health,
    ]
    return sec


# -- 3. one event to many panels ---------------------------------------------------------------


def _stalled_panel(port: int, session_id: str, tok: str) -> socket.socket:
    """A panel that completes the handshake and then never reads (4 KiB receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/panel/{session_id}?token={tok} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1024)
        if not chunk:
            raise ConnectionError("stalled panel: connection closed during handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise ConnectionError(f"stalled panel: {status!r}")
    return sock


READERS = {
    "raw": "the minimal frame reader, `bench/wsreader.py`",
    "websockets": "`websockets` Sans-I/O protocol, `bench/pipelined.py`",
}


async def bench_fanout(ctx: Context, gw: Child, reader: str = "raw") -> Section:
    s = ctx.scale
    n = s.fanout_panels
    key = "fanout" if reader == "raw" else "fanout_ws"
    sec = Section(
        key,
        f"3. One event to {n:,} panels of one session"
        + (" (panels on `websockets`, for reference)" if reader != "raw" else ""),
        _cmd(ctx, key),
    )
    (sid,) = await create_sessions(ctx.db.dsn, 1)
    ptok = token(Role.INTERVIEWER, sid)
    e, k = s.fanout_events, s.fanout_prefill
    phase_a = range(1, e + 1)
    prefill = range(e + 1, e + k + 1)
    phase_b = range(e + k + 1, 2 * e + k + 1)
    last = 2 * e + k
    timeout = 60 + last * s.fanout_gap_s
    jobs = [
        FanoutPanelsJob(gw.ws_url, sid, [ptok] * len(part), last, timeout, reader)
        for part in split(list(range(n)), s.load_procs)
    ]
    floor = await _machine_floor(n, len(jobs), e, s.fanout_gap_s, _event_size())
    before = await ctx.metrics(gw)
    stalled: socket.socket | None = None
    async with WorkerGroup(jobs) as group:
        ready = await group.ready()
        opened = sum(r["open"] for r in ready)
        async with await connect(
            ws_url(gw.ws_url, "candidate", sid, token(Role.CANDIDATE, sid)),
            compression=None,
            ping_interval=None,
        ) as cand:
            await cand.recv()  # hello
            acked: Counter[str] = Counter()

            async def drain() -> None:
                with contextlib.suppress(ConnectionClosed):
                    async for raw in cand:
                        acked[orjson.loads(raw)["type"]] += 1

            drainer = asyncio.create_task(drain())
            group.go()
            await asyncio.sleep(0.5)
            groups = [[gw.proc.pid], tree(ctx.db.postmaster_pid), group.pids]
            cpu_before = [cpu_seconds(g) for g in groups]
            start_a = await ctx.metrics(gw)
            for seq in phase_a:
                await cand.send(candidate_frame(seq, stamped_text(time.monotonic_ns())))
                await asyncio.sleep(s.fanout_gap_s)
            end_a = await ctx.metrics(gw)
            cpu_a = [(cpu_seconds(g) - b) / e for g, b in zip(groups, cpu_before, strict=True)]
            stalled = await asyncio.to_thread(_stalled_panel, gw.port, sid, ptok)
            big = "x" * 3800
            for seq in prefill:
                await cand.send(candidate_frame(seq, stamped_text(time.monotonic_ns(), big)))
                await asyncio.sleep(s.fanout_gap_s)
            await asyncio.sleep(0.5)
            for seq in phase_b:
                await cand.send(candidate_frame(seq, stamped_text(time.monotonic_ns())))
                await asyncio.sleep(s.fanout_gap_s)
            results = await group.results(timeout_s=timeout + 30)
            drainer.cancel()
            await asyncio.gather(drainer, return_exceptions=True)
    after = await ctx.metrics(gw)
    stalled_state = "open (never read)"
    if stalled is not None:
        stalled.setblocking(False)
        try:
            stalled.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            pass
        except OSError as err:
            stalled_state = f"closed by the gateway ({err})"
        stalled.close()

    seen: dict[int, list[int]] = {}
    closed: Counter[str] = Counter()
    for r in results:
        closed.update(r["closed"])
        for key, (sent, arrival, count) in r["seen"].items():
            entry = seen.setdefault(int(key), [sent, arrival, 0])
            entry[1] = max(entry[1], arrival)
            entry[2] += count

    def last_panel(seqs: range) -> tuple[list[float], int]:
        times = [(seen[q][1] - seen[q][0]) / 1e9 for q in seqs if q in seen]
        complete = sum(1 for q in seqs if q in seen and seen[q][2] == opened)
        return times, complete

    window_a = [(start_a, end_a)]
    fan50 = histogram_quantile(window_a, "gateway_fanout_seconds", 0.5)
    fan99 = histogram_quantile(window_a, "gateway_fanout_seconds", 0.99)
    fan_count = histogram_count(window_a, "gateway_fanout_seconds")
    waited = end_a.get(RUN_QUEUE_METRIC, 0.0) - start_a.get(RUN_QUEUE_METRIC, 0.0)
    a_times, a_full = last_panel(phase_a)
    b_times, b_full = last_panel(phase_b)
    a, b = summarize(a_times), summarize(b_times)
    slow = after.get("gateway_ws_slow_consumer_closes_total", 0) - before.get(
        "gateway_ws_slow_consumer_closes_total", 0
    )
    sec.figures += [
        Figure(
            "to last panel p50 / p99",
            f"{fmt_ms(a.p50)} / {fmt_ms(a.p99)} ({a.p99 / floor['p99']:.2f}x the floor's p99)"
            if floor["p99"]
            else f"{fmt_ms(a.p50)} / {fmt_ms(a.p99)}",
            "p99 <= 1.5x floor",
            bool(floor["p99"]) and a.p99 <= 1.5 * floor["p99"],
        ),
        Figure(
            "same, one stalled panel present: p50 / p99",
            f"{fmt_ms(b.p50)} / {fmt_ms(b.p99)}",
            "p99 < 50 ms",
            b.p99 < TARGET_MS,
        ),
        Figure(
            "the gateway's part: event handed to every panel socket, p50 / p99",
            f"{fmt_bucket(fan50)} / {fmt_bucket(fan99)}",
        ),
        Figure(
            "machine floor: raw TCP, no WebSocket, to last reader p50 / p99",
            f"{fmt_ms(floor['p50'])} / {fmt_ms(floor['p99'])}",
        ),
    ]
    sec.notes += [
        f"{opened:,} panels ({READERS[reader]}) of one "
        f"session over {len(jobs)} client processes; a "
        f"candidate sends {e} transcript frames {s.fanout_gap_s * 1000:.0f} ms apart, its send "
        "time in the text; each panel process records the latest arrival per frame; the figure "
        "is send -> arrival at the last of all panels (commit included).",
        f"Without stall: {a_full}/{len(phase_a)} events reached every panel. With the stalled "
        f"panel: {b_full}/{len(phase_b)}.",
        f"Stalled panel: a raw socket with SO_RCVBUF 4 KiB that completes the handshake and "
        f"never reads; before the second series {k} events of ~3.9 KB (unmeasured) fill its "
        f"kernel buffers so its writer blocks and its outbox grows. Afterwards it was "
        f"{stalled_state}; 1013 closes during the run: {slow:.0f}. Panel sockets closed or "
        f"timed out: {dict(closed) or 'none'}.",
        f"Where the time goes, first series: CPU per event (all {opened:,} panels) "
        f"gateway {cpu_a[0] * 1000:.1f} ms, PostgreSQL {cpu_a[1] * 1000:.1f} ms, panel "
        f"processes {cpu_a[2] * 1000:.1f} ms, on {os.cpu_count()} cores. The gateway handed "
        f"each event to every panel socket ({fan_count:.0f} fan-outs in the series) in the "
        f"times of the row above, from its `gateway_fanout_seconds` histogram (bucket edges); "
        f"its event loop waited {waited / max(fan_count, 1) * 1000:.1f} ms per fan-out for a "
        f"core held by another process (`{RUN_QUEUE_METRIC}`).",
        f"Machine floor, measured just before in the same run (`bench/floor.py`): one process "
        f"writes {floor['size']:.0f} B (a transcript event's frame) to {n:,} loopback TCP "
        f"sockets, {floor['rounds']:.0f} rounds {s.fanout_gap_s * 1000:.0f} ms apart, read by "
        f"{len(jobs)} processes with `epoll` and `recv` and no parsing; max "
        f"{fmt_ms(floor['max'])}. It moves with the machine's speed: read the panels' figure "
        f"against it.",
        gateway_health(before, after),
    ]
    return sec


def _event_size() -> int:
    """Wire size of one transcript event as the bench's candidate makes them."""
    head = transcript_head(
        message_id=uuid.uuid4(),
        seq=100,
        round_number=1,
        role="user",
        text=stamped_text(time.monotonic_ns()),
        timestamp=datetime.now(UTC),
        word_count=16,
        session_id=uuid.uuid4(),
    )
    return len(text_frame(numbered_transcript_event(head, 1000, 100)))


async def _machine_floor(
    sockets: int, readers: int, rounds: int, gap_s: float, size: int
) -> dict[str, float]:
    """Run `bench.floor` in its own process (it forks its readers) and read its result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.floor",
        *("--sockets", str(sockets), "--readers", str(readers), "--rounds", str(rounds)),
        *("--gap", str(gap_s), "--size", str(size)),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120 + rounds * gap_s)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.floor exited with {proc.returncode}")
    result: dict[str, float] = orjson.loads(out)
    result["size"] = size
    return result


# -- 4. memory of idle connections -----------------------------------------------------------


async def bench_memory(ctx: Context) -> Section:
    s = ctx.scale
    n, sessions = s.idle_conns, s.idle_sessions
    per = n // sessions
    sec = Section(
        "memory",
        f"4. Memory, {n:,} idle connections",
        _cmd(ctx, "memory"),
    )
    gw = await ctx.start_gateway("gateway-memory")
    try:
        ids = await create_sessions(ctx.db.dsn, sessions)
        conns: list[tuple[str, str, str]] = []
        for sid in ids:
            conns.append(("candidate", sid, token(Role.CANDIDATE, sid)))
            ptok = token(Role.INTERVIEWER, sid)
            conns += [("panel", sid, ptok)] * (per - 1)
        await asyncio.sleep(1.0)
        pid = gw.proc.pid
        rss0 = rss_kib(pid)
        pg0 = (
            process_memory(ctx.db.postmaster_pid, with_children=True)
            if ctx.db.postmaster_pid
            else None
        )
        t0 = time.monotonic()
        jobs = [IdleJob(gw.ws_url, part) for part in split(conns, s.idle_procs)]
        async with WorkerGroup(jobs) as group:
            ready = await group.ready(timeout_s=300)
            connect_s = time.monotonic() - t0
            await asyncio.sleep(3.0)
            rss1 = rss_kib(pid)
            pg1 = (
                process_memory(ctx.db.postmaster_pid, with_children=True)
                if ctx.db.postmaster_pid
                else None
            )
            metrics = await ctx.metrics(gw)
            group.go()
            held = await group.results()
        opened = sum(r["open"] for r in ready)
        failures: Counter[str] = Counter()
        for r in ready:
            failures.update(r["failures"])
        still = sum(r["still_open"] for r in held)
    finally:
        await gw.stop()
    mib = 1024
    sec.figures += [
        Figure("gateway RSS before", f"{rss0 / mib:,.0f} MiB"),
        Figure(
            f"gateway RSS with {opened:,} open",
            f"{rss1 / mib:,.0f} MiB",
            "< 1 GiB",
            rss1 < 1024 * 1024 and opened == n,
        ),
        Figure("per connection", f"{(rss1 - rss0) / max(opened, 1):.1f} KiB"),
    ]
    if pg0 and pg1:
        sec.figures.append(
            Figure(
                "PostgreSQL (separate processes) PSS",
                f"{pg0.pss_kib / mib:,.0f} -> {pg1.pss_kib / mib:,.0f} MiB",
            )
        )
    sec.notes += [
        f"{sessions:,} sessions, each with 1 candidate and {per - 1} panel sockets "
        f"(`websockets`, answering the gateway's pings, reading what arrives) over "
        f"{len(jobs)} client processes; {opened:,} opened in {connect_s:.1f} s, "
        f"{still:,} still open after the measurement; the gateway counted "
        f"{metrics.get('gateway_ws_open', 0):,.0f} open sockets. "
        f"Failures: {dict(failures) or 'none'}.",
        "Gateway: VmRSS of the gateway process from /proc/<pid>/status (a fresh gateway "
        "process, 1 s after /readyz, then 3 s after the last socket opened).",
    ]
    if pg0 and pg1:
        sec.notes.append(
            f"PostgreSQL is other processes: postmaster and {pg1.processes - 1} children, "
            f"RSS sum {pg0.rss_kib / mib:,.0f} -> {pg1.rss_kib / mib:,.0f} MiB (shared buffers "
            f"counted in every process), PSS sum as in the table."
        )
    return sec


# -- 4b. many connections ---------------------------------------------------------------------


def _nofile(pid: int) -> int:
    """The soft open-files limit of a running process."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return 0


async def bench_connections(ctx: Context) -> Section:
    """As many idle sockets as asked (50,000), or as the gateway's descriptor limit allows:
    the bench lifts its soft limit to the hard one, and only a process with CAP_SYS_RESOURCE
    can raise the hard one."""
    s = ctx.scale
    gw = await ctx.start_gateway("gateway-many")
    try:
        limit = _nofile(gw.proc.pid)
        n = min(s.many_conns, max(0, limit - 1000))  # room for the pool, logs, listeners
        per = 10
        sessions = max(1, n // per)
        n = sessions * per
        sec = Section(
            "connections",
            f"4b. Many idle connections: {n:,} (asked {s.many_conns:,})",
            _cmd(ctx, "connections"),
        )
        ids = await create_sessions(ctx.db.dsn, sessions)
        conns: list[tuple[str, str, str]] = []
        for sid in ids:
            conns.append(("candidate", sid, token(Role.CANDIDATE, sid)))
            conns += [("panel", sid, token(Role.INTERVIEWER, sid))] * (per - 1)
        sources = [f"127.0.0.{i}" for i in range(1, 2 + n // 25_000)]
        await asyncio.sleep(1.0)
        rss0 = rss_kib(gw.proc.pid)
        t0 = time.monotonic()
        jobs = [RawIdleJob(gw.ws_url, part, sources) for part in split(conns, s.many_procs)]
        async with WorkerGroup(jobs) as group:
            ready = await group.ready(timeout_s=600)
            accept_s = time.monotonic() - t0
            await asyncio.sleep(3.0)
            rss1 = rss_kib(gw.proc.pid)
            metrics = await ctx.metrics(gw)
            group.go()
            held = await group.results()
    finally:
        await gw.stop()
    opened = sum(r["open"] for r in ready)
    failures: Counter[str] = Counter()
    for r in ready:
        failures.update(r["failures"])
    still = sum(r["still_open"] for r in held)
    sec.figures += [
        Figure(
            "gateway RSS before / with all open", f"{rss0 / 1024:,.0f} / {rss1 / 1024:,.0f} MiB"
        ),
        Figure(
            "per connection",
            f"{(rss1 - rss0) / max(opened, 1):.1f} KiB",
            "<= 30 KiB",
            (rss1 - rss0) / max(opened, 1) <= 30 and opened == n,
        ),
        Figure("time to accept them all", f"{accept_s:.1f} s ({opened / accept_s:,.0f}/s)"),
    ]
    sec.notes += [
        f"{sessions:,} sessions, each with 1 candidate and {per - 1} panel sockets, on the "
        f"minimal reader (`bench/wsreader.py`, answering pings) over {len(jobs)} client "
        f"processes, connecting from {', '.join(sources)} (loopback has about 28,000 "
        f"ephemeral ports per source address); {opened:,} opened, {still:,} still open after "
        f"the measurement; the gateway counted {metrics.get('gateway_ws_open', 0):,.0f} open "
        f"sockets. Failures: {dict(failures) or 'none'}. Time to accept: from the first "
        "connect to the last socket's first frame (its hello or snapshot), 64 handshakes in "
        "flight per client process.",
        f"The gateway's open-files limit here is {limit:,} (the bench lifts the soft limit to "
        "the hard one; raising the hard one needs CAP_SYS_RESOURCE, which this machine's "
        f"user does not have), so the run holds {n:,} sockets"
        + (f" rather than {s.many_conns:,}." if n < s.many_conns else "."),
    ]
    return sec
