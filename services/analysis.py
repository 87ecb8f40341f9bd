"""The analysis engine: analyzer, scheduler, one run from window to panel.

`analysis_engine` builds the analyzer the settings ask for (the offline analyzer in a process
pool, so its CPU work never runs on the event loop, or one shared `openai.AsyncOpenAI` client),
an `AnalysisScheduler` around `AnalysisRunner.run`, and hooks the scheduler into the live
service's count triggers. A run reads the session's window from the hub, analyzes it with the
session's rubric, and stores the run's rows and its `analysis` (and `alert`) events in one
transaction; any failure becomes an `analysis_failed` event instead, and transcripts are never
touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import openai

from analysis.errors import AnalysisError
from analysis.feedback import SuggestionFeedback, feedback_guidance
from analysis.models import AnalysisResult, TranscriptLine, band_for
from analysis.openai_analyzer import OpenAIAnalyzer
from analysis.retry import RetryPolicy
from analysis.rubrics import Rubric, rubric_for, rubric_payload
from gateway import metrics
from gateway.errors import (
    ConflictError,
    GoneError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.frames import iso
from gateway.scheduler import AnalysisScheduler, Trigger, TriggerReason
from gateway.settings import Settings, SettingsError
from services.live import LiveService
from services.offline_pool import OfflinePool
from storage.analysis import (
    NewRun,
    NewSuggestion,
    earlier_suggestion_texts,
    insert_run,
    is_repeat,
    previous_score,
    suggestion_feedback,
)
from storage.errors import DB_ERRORS

__all__ = [
    "DROP_ALERT_POINTS",
    "RED_BELOW",
    "RETRY_AFTER_S",
    "AnalysisRunner",
    "RunOutcome",
    "alert_events",
    "analysis_engine",
    "rubric_payload",
]

log = logging.getLogger("gateway.analysis")

DROP_ALERT_POINTS = 15  # a drop of this many points between runs raises an alert
RED_BELOW = 50  # the red band
RETRY_AFTER_S = 30.0  # after a failed run the gateway retries once by itself, this much later
MIN_LINES = 2

_run_seconds = metrics.histogram(
    "gateway_analysis_run_seconds",
    "analysis run duration (window to published event)",
    metrics.ANALYSIS_BUCKETS,
    ("analyzer",),
)
_runs_total = metrics.counter(
    "gateway_analysis_runs_total", "analysis runs by outcome", ("analyzer", "outcome")
)
_failures_total = metrics.counter(
    "gateway_analysis_failures_total", "failed analysis runs by reason", ("analyzer", "reason")
)
_model_calls = metrics.counter(
    "gateway_model_calls_total", "model API calls (attempts) by outcome", ("model", "outcome")
)
_model_call_seconds = metrics.histogram(
    "gateway_model_call_seconds", "one model API call (attempt)", metrics.MODEL_CALL_BUCKETS
)


def _model_call(model: str) -> Callable[[str, float], None]:
    def observe(outcome: str, seconds: float) -> None:
        _model_calls.labels(model, outcome).inc()
        _model_call_seconds.observe(seconds)

    return observe

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
        self._feedback: dict[str, tuple[float, str | None]] = {}
        self.scheduler = AnalysisScheduler(self.run, concurrency=settings.analysis_concurrency)
        # A failed run arms one automatic retry; any later run of the session supersedes it.
        self._retries: dict[uuid.UUID, asyncio.TimerHandle] = {}

    async def close(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        await self.scheduler.close()

    async def analyze_now(
        self,
        session_id: uuid.UUID,
        *,
        round_number: int | None = None,
        wait: float | None = None,
    ) -> uuid.UUID | RunOutcome:
        """A manual run of the session's window (coalesced with one already running).

        Without `wait`, the id the run will store and announce under; with it, the covering
        run's outcome once it is done (`UpstreamTimeout` if it takes longer than `wait`
        seconds: the run goes on and still reaches the panels).
        """
        hub = self.live.hub
        state = await hub.acquire(session_id)
        if state is None:
            raise NotFoundError("session not found")
        if state.ended:
            raise GoneError("the session has ended")
        if round_number is not None and round_number != state.round_number:
            raise ConflictError(f"the session is in round {state.round_number}")
        if len(await hub.window(session_id)) < MIN_LINES:
            raise ConflictError(
                f"nothing to analyze yet: at least {MIN_LINES} messages are needed"
            )
        if wait is None:
            run_id = self.scheduler.schedule(Trigger(session_id, TriggerReason.MANUAL))
            if run_id is None:
                raise UnavailableError("the gateway is shutting down")
            return run_id
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.scheduler.schedule(Trigger(session_id, TriggerReason.MANUAL, done=done)) is None:
            raise UnavailableError("the gateway is shutting down")
        await asyncio.wait({done}, timeout=wait)
        if not done.done():
            done.cancel()  # the run goes on; this caller stops waiting
            raise UpstreamTimeout(
                f"no result within {wait:g}s; it will still reach the panels", code="timeout"
            )
        if done.cancelled():
            raise UnavailableError("the gateway is shutting down")
        error = done.exception()
        if error is not None:
            raise UpstreamError("the analysis failed") from error
        outcome = done.result()
        assert isinstance(outcome, RunOutcome)
        return outcome

    async def run(self, trigger: Trigger) -> RunOutcome:
        sid = trigger.session_id
        run_id = trigger.run_id or uuid.uuid4()
        pending_retry = self._retries.pop(sid, None)
        if pending_retry is not None:
            pending_retry.cancel()  # this run is the retry
        started = time.perf_counter()
        outcome: RunOutcome
        try:
            outcome = await self._run(trigger, run_id)
        except asyncio.CancelledError:
            raise
        except AnalysisError as err:
            outcome = await self._failed(trigger, run_id, err.reason, err.message)
        except Exception as err:
            log.exception("analysis run %s for session %s failed", run_id, sid)
            outcome = await self._failed(
                trigger, run_id, "internal_error", f"analysis failed ({type(err).__name__})"
            )
        elapsed = time.perf_counter() - started
        _run_seconds.labels(self.analyzer_name).observe(elapsed)
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
        except DB_ERRORS as err:
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
                "at": iso(stored.triggered_at),
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
        if trigger.reason is not TriggerReason.RETRY:
            retry_at = datetime.now(UTC) + timedelta(seconds=self.retry_after_s)
            self._arm_retry(sid)
        failure: dict[str, Any] = {
            "type": "analysis_failed",
            "analysis_id": str(run_id),
            "reason": reason,
            "message": message,
            "retry_at": iso(retry_at),
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
        self.scheduler.trigger(Trigger(sid, TriggerReason.RETRY))

    def _log(self, trigger: Trigger, outcome: RunOutcome, elapsed: float) -> None:
        ms = elapsed * 1000
        sid = trigger.session_id
        if outcome.event is not None:
            _runs_total.labels(self.analyzer_name, "ok").inc()
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
            _runs_total.labels(self.analyzer_name, "failed").inc()
            _failures_total.labels(self.analyzer_name, outcome.failure["reason"]).inc()
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
            _runs_total.labels(self.analyzer_name, "skipped").inc()
            log.info(
                "analysis skipped session=%s run=%s reason=%s (%s) in %.0f ms",
                sid,
                outcome.run_id,
                trigger.reason,
                outcome.skipped,
                ms,
            )


@contextlib.asynccontextmanager
async def analysis_engine(
    live: LiveService, settings: Settings, retry: RetryPolicy | None = None
) -> AsyncIterator[AnalysisRunner]:
    """The analyzer the settings ask for (the offline analyzer in a process pool, so its CPU
    work never runs on the event loop, or one shared `openai.AsyncOpenAI` client), its runner,
    and the live service's count triggers hooked into the runner's scheduler."""
    loop = asyncio.get_running_loop()
    # Validate every weight override now: a typo fails startup, not one track's first run.
    rubric_for("sales", settings.analysis_weights or None)
    executor: OfflinePool | None = None
    client: openai.AsyncOpenAI | None = None
    analyze: Analyze
    if settings.effective_analyzer == "openai":
        if settings.openai_api_key is None:
            raise SettingsError("OPENAI_API_KEY: required when GATEWAY_ANALYZER=openai")
        key = settings.openai_api_key.get_secret_value()
        client = openai.AsyncOpenAI(api_key=key, base_url=settings.openai_base_url, max_retries=0)
        kwargs: dict[str, Any] = {}
        if retry is not None:
            kwargs["retry"] = retry
        analyzer = OpenAIAnalyzer(
            client,
            model=settings.openai_model,
            timeout=settings.openai_timeout_s,
            on_attempt=_model_call(settings.openai_model),
            **kwargs,
        )
        analyzer.warm_up()
        analyze = analyzer.analyze
        name = f"openai:{settings.openai_model}"
    else:
        offline = OfflinePool(settings.analysis_workers)
        executor = offline
        analyze = offline.analyze
        warm = rubric_for("sales")
        try:
            await asyncio.gather(
                *(analyze(_WARM_WINDOW, warm, "en", None) for _ in range(settings.analysis_workers))
            )
        except BaseException:
            offline.shutdown(wait=False)
            raise
        name = "offline"
    runner = AnalysisRunner(live, settings, analyze, name)
    live.on_trigger = runner.scheduler.trigger
    log.info("analysis engine ready: %s", name)
    try:
        yield runner
    finally:
        live.on_trigger = None
        await runner.close()
        if executor is not None:
            await loop.run_in_executor(None, executor.shutdown)
        if client is not None:
            await client.close()
