"""Benchmark 5: analysis under load. Event-loop lag while many sessions analyze at once, and
trigger-to-panel time (the 10th frame's ack -> the `analysis` event at the panel) with the
offline analyzer and with a fake OpenAI model that takes 1 s."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.clients import UTTERANCE, candidate_frame, ws_url
from bench.context import Context
from bench.procs import Child, free_port, start_child
from bench.report import Figure, Section
from bench.sessions import create_sessions, token
from bench.stats import Scrapes, fmt_ms, histogram_count, histogram_quantile, summarize
from gateway.auth import Role

__all__ = ["bench_analysis", "lag_quantile"]

LAG_METRIC = "gateway_event_loop_lag_seconds"
BUSY_LAG_METRIC = "gateway_event_loop_busy_lag_seconds"
RUN_QUEUE_METRIC = "gateway_event_loop_run_queue_seconds_total"
EVERY = 10  # the design's trigger: every 10 stored messages


def lag_quantile(windows: Scrapes, q: float) -> tuple[float, float]:
    return histogram_quantile(windows, LAG_METRIC, q)


def _lag_count(windows: Scrapes) -> float:
    return histogram_count(windows, LAG_METRIC)


def _bucket(edges: tuple[float, float]) -> str:
    return f"{fmt_ms(edges[0])} - {fmt_ms(edges[1])}"


@dataclass
class Timing:
    trigger_s: float = 0.0  # when the 10th frame's ack arrived (monotonic)
    panel_s: float = 0.0  # when the `analysis` event arrived
    failed: str = ""


async def _open(url: str) -> ClientConnection:
    ws = await connect(url, open_timeout=60, ping_interval=None, compression=None)
    await ws.recv()  # hello / snapshot
    return ws


async def _one_session(
    gw: Child, sid: str, connected: asyncio.Queue[None], start: asyncio.Event, timeout_s: float
) -> Timing:
    """Candidate sends 10 frames; time from the 10th ack to the panel's `analysis` event."""
    timing = Timing()
    panel = await _open(ws_url(gw.ws_url, "panel", sid, token(Role.INTERVIEWER, sid)))
    cand = await _open(ws_url(gw.ws_url, "candidate", sid, token(Role.CANDIDATE, sid)))
    connected.put_nowait(None)
    try:
        await asyncio.wait_for(start.wait(), 120)

        async def candidate() -> None:
            for seq in range(1, EVERY + 1):
                role = "user" if seq % 2 else "assistant"
                frame = orjson.loads(candidate_frame(seq, f"{UTTERANCE} ({seq})"))
                frame["role"] = role
                await cand.send(orjson.dumps(frame).decode())
            while True:
                msg = orjson.loads(await cand.recv())
                if msg["type"] == "ack" and msg["seq"] == EVERY:
                    timing.trigger_s = time.monotonic()
                    return

        async def watch() -> None:
            while True:
                msg = orjson.loads(await panel.recv())
                if msg["type"] == "analysis":
                    timing.panel_s = time.monotonic()
                    return
                if msg["type"] == "analysis_failed":
                    timing.failed = str(msg.get("reason"))
                    return

        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(candidate(), watch())
        except TimeoutError:
            timing.failed = timing.failed or "timeout"
    finally:
        for ws in (cand, panel):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)
    return timing


async def _sessions(
    gw: Child,
    ids: list[str],
    timeout_s: float,
    before_start: Callable[[], Awaitable[object]] | None = None,
) -> list[Timing]:
    """All of `ids` at once: connect every socket, then start every candidate together."""
    start = asyncio.Event()
    connected: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(_one_session(gw, sid, connected, start, timeout_s)) for sid in ids]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(90):
            for _ in ids:
                await connected.get()
    if before_start is not None:
        await before_start()
    start.set()
    return list(await asyncio.gather(*tasks))


async def _sequential(gw: Child, ids: list[str], timeout_s: float) -> list[Timing]:
    out: list[Timing] = []
    for sid in ids:
        out += await _sessions(gw, [sid], timeout_s)
    return out


def _delays(timings: list[Timing]) -> tuple[list[float], int]:
    ok = [t.panel_s - t.trigger_s for t in timings if not t.failed and t.trigger_s and t.panel_s]
    return ok, len(timings) - len(ok)


def _wait_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"fake model did not listen on {port}")


async def bench_analysis(ctx: Context) -> Section:
    s = ctx.scale
    n = s.analysis_sessions
    cmd = "interview-gateway bench --only analysis" + (" --quick" if s.quick else "")
    sec = Section("analysis", "5. Analysis: loop lag and trigger-to-panel", cmd)

    # Offline analyzer (process pool), the design's trigger every 10 messages.
    gw = await ctx.start_gateway("gateway-analysis", {"ANALYSIS_EVERY": str(EVERY)})
    try:
        windows: Scrapes = []
        burst: list[Timing] = []
        for _ in range(s.analysis_rounds):
            burst_ids = await create_sessions(ctx.db.dsn, n)
            before: dict[str, float] = {}

            async def scrape(into: dict[str, float] = before) -> None:
                into.update(await ctx.metrics(gw))

            burst += await _sessions(gw, burst_ids, timeout_s=120, before_start=scrape)
            windows.append((before, await ctx.metrics(gw)))
        seq_ids = await create_sessions(ctx.db.dsn, s.trigger_samples)
        single = await _sequential(gw, seq_ids, timeout_s=30)
    finally:
        await gw.stop()
    lag99 = lag_quantile(windows, 0.99)
    lag50 = lag_quantile(windows, 0.50)
    lag_max = lag_quantile(windows, 1.0)
    busy99 = histogram_quantile(windows, BUSY_LAG_METRIC, 0.99)
    queued_s = sum(a.get(RUN_QUEUE_METRIC, 0) - b.get(RUN_QUEUE_METRIC, 0) for b, a in windows)
    burst_ok, burst_failed = _delays(burst)
    single_ok, single_failed = _delays(single)
    b, one = summarize(burst_ok), summarize(single_ok)

    # A fake OpenAI model that answers after 1 s, in its own process.
    port = free_port()
    model = start_child(
        "fake-model",
        ["-m", "bench.fake_model", "--port", str(port), "--latency", "1.0"],
        {},
        ctx.workdir / "fake-model",
        port,
    )
    try:
        await asyncio.to_thread(_wait_port, port)
        gw = await ctx.start_gateway(
            "gateway-openai",
            {
                "ANALYSIS_EVERY": str(EVERY),
                "GATEWAY_ANALYZER": "openai",
                "OPENAI_API_KEY": "test",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            },
        )
        try:
            model_ids = await create_sessions(ctx.db.dsn, s.model_samples)
            slow = await _sequential(gw, model_ids, timeout_s=30)
        finally:
            await gw.stop()
    finally:
        await model.stop()
    slow_ok, slow_failed = _delays(slow)
    m = summarize(slow_ok)

    sec.figures += [
        Figure(
            f"loop lag p99, {n} sessions analyzing at once",
            _bucket(lag99),
            "< 10 ms",
            lag99[1] <= 0.010,
        ),
        Figure(
            "same, less the kernel's run-queue wait (the gateway's own work): p99",
            _bucket(busy99) if histogram_count(windows, BUSY_LAG_METRIC) else "n/a (not Linux)",
        ),
        Figure(
            "trigger -> panel, offline, one at a time: p50 / p99",
            f"{fmt_ms(one.p50)} / {fmt_ms(one.p99)}",
            "< 200 ms",
            one.p99 < 0.200 and not single_failed,
        ),
        Figure(
            f"trigger -> panel, offline, {n} at once: p50 / p99",
            f"{fmt_ms(b.p50)} / {fmt_ms(b.p99)}",
        ),
        Figure(
            "trigger -> panel, fake model 1 s: p50 / p99",
            f"{fmt_ms(m.p50)} / {fmt_ms(m.p99)}",
            "< 1.1 s",
            m.p99 < 1.1 and not slow_failed,
        ),
    ]
    sec.notes += [
        f"Loop lag: `gateway_event_loop_lag_seconds` (`handlers/looplag.py`: a task sleeping "
        f"5 ms and recording how late it wakes), scraped from /metrics before and after {n} "
        f"sessions (one candidate, one panel each) each send {EVERY} frames at once and wait "
        f"for their analysis (scraped once every socket is open, so connecting is not "
        f"included); {s.analysis_rounds} such bursts, {_lag_count(windows):,.0f} samples; "
        f"p50 in {_bucket(lag50)}, the worst sample in {_bucket(lag_max)}. The figure is the "
        "histogram bucket that holds the p99 (buckets 1, 2.5, 5, 7.5, 10, 12.5, 15, 20, 25, "
        "50 ms, ...). The lag includes time the kernel gave the two cores to PostgreSQL, the "
        "load generator and the analysis workers: the second figure takes out the time the "
        "kernel kept the loop's thread waiting for a CPU (`/proc/thread-self/schedstat`; "
        f"{queued_s * 1000:,.0f} ms in all during the bursts).",
        f"Trigger -> panel: from the 10th frame's ack at the candidate to the `analysis` event "
        f"at the panel (both clients in the bench process, same clock). One at a time: "
        f"{len(single_ok)} sessions in turn ({single_failed} failed). {n} at once: the same "
        f"burst as the loop-lag figure, so it includes queueing behind "
        f"`ANALYSIS_WORKERS=2` offline processes ({burst_failed} failed).",
        f"Fake model: `tests/fakes/fake_openai.py` `FakeOpenAI(latency=1.0)` in its own process "
        f"(`python -m bench.fake_model`), gateway with `GATEWAY_ANALYZER=openai`, "
        f"`OPENAI_BASE_URL` pointing at it; {len(slow_ok)} sessions in turn ({slow_failed} "
        f"failed), max {fmt_ms(m.max)}.",
    ]
    failures = [t.failed for t in burst + single + slow if t.failed]
    if failures:
        sec.notes.append(f"Failures: {sorted(set(failures))[:5]}.")
    return sec
