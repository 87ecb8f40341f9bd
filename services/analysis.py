"""The analysis engine: analyzer, scheduler, one run from window to panel.

`analysis_engine` builds the analyzer the settings ask for (the offline analyzer in a process
pool, so its CPU work never runs on the event loop, or one shared `openai.AsyncOpenAI` client),
an `AnalysisScheduler` around `AnalysisRunner.run`, and hooks the scheduler into the live
service's count triggers. A run reads the session's window from the hub, analyzes it with the
session's rubric (and, for the model, its persona and scenario), and stores the run's rows and
its `analysis` (and `alert`, and `suggestion_updated` for what it expired) events in one
transaction; any failure becomes an `analysis_failed` event instead, and transcripts are never
touched. Suggestions follow `services.suggestions` (dedup by intent, expiry, one critical).

The call's end is scored too: a `final` run when the session ends over REST (an end hook that
waits for it, up to `FINAL_WAIT_S`, so panels see it before `session_ended`), on an `end_call`
command, or after `ANALYSIS_IDLE_SECONDS` without a frame. It runs only if messages arrived
since the previous run; otherwise that previous run is marked final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from analysis.context import CallContext, OpenSuggestion, PersonaContext, ScenarioContext
from analysis.errors import AnalysisError
from analysis.feedback import SuggestionFeedback, feedback_guidance
from analysis.models import AnalysisResult, TranscriptLine, band_for
from analysis.retry import RetryPolicy
from analysis.rubrics import Rubric, rubric_for, rubric_payload
from gateway import frames, metrics
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
from services.analysis_debt import AnalysisLedger
from services.live import LiveService
from services.offline_pool import OfflinePool
from services.suggestions import plan_suggestions
from storage.analysis import (
    NewRun,
    NewSuggestion,
    age_suggestions,
    call_context_row,
    earlier_keys,
    insert_run,
    last_run,
    mark_final,
    open_suggestions,
    suggestion_feedback,
)
from storage.errors import DB_ERRORS

if TYPE_CHECKING:
    import openai

__all__ = [
    "DROP_ALERT_POINTS",
    "FINAL_WAIT_S",
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

Analyze = Callable[
    [Sequence[TranscriptLine], Rubric, str, str | None, CallContext | None],
    Awaitable[AnalysisResult],
]

FEEDBACK_TTL_S = 300.0
FINAL_WAIT_S = 15.0  # how long a REST end waits for its final run before telling the panels
CONTEXTS_KEPT = 10_000  # sessions whose persona/scenario context stays cached

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
    """`alert` events for a new score: a drop of 15+ points, and/or entering the red band
    (including a first score that is already red)."""
    if previous is None:
        if score >= RED_BELOW:
            return []
        return [
            {
                "type": "alert",
                "kind": "entered_red",
                "score": score,
                "previous_score": None,
                "message": f"The first Say Meter score is already red ({score})",
                "analysis_id": str(analysis_id),
            }
        ]
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
        self._feedback: dict[str, tuple[float, str | None]] = {}
        self._contexts: OrderedDict[uuid.UUID, CallContext] = OrderedDict()
        self.ledger = AnalysisLedger(
            live.pool,
            every=settings.analysis_every,
            lease_s=settings.analysis_lease_s,
            sweep_s=settings.analysis_sweep_s,
            max_age_s=settings.analysis_owed_max_age_s,
        )
        self.scheduler = AnalysisScheduler(self.run, concurrency=settings.analysis_concurrency)
        self.warming: asyncio.Task[None] | None = None  # the offline pool's warm-up, if any
        # A failed run arms one automatic retry; any later run of the session supersedes it.
        self._retries: dict[uuid.UUID, asyncio.TimerHandle] = {}
        # A failed final run's retry is final too (an ended session has no other run):
        # `_final_owed` while it waits, `_final_retrying` while it runs.
        self._final_owed: set[uuid.UUID] = set()
        self._final_retrying: set[uuid.UUID] = set()
        # Silence detection: the last frame's time per session and one timer per session,
        # re-armed for the remainder when frames came meanwhile (a frame costs a dict write).
        self._last_frame: dict[uuid.UUID, float] = {}
        self._idle_timers: dict[uuid.UUID, asyncio.TimerHandle] = {}

    async def close(self) -> None:
        for handle in [*self._retries.values(), *self._idle_timers.values()]:
            handle.cancel()
        self._retries.clear()
        self._final_owed.clear()
        self._idle_timers.clear()
        self._last_frame.clear()
        await self.scheduler.close()

    # -- the call's end --------------------------------------------------------------------

    def frame_stored(self, session_id: uuid.UUID) -> None:
        """A frame of the session was stored: (re)start its silence clock."""
        idle = self.settings.analysis_idle_s
        if idle <= 0:
            return
        self._last_frame[session_id] = time.monotonic()
        if session_id not in self._idle_timers:
            loop = asyncio.get_running_loop()
            self._idle_timers[session_id] = loop.call_later(idle, self._idle_check, session_id)

    def _idle_check(self, session_id: uuid.UUID) -> None:
        self._idle_timers.pop(session_id, None)
        last = self._last_frame.get(session_id)
        if last is None:
            return
        idle = self.settings.analysis_idle_s
        quiet = time.monotonic() - last
        if quiet < idle:  # frames came meanwhile: wait for the rest
            loop = asyncio.get_running_loop()
            self._idle_timers[session_id] = loop.call_later(
                idle - quiet, self._idle_check, session_id
            )
            return
        del self._last_frame[session_id]
        self.scheduler.trigger(Trigger(session_id, TriggerReason.FINAL))

    def _stop_idle(self, session_id: uuid.UUID) -> None:
        self._last_frame.pop(session_id, None)
        handle = self._idle_timers.pop(session_id, None)
        if handle is not None:
            handle.cancel()

    async def session_ended(self, session_id: uuid.UUID) -> None:
        """End hook (before the one that tells the panels): run the final analysis and wait
        for it up to `FINAL_WAIT_S`; a slower run still stores and publishes its result."""
        self._stop_idle(session_id)
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.scheduler.schedule(Trigger(session_id, TriggerReason.FINAL, done=done)) is None:
            return
        await asyncio.wait({done}, timeout=FINAL_WAIT_S)
        if not done.done():
            done.cancel()
            log.warning("final analysis of %s still running after %gs", session_id, FINAL_WAIT_S)
        self._contexts.pop(session_id, None)

    async def _context(self, session_id: uuid.UUID) -> CallContext:
        """The session's persona and scenario, read once and cached (they do not change)."""
        cached = self._contexts.get(session_id)
        if cached is not None:
            self._contexts.move_to_end(session_id)
            return cached
        try:
            row = await call_context_row(self.live.pool, session_id)
        except DB_ERRORS as err:
            log.warning("persona/scenario of %s unavailable: %s", session_id, err)
            return CallContext()
        context = CallContext()
        if row is not None:
            persona = None
            if row["persona_name"] is not None:
                persona = PersonaContext.of(
                    row["persona_name"],
                    row["persona_role"],
                    row["personality_traits"],
                    row["objection_patterns"],
                    row["difficulty"],
                )
            scenario = None
            if row["scenario_name"] is not None:
                scenario = ScenarioContext.of(
                    row["scenario_name"],
                    row["scenario_description"],
                    row["pain_points"],
                    row["budget_range"],
                    row["decision_timeline"],
                )
            context = CallContext(persona, scenario)
        self._contexts[session_id] = context
        while len(self._contexts) > CONTEXTS_KEPT:
            self._contexts.popitem(last=False)
        return context

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
        if trigger.reason is not TriggerReason.FINAL:
            self._final_owed.discard(sid)  # the call went on: this run supersedes that final
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
        except DB_ERRORS as err:
            # The database went away mid-run (a restart): an ordinary failure, not a bug.
            log.warning("analysis run %s for %s: database unavailable: %s", run_id, sid, err)
            outcome = await self._failed(trigger, run_id, "connection", "database unavailable")
        except Exception as err:
            log.exception("analysis run %s for session %s failed", run_id, sid)
            outcome = await self._failed(
                trigger, run_id, "internal_error", f"analysis failed ({type(err).__name__})"
            )
        finally:
            if trigger.reason is TriggerReason.FINAL:
                self._final_retrying.discard(sid)
        covered = outcome.event["message_count"] if outcome.event is not None else 0
        await self.ledger.settle(trigger, run_id, covered)
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
        final = trigger.reason is TriggerReason.FINAL
        hub = self.live.hub
        state = await hub.acquire(sid)
        if state is None:
            return RunOutcome(run_id, skipped="unknown session")
        if state.ended and not final:  # an ended session still gets its final run
            return RunOutcome(run_id, skipped="session ended")
        if trigger.reason is TriggerReason.OWED:
            # Owed by a process that died: its frames were stored (and windowed) there, not
            # here, so this process's window is read again from the database.
            state.window_stale = True
        window = await hub.window(sid)
        # What the window covers (frames may have arrived since the trigger).
        message_count = max(trigger.message_count or 0, state.message_count)
        if final:
            previous_run = await last_run(self.live.pool, sid)
            covered = previous_run.message_count if previous_run is not None else None
            if previous_run is not None and covered is not None and covered >= message_count:
                if not previous_run.final and previous_run.run_id is not None:
                    await mark_final(self.live.pool, sid, previous_run.run_id)
                return RunOutcome(run_id, skipped="nothing new since the last analysis")
        if len(window) < MIN_LINES:
            return RunOutcome(run_id, skipped=f"{len(window)} line(s) in the window")
        rubric = rubric_for(state.blueprint, self.settings.analysis_weights or None)
        guidance = await self._guidance(rubric.blueprint)
        context = await self._context(sid)
        async with self.live.pool.acquire() as conn:
            still_open = await open_suggestions(conn, sid)
        context = replace(
            context,
            open_suggestions=tuple(
                OpenSuggestion(o.intent, o.text) for o in still_open if o.intent
            ),
        )
        result = await self._analyze(window, rubric, state.language, guidance, context)
        meter = result.say_meter
        new = [
            NewSuggestion(s.type, s.text, s.priority, s.label, s.responds_to, s.intent)
            for s in result.suggestions
        ]
        async with self.live.pool.acquire() as conn, conn.transaction():
            previous = await last_run(conn, sid)
            plan = plan_suggestions(
                new,
                await open_suggestions(conn, sid, lock=True),
                await earlier_keys(conn, sid),
                result.resolved,
            )
            await age_suggestions(conn, raised=plan.raised, expired=plan.expired, aged=plan.aged)
            suggestions = plan.offered
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
                    message_count=message_count,
                    final=final,
                ),
            )
            at = iso(stored.triggered_at)
            event: dict[str, Any] = {
                "type": "analysis",
                "analysis_id": str(run_id),
                "round_number": state.round_number,
                "final": final,
                "say_meter": {
                    "score": meter.score,
                    "band": band_for(meter.score),
                    "factors": dict(meter.factors),
                    "reasoning": meter.reasoning,
                },
                "suggestions": [
                    {
                        "suggestion_id": str(suggestion_id),
                        "analysis_id": str(run_id),
                        "type": s.type,
                        "text": s.text,
                        "priority": s.priority,
                        "label": s.label,
                        "responds_to": s.responds_to,
                        "intent": s.intent,
                        "at": at,
                    }
                    for suggestion_id, s in zip(stored.suggestion_ids, suggestions, strict=True)
                ],
                "analyzer": self.analyzer_name,
                "rubric": rubric_payload(rubric),
                "message_count": message_count,
                "at": iso(stored.triggered_at),
            }
            alerts = alert_events(previous.score if previous else None, meter.score, run_id)
            expired = [frames.suggestion_updated_event(i, "expired") for i in plan.expired]
            messages = await self.live.emit(conn, sid, [event, *alerts, *expired])
        self.live.publish(messages)
        stamped = {**event, "event_id": messages[0].event_id, "session_id": str(sid)}
        return RunOutcome(run_id, event=stamped)

    async def _failed(
        self, trigger: Trigger, run_id: uuid.UUID, reason: str, message: str
    ) -> RunOutcome:
        """Tell the panels; arm one automatic retry unless this run was that retry."""
        sid = trigger.session_id
        final = trigger.reason is TriggerReason.FINAL
        retry_at: datetime | None = None
        was_retry = trigger.reason is TriggerReason.RETRY or (final and sid in self._final_retrying)
        if not was_retry:
            retry_at = datetime.now(UTC) + timedelta(seconds=self.retry_after_s)
            self._arm_retry(sid)
            if final:
                self._final_owed.add(sid)
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
        if sid in self._final_owed:  # allowed on an ended session, like the run it retries
            self._final_owed.discard(sid)
            self._final_retrying.add(sid)
            self.scheduler.trigger(Trigger(sid, TriggerReason.FINAL))
            return
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
    warming: asyncio.Task[None] | None = None
    client: openai.AsyncOpenAI | None = None
    analyze: Analyze
    if settings.effective_analyzer == "openai":
        if settings.openai_api_key is None:
            raise SettingsError("OPENAI_API_KEY: required when GATEWAY_ANALYZER=openai")
        # Imported here, not at module level: the SDK costs about a second of start-up, which
        # a gateway on the offline analyzer (the default) must not pay on every restart.
        import openai

        from analysis.openai_analyzer import OpenAIAnalyzer

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

        async def analyze(
            window: Sequence[TranscriptLine],
            rubric: Rubric,
            language: str,
            guidance: str | None,
            context: CallContext | None,
        ) -> AnalysisResult:
            # The offline analyzer reads the transcript only (persona context: the model's).
            return await offline.analyze(window, rubric, language, guidance)

        # Warm the workers (start them, load the model) in the background: the gateway listens
        # meanwhile, a run submitted now just waits its turn, /readyz says "warming".
        warming = loop.create_task(_warm(analyze, settings.analysis_workers), name="warm-up")
        name = "offline"
    runner = AnalysisRunner(live, settings, analyze, name)
    runner.warming = warming
    live.on_trigger = runner.scheduler.trigger
    live.on_frame = runner.frame_stored
    sweep = loop.create_task(runner.ledger.sweep_forever(runner.scheduler.trigger), name="sweep")
    log.info("analysis engine ready: %s", name)
    try:
        yield runner
    finally:
        sweep.cancel()
        if warming is not None:
            warming.cancel()
        await asyncio.gather(sweep, *([warming] if warming else []), return_exceptions=True)
        live.on_trigger = None
        live.on_frame = None
        await runner.close()
        if executor is not None:
            await loop.run_in_executor(None, executor.shutdown)
        if client is not None:
            await client.close()


async def _warm(analyze: Analyze, workers: int) -> None:
    started = time.perf_counter()
    warm = rubric_for("sales")
    try:
        await asyncio.gather(
            *(analyze(_WARM_WINDOW, warm, "en", None, None) for _ in range(workers))
        )
    except Exception as err:  # a broken pool is rebuilt by the next run
        log.warning("offline analyzer warm-up failed: %s", err)
        raise
    log.info("offline analyzer warm (%d workers) in %.2f s", workers, time.perf_counter() - started)
