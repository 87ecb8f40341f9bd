"""The analysis engine's wiring: analyzer, scheduler, one run from window to panel.

A cleanup context builds the analyzer the settings ask for (the offline analyzer in a process
pool, so its CPU work never runs on the event loop, or one shared `openai.AsyncOpenAI` client),
an `AnalysisScheduler` around `AnalysisRunner.run`, and hooks the scheduler into the live
service's count triggers. A run reads the session's window from the hub, analyzes it with the
session's rubric, and stores the run's rows and its `analysis` (and `alert`) events in one
transaction; any failure becomes an `analysis_failed` event instead, and transcripts are never
touched. Register it after `realtime.setup(app)` (it needs the live service).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import openai
from aiohttp import web

from analysis.errors import AnalysisError
from analysis.feedback import SuggestionFeedback, feedback_guidance
from analysis.models import AnalysisResult, TranscriptLine, band_for
from analysis.offline import analyze_lines
from analysis.openai_analyzer import OpenAIAnalyzer
from analysis.rubrics import Rubric, rubric_for
from gateway.metrics import REGISTRY
from gateway.scheduler import AnalysisScheduler, Trigger
from gateway.settings import Settings, SettingsError
from handlers.keys import ANALYSIS, ANALYSIS_RETRY, LIVE, SETTINGS
from handlers.live import LiveService
from services.analysis_debt import AnalysisLedger
from services.worker_watch import init_worker
from storage.analysis import (
    NewRun,
    NewSuggestion,
    earlier_suggestion_texts,
    insert_run,
    is_repeat,
    previous_score,
    suggestion_feedback,
)

__all__ = [
    "DROP_ALERT_POINTS",
    "RED_BELOW",
    "RETRY_AFTER_S",
    "AnalysisRunner",
    "RunOutcome",
    "alert_events",
    "setup",
]

log = logging.getLogger("gateway.analysis")

DROP_ALERT_POINTS = 15  # a drop of this many points between runs raises an alert
RED_BELOW = 50  # the red band
RETRY_AFTER_S = 30.0  # after a failed run the gateway retries once by itself, this much later
MIN_LINES = 2

_run_seconds = REGISTRY.histogram(
    "gateway_analysis_run_seconds", "analysis run duration (window to published event)"
)
_runs_total = REGISTRY.counter(
    "gateway_analysis_runs_total", "analysis runs by outcome", ("outcome",)
)

Analyze = Callable[[Sequence[TranscriptLine], Rubric, str, str | None], Awaitable[AnalysisResult]]

FEEDBACK_TTL_S = 300.0

# Two lines are enough for the warm-up run to import and exercise the whole analyzer.
_WARM_WINDOW = (
    TranscriptLine(role="assistant", text="Hi, thanks for joining. What would you like to cover?"),
    TranscriptLine(role="user", text="Thanks! How does your team plan routes today?"),
)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run did: `event` (the stored `analysis` event) or `failure`, or neither (skipped)."""

    run_id: uuid.UUID
    event: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    skipped: str | None = None


def _iso(value: datetime) -> str:
    return value.isoformat()


def rubric_payload(rubric: Rubric) -> dict[str, Any]:
    """The rubric as panels show it (the same shape as the snapshot's `session.rubric`)."""
    return {
        "blueprint": rubric.blueprint,
        "title": rubric.title,
        "factors": [{"name": f.name, "label": f.label, "weight": f.weight} for f in rubric.factors],
    }


def alert_events(previous: int | None, score: int, analysis_id: uuid.UUID) -> list[dict[str, Any]]:
    """`alert` events for a new score: a drop of 15+ points, and/or entering the red band."""
    if previous is None:
        return []
    events: list[dict[str, Any]] = []
    if previous - score >= DROP_ALERT_POINTS:
        events.append(
            {
                "type": "alert",
                "kind": "score_drop",
                "score": score,
                "previous_score": previous,
                "message": f"Say Meter dropped {previous - score} points ({previous} → {score})",
                "analysis_id": str(analysis_id),
            }
        )
    if score < RED_BELOW <= previous:
        events.append(
            {
                "type": "alert",
                "kind": "entered_red",
                "score": score,
                "previous_score": previous,
                "message": f"Say Meter entered the red zone ({previous} → {score})",
                "analysis_id": str(analysis_id),
            }
        )
    return events


class AnalysisRunner:
    """One run per trigger: window -> analyzer -> rows + events in one transaction -> panels."""

    def analysis_state(self) -> str:
        """For /readyz: `warming` while the offline pool starts, `failed` if that failed."""
        task = self.warming
        if task is None or not task.done():
            return "ready" if task is None else "warming"
        if task.cancelled() or task.exception() is not None:
            return "failed"
        return "ready"

    def __init__(
        self,
        live: LiveService,
        settings: Settings,
        analyze: Analyze,
        analyzer_name: str,
        *,
        retry_after_s: float = RETRY_AFTER_S,
    ) -> None:
        self.live = live
        self.settings = settings
        self.analyzer_name = analyzer_name
        self.retry_after_s = retry_after_s
        self._analyze = analyze
        self.ledger = AnalysisLedger(
            live.pool,
            every=settings.analysis_every,
            lease_s=settings.analysis_lease_s,
            sweep_s=settings.analysis_sweep_s,
        )
        self._feedback: dict[str, tuple[float, str | None]] = {}
        self.scheduler = AnalysisScheduler(self.run, concurrency=settings.analysis_concurrency)
        self.warming: asyncio.Task[None] | None = None  # the offline pool's warm-up, if any
        # A failed run arms one automatic retry; any later run of the session supersedes it.
        self._retries: dict[uuid.UUID, asyncio.TimerHandle] = {}

    async def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        await self.scheduler.close()

    async def run(self, trigger: Trigger) -> RunOutcome:
        sid = trigger.session_id
        run_id = trigger.run_id or uuid.uuid4()
        pending_retry = self._retries.pop(sid, None)
        if pending_retry is not None:
            pending_retry.cancel()  # this run is the retry
        started = time.perf_counter()
        outcome: RunOutcome
        if not await self.ledger.claim(trigger, run_id):  # the boundary is durable (0010)
            outcome = RunOutcome(run_id, skipped="covered or running elsewhere")
            self._log(trigger, outcome, time.perf_counter() - started)
            return outcome
        try:
            outcome = await self._run(trigger, run_id)
        except asyncio.CancelledError:
            raise
        except AnalysisError as err:
            outcome = await self._failed(trigger, run_id, err.reason, err.message)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            # The database went away mid-run (a restart): an ordinary failure, not a bug.
            log.warning("analysis run %s for %s: database unavailable: %s", run_id, sid, err)
            outcome = await self._failed(trigger, run_id, "connection", "database unavailable")
        except Exception as err:
            log.exception("analysis run %s for session %s failed", run_id, sid)
            outcome = await self._failed(
                trigger, run_id, "internal_error", f"analysis failed ({type(err).__name__})"
            )
        covered = outcome.event["message_count"] if outcome.event is not None else 0
        await self.ledger.settle(trigger, run_id, covered)
        elapsed = time.perf_counter() - started
        _run_seconds.observe(elapsed)
        self._log(trigger, outcome, elapsed)
        return outcome

    async def _guidance(self, blueprint: str) -> str | None:
        """The feedback loop: how interviewers on this track used earlier suggestions
        (cached per blueprint for FEEDBACK_TTL_S; a failed read just means no guidance)."""
        now = time.monotonic()
        cached = self._feedback.get(blueprint)
        if cached is not None and now - cached[0] < FEEDBACK_TTL_S:
            return cached[1]
        try:
            rows = await suggestion_feedback(self.live.pool, blueprint=blueprint)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning("feedback stats unavailable: %s", err)
            return None
        guidance = feedback_guidance(
            [
                SuggestionFeedback(r.type, r.total, r.applied, r.dismissed)
                for r in rows
                if r.type is not None and r.priority is None and r.blueprint is None
            ]
        )
        self._feedback[blueprint] = (now, guidance)
        return guidance

    async def _run(self, trigger: Trigger, run_id: uuid.UUID) -> RunOutcome:
        sid = trigger.session_id
        hub = self.live.hub
        state = await hub.acquire(sid)
        if state is None:
            return RunOutcome(run_id, skipped="unknown session")
        if state.ended:
            return RunOutcome(run_id, skipped="session ended")
        window = await hub.window(sid)
        # What the window covers (frames may have arrived since the trigger).
        message_count = max(trigger.message_count or 0, state.message_count)
        if len(window) < MIN_LINES:
            return RunOutcome(run_id, skipped=f"{len(window)} line(s) in the window")
        rubric = rubric_for(state.blueprint, self.settings.analysis_weights or None)
        guidance = await self._guidance(rubric.blueprint)
        result = await self._analyze(window, rubric, state.language, guidance)
        meter = result.say_meter
        suggestions = [
            NewSuggestion(s.type, s.text, s.priority, s.label) for s in result.suggestions
        ]
        async with self.live.pool.acquire() as conn, conn.transaction():
            previous = await previous_score(conn, sid)
            # Never offer the same suggestion twice in a session: open, applied or dismissed,
            # the interviewer has already seen it.
            earlier = await earlier_suggestion_texts(conn, sid)
            suggestions = [s for s in suggestions if not is_repeat(s.text, earlier)]
            stored = await insert_run(
                conn,
                NewRun(
                    run_id=run_id,
                    session_id=sid,
                    round_number=state.round_number,
                    score=meter.score,
                    factors=dict(meter.factors),
                    reasoning=meter.reasoning,
                    rubric=rubric.blueprint,
                    analyzer=self.analyzer_name,
                    suggestions=suggestions,
                ),
            )
            event: dict[str, Any] = {
                "type": "analysis",
                "analysis_id": str(run_id),
                "round_number": state.round_number,
                "say_meter": {
                    "score": meter.score,
                    "band": band_for(meter.score),
                    "factors": dict(meter.factors),
                    "reasoning": meter.reasoning,
                },
                "suggestions": [
                    {
                        "suggestion_id": str(suggestion_id),
                        "type": s.type,
                        "text": s.text,
                        "priority": s.priority,
                        "label": s.label,
                    }
                    for suggestion_id, s in zip(stored.suggestion_ids, suggestions, strict=True)
                ],
                "analyzer": self.analyzer_name,
                "rubric": rubric_payload(rubric),
                "message_count": message_count,
                "at": _iso(stored.triggered_at),
            }
            alerts = alert_events(previous, meter.score, run_id)
            messages = await self.live.emit(conn, sid, [event, *alerts])
        self.live.publish(messages)
        stamped = {**event, "event_id": messages[0].event_id, "session_id": str(sid)}
        return RunOutcome(run_id, event=stamped)

    async def _failed(
        self, trigger: Trigger, run_id: uuid.UUID, reason: str, message: str
    ) -> RunOutcome:
        """Tell the panels; arm one automatic retry unless this run was that retry."""
        sid = trigger.session_id
        retry_at: datetime | None = None
        if trigger.reason != "retry":
            retry_at = datetime.now(UTC) + timedelta(seconds=self.retry_after_s)
            self._arm_retry(sid)
        failure: dict[str, Any] = {
            "type": "analysis_failed",
            "analysis_id": str(run_id),
            "reason": reason,
            "message": message,
            "retry_at": _iso(retry_at) if retry_at else None,
        }
        try:
            await self.live.emit_now(sid, [failure])
        except Exception as err:
            log.warning("could not record analysis_failed for %s: %s", sid, err)
        return RunOutcome(run_id, failure=failure)

    def _arm_retry(self, sid: uuid.UUID) -> None:
        old = self._retries.pop(sid, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._retries[sid] = loop.call_later(self.retry_after_s, self._retry, sid)

    def _retry(self, sid: uuid.UUID) -> None:
        self._retries.pop(sid, None)
        state = self.live.hub.get(sid)
        if state is not None and state.ended:
            return
        self.scheduler.trigger(Trigger(sid, "retry"))

    def _log(self, trigger: Trigger, outcome: RunOutcome, elapsed: float) -> None:
        ms = elapsed * 1000
        sid = trigger.session_id
        if outcome.event is not None:
            _runs_total.inc(1, "ok")
            log.info(
                "analysis ok session=%s run=%s reason=%s analyzer=%s score=%s suggestions=%d "
                "in %.0f ms",
                sid,
                outcome.run_id,
                trigger.reason,
                self.analyzer_name,
                outcome.event["say_meter"]["score"],
                len(outcome.event["suggestions"]),
                ms,
            )
        elif outcome.failure is not None:
            _runs_total.inc(1, "failed")
            log.warning(
                "analysis failed session=%s run=%s reason=%s analyzer=%s error=%s in %.0f ms",
                sid,
                outcome.run_id,
                trigger.reason,
                self.analyzer_name,
                outcome.failure["reason"],
                ms,
            )
        else:
            _runs_total.inc(1, "skipped")
            log.info(
                "analysis skipped session=%s run=%s reason=%s (%s) in %.0f ms",
                sid,
                outcome.run_id,
                trigger.reason,
                outcome.skipped,
                ms,
            )


def _mp_context() -> Any:
    """forkserver (workers fork from a small preloaded server: fast, no inherited threads or
    sockets), else spawn. Never plain fork: the gateway process has threads and sockets."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["analysis.offline"])
        return ctx
    return multiprocessing.get_context("spawn")


class OfflinePool:
    """The offline analyzer's worker processes, rebuilt if one dies.

    A worker killed by the OOM killer or a signal breaks a `ProcessPoolExecutor` for good; one
    broken pool must cost one failed run, not every analysis until the gateway restarts.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # Workers yield the CPU (`nice` 10) and exit when this process dies (even by SIGKILL).
        return ProcessPoolExecutor(
            self._workers,
            mp_context=_mp_context(),
            initializer=init_worker,
            initargs=(os.getpid(),),
        )

    async def analyze(
        self,
        window: Sequence[TranscriptLine],
        rubric: Rubric,
        language: str,
        guidance: str | None = None,
    ) -> AnalysisResult:
        """`guidance` shapes a model's prompt; the offline analyzer's rules do not use it."""
        loop = asyncio.get_running_loop()
        lines = [(line.role, line.text) for line in window]
        weights = {f.name: f.weight for f in rubric.factors}
        args = (lines, rubric.blueprint, weights, language)
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, analyze_lines, *args)
        except BrokenProcessPool:
            if self._pool is pool:  # the first failing run rebuilds; the others just retry
                log.warning("offline analyzer worker died; starting a new process pool")
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            return await loop.run_in_executor(self._pool, analyze_lines, *args)

    def worker_pids(self) -> list[int]:
        return list(getattr(self._pool, "_processes", {}) or {})

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


async def _analysis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    live = app[LIVE]
    loop = asyncio.get_running_loop()
    # Validate every weight override now: a typo fails startup, not one track's first run.
    rubric_for("sales", settings.analysis_weights or None)
    executor: OfflinePool | None = None
    warming: asyncio.Task[None] | None = None
    client: openai.AsyncOpenAI | None = None
    analyze: Analyze
    if settings.effective_analyzer == "openai":
        if settings.openai_api_key is None:
            raise SettingsError("OPENAI_API_KEY: required when GATEWAY_ANALYZER=openai")
        key = settings.openai_api_key.get_secret_value()
        client = openai.AsyncOpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=0)
        kwargs: dict[str, Any] = {}
        retry = app.get(ANALYSIS_RETRY)
        if retry is not None:
            kwargs["retry"] = retry
        analyzer = OpenAIAnalyzer(
            client, model=settings.openai_model, timeout=settings.openai_timeout_s, **kwargs
        )
        analyzer.warm_up()
        analyze = analyzer.analyze
        name = f"openai:{settings.openai_model}"
    else:
        offline = OfflinePool(settings.analysis_workers)
        executor = offline
        analyze = offline.analyze
        # Warm the workers (start them, import the analyzer) in the background: the gateway
        # listens meanwhile, a run submitted now just waits its turn, /readyz says "warming".
        warming = loop.create_task(_warm(analyze, settings.analysis_workers), name="warm-up")
        name = "offline"
    runner = AnalysisRunner(live, settings, analyze, name)
    runner.warming = warming
    app[ANALYSIS] = runner
    live.on_trigger = runner.scheduler.trigger
    sweep = loop.create_task(runner.ledger.sweep_forever(runner.scheduler.trigger))
    log.info("analysis engine ready: %s", name)
    try:
        yield
    finally:
        sweep.cancel()
        if warming is not None:
            warming.cancel()
        await asyncio.gather(sweep, *([warming] if warming else []), return_exceptions=True)
        live.on_trigger = None
        await runner.close()
        if executor is not None:
            await loop.run_in_executor(None, executor.shutdown)
        if client is not None:
            await client.close()


async def _warm(analyze: Analyze, workers: int) -> None:
    started = time.perf_counter()
    warm = rubric_for("sales")
    try:
        await asyncio.gather(*(analyze(_WARM_WINDOW, warm, "en", None) for _ in range(workers)))
    except Exception as err:  # a broken pool is rebuilt by the next run
        log.warning("offline analyzer warm-up failed: %s", err)
        raise
    log.info("offline analyzer warm (%d workers) in %.2f s", workers, time.perf_counter() - started)


def setup(app: web.Application) -> None:
    """Call after `realtime.setup(app)`: the engine needs the live service."""
    app.cleanup_ctx.append(_analysis_ctx)
