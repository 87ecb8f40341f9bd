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
from typing import Any

import orjson

from bench.clients import candidate_frame, ws_url
from bench.context import Context
from bench.pipelined import UTTERANCE, SansIOClient, open_clients
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


class _Candidate(SansIOClient):
    """Sends the first 9 of the design's 10 frames beforehand (`prime`, roles alternating), and
    the 10th, the trigger, on `start`; notes when the 10th frame is acked."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, timing: Timing) -> None:
        super().__init__(url, loop)
        self.timing = timing
        self.primed: asyncio.Future[None] = loop.create_future()

    def prime(self) -> None:
        for seq in range(1, EVERY):
            self._send(seq)
        self._flush()

    def start(self) -> None:
        self._send(EVERY)
        self._flush()

    def _send(self, seq: int) -> None:
        frame = orjson.loads(candidate_frame(seq, f"{UTTERANCE} ({seq})"))
        frame["role"] = "user" if seq % 2 else "assistant"
        self.ws.send_text(orjson.dumps(frame))

    def on_message(self, frame: dict[str, Any]) -> None:
        if frame.get("type") != "ack":
            return
        if frame.get("seq") == EVERY - 1 and not self.primed.done():
            self.primed.set_result(None)
        elif frame.get("seq") == EVERY:
            self.timing.trigger_s = time.monotonic()
            if not self.finished.done():
                self.finished.set_result(None)


class _Panel(SansIOClient):
    """Notes when the session's `analysis` (or `analysis_failed`) event arrives."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, timing: Timing) -> None:
        super().__init__(url, loop)
        self.timing = timing

    def on_message(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "analysis":
            self.timing.panel_s = time.monotonic()
        elif kind == "analysis_failed":
            self.timing.failed = str(frame.get("reason"))
        else:
            return
        if not self.finished.done():
            self.finished.set_result(None)


async def _sessions(
    gw: Child,
    ids: list[str],
    timeout_s: float,
    before_start: Callable[[], Awaitable[object]] | None = None,
    after_done: Callable[[], Awaitable[object]] | None = None,
) -> list[Timing]:
    """All of `ids` at once: open every panel and candidate (`websockets` Sans-I/O clients,
    `bench/pipelined.py`), store each session's first 9 messages, then send every session's
    10th in the same moment."""
    timings = {sid: Timing() for sid in ids}
    by_url: dict[str, Timing] = {}

    def url_for(kind: str, sid: str, role: Role) -> str:
        url = ws_url(gw.ws_url, kind, sid, token(role, sid))
        by_url[url] = timings[sid]
        return url

    panel_urls = [url_for("panel", sid, Role.INTERVIEWER) for sid in ids]
    cand_urls = [url_for("candidate", sid, Role.CANDIDATE) for sid in ids]
    panels, f1 = await open_clients(panel_urls, lambda u, lp: _Panel(u, lp, by_url[u]))
    cands, f2 = await open_clients(cand_urls, lambda u, lp: _Candidate(u, lp, by_url[u]))
    opened = {id(c.timing) for c in cands} & {id(p.timing) for p in panels}
    for timing in timings.values():
        if id(timing) not in opened:
            timing.failed = f"connect: {dict(f1 + f2)}"[:120]
    try:
        for cand in cands:
            cand.prime()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(c.primed) for c in cands), return_exceptions=True),
                timeout_s,
            )
        if before_start is not None:
            await before_start()
        for cand in cands:  # every session's 10th message at once: 100 analyses at once
            cand.start()
        waits = [asyncio.shield(c.finished) for c in [*cands, *panels]]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), timeout_s)
        if after_done is not None:  # before the sockets close: closing is not analysis
            await after_done()
        for timing in timings.values():
            if not timing.failed and not (timing.trigger_s and timing.panel_s):
                timing.failed = "timeout"
    finally:
        clients: list[SansIOClient] = [*cands, *panels]
        for client in clients:
            client.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(c.closed) for c in clients)), 5
            )
    return list(timings.values())


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
        windows: Scrapes = []  # from the 10th frames to the last `analysis` event
        with_close: Scrapes = []  # the same, until all 2n sockets have closed afterwards
        burst: list[Timing] = []
        for _ in range(s.analysis_rounds):
            burst_ids = await create_sessions(ctx.db.dsn, n)
            before: dict[str, float] = {}
            after: dict[str, float] = {}

            async def scrape_before(into: dict[str, float] = before) -> None:
                into.update(await ctx.metrics(gw))

            async def scrape_after(into: dict[str, float] = after) -> None:
                into.update(await ctx.metrics(gw))

            burst += await _sessions(
                gw, burst_ids, timeout_s=120, before_start=scrape_before, after_done=scrape_after
            )
            windows.append((before, after))
            with_close.append((before, await ctx.metrics(gw)))
        seq_ids = await create_sessions(ctx.db.dsn, s.trigger_samples)
        single = await _sequential(gw, seq_ids, timeout_s=30)
    finally:
        await gw.stop()
    lag99 = lag_quantile(windows, 0.99)
    lag50 = lag_quantile(windows, 0.50)
    lag_max = lag_quantile(windows, 1.0)
    busy99 = histogram_quantile(windows, BUSY_LAG_METRIC, 0.99)
    close99 = lag_quantile(with_close, 0.99)
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
            "same, less the kernel's run-queue wait: p99",
            _bucket(busy99) if histogram_count(windows, BUSY_LAG_METRIC) else "n/a (not Linux)",
        ),
        Figure(
            f"same, until the {2 * n} sockets have closed afterwards: p99",
            _bucket(close99),
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
        f"Loop lag: `gateway_event_loop_lag_seconds` (`gateway/looplag.py`: a task sleeping "
        f"5 ms and recording how late it wakes), scraped from /metrics before and after {n} "
        f"sessions (one candidate, one panel each) that have stored {EVERY - 1} messages each "
        f"send their {EVERY}th at the same moment, triggering {n} analyses at once, and wait "
        f"for them (scraped after the first {EVERY - 1}, so connecting and those are not "
        f"included, and again when every `analysis` event has reached its panel, before the "
        f"clients close: {2 * n} sockets closing at once is another load, which the third "
        f"figure adds); {s.analysis_rounds} such bursts, {_lag_count(windows):,.0f} samples; "
        f"p50 in {_bucket(lag50)}, the worst sample in {_bucket(lag_max)}. The figure is the "
        "histogram bucket that holds the p99 (buckets 1, 2.5, 5, 7.5, 10, 12.5, 15, 20, 25, "
        "50 ms, ...). The lag includes time the kernel gave the two cores to PostgreSQL, the "
        "load generator and the analysis workers: the second figure takes out the time the "
        "kernel kept the loop's thread waiting for a CPU (`/proc/thread-self/schedstat`; "
        f"{queued_s * 1000:,.0f} ms in all during the bursts).",
        f"Trigger -> panel: from the 10th frame's ack at the candidate to the `analysis` event "
        f"at the panel (both clients in the bench process, same clock; `websockets` Sans-I/O "
        f"clients, `bench/pipelined.py`). One at a time: "
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
