"""The live-session service: the one entry point transports (WebSocket, REST) call.

It composes storage transactions with the realtime core: frames go through group commit,
every state change writes its `live_events` rows in the same transaction that makes it, and
only after commit are the serialized events published on the bus for the hub to fan out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from analysis.models import TranscriptLine
from gateway import frames
from gateway.batcher import YIELD_EVERY, BatcherClosed, GroupCommitter
from gateway.bus import Audience, BusMessage, EventBus, LocalBus
from gateway.errors import (
    ConflictError,
    ErrorCode,
    GatewayError,
    GoneError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from gateway.hub import RawLine, SessionHub, SessionState
from gateway.metrics import ACK_BUCKETS, COMMIT_BUCKETS, counter, histogram
from gateway.ports import SessionSeed, SessionStatus
from gateway.protocol import (
    ApplyFrame,
    DismissFrame,
    ManualCommandFrame,
    MarkAskedFrame,
    TranscriptCorrectionFrame,
    TranscriptFrame,
    encode,
)
from gateway.scheduler import Trigger, TriggerReason
from gateway.settings import Settings
from gateway.streams import MAX_BACKLOG, CandidateStream, PanelAction, plan_resume
from services import corrections
from services.corrections import CorrectionApplied, PendingCorrection
from services.event_log import load_event_frames
from services.pgbus import PostgresBus
from services.snapshots import snapshot_frame
from storage import commands as command_store
from storage.corrections import Correction, CorrectionOutcome, correct_transcript
from storage.errors import DB_ERRORS, REFUSED_ERRORS
from storage.events import EventRow, bump_counters, insert_events
from storage.live import ensure_counters, last_seq, load_session_row, load_snapshot
from storage.pool import Conn, Pool, Record
from storage.sessions import ended_at as session_ended_at
from storage.transcripts import (
    FrameOutcome,
    FrameResult,
    NewFrame,
    insert_frames,
    insert_frames_isolating,
    message_count,
    recent_lines,
)

__all__ = ["ApplyOutcome", "CorrectedMessage", "LiveService", "StoredMessage", "live_service"]

log = logging.getLogger("gateway.live")

_frames_total = counter(
    "gateway_transcript_frames_total", "transcript frames by outcome", ("outcome",)
)
_commit_batches = histogram(
    "gateway_commit_batch_seconds", "group commit: one batch's transaction", COMMIT_BUCKETS
)
_delivery_batches = histogram(
    "gateway_commit_delivery_seconds",
    "group commit: publishing and acking a committed batch",
    COMMIT_BUCKETS,
)
_ack_seconds = histogram(
    "gateway_ack_seconds",
    "transcript frame queued for group commit until its ack is handed to the socket",
    ACK_BUCKETS,
)
_commit_rows = counter("gateway_commit_rows_total", "rows written by group commit")
_events_total = counter("gateway_events_published_total", "events published", ("type",))
# Children bound once (a `labels()` call costs about 2 µs, per frame on the hot path); every
# series then exists from the start at 0.
_frames_by_outcome = {o: _frames_total.labels(o.value) for o in FrameOutcome}
_frames_fenced = _frames_total.labels("fenced")
_events_by_audience = {a: _events_total.labels(a.value) for a in Audience}
_corrections_total = counter(
    "gateway_transcript_corrections_total", "transcript corrections by outcome", ("outcome",)
)
_event_log_batches = counter(
    "gateway_event_log_batches_total", "transactions of the lifecycle events' group commit"
)
_event_log_items = counter(
    "gateway_event_log_items_total", "emits (one session's events) in those transactions"
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message the REST path stored (or found stored: `duplicate`)."""

    message_id: uuid.UUID
    word_count: int
    duplicate: bool
    message_count: int


@dataclass(frozen=True, slots=True)
class CorrectedMessage:
    """A correction the REST path stored (or found stored: `duplicate`)."""

    message_id: uuid.UUID
    role: Literal["user", "assistant"]
    previous_text: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    command_id: uuid.UUID
    created: bool


async def _lock_suggestion(
    conn: Conn, session_id: uuid.UUID, suggestion_id: uuid.UUID
) -> Record:
    row = await command_store.lock_suggestion(conn, session_id, suggestion_id)
    if row is None:
        raise NotFoundError("no such suggestion in this session", code=ErrorCode.UNKNOWN_SUGGESTION)
    return row


@dataclass(slots=True)
class _Pending:
    """A frame waiting for group commit, with its `transcript` event serialized up front (all
    but the ids the database assigns), so the transaction does no encoding. (Not frozen: one
    is made per frame, and frozen costs an `object.__setattr__` per field.)"""

    frame: NewFrame
    event: bytes
    fence: CandidateStream | None = None  # the socket it came from (REST frames have none)


@dataclass(frozen=True, slots=True)
class _Emit:
    """Events of one session waiting for the event log's group commit."""

    session_id: uuid.UUID
    events: list[dict[str, Any]]


# An emit the database refuses for its own reasons (one session's row), not a lost connection.
_EMIT_REFUSED: tuple[type[Exception], ...] = (*REFUSED_ERRORS, NotFoundError)

# Lifecycle events (presence, failed analyses) of many sessions share one transaction: a
# thousand sockets closing at once is a few transactions rather than a thousand.
EVENT_BATCH = 500


def _count_event_batch(items: int, stored_s: float, delivered_s: float) -> None:
    _event_log_batches.inc()
    _event_log_items.inc(items)


# The result of a frame dropped unstored behind a failed commit of its socket.
_FENCED = FrameResult(FrameOutcome.REFUSED)


def _answer(
    stream: CandidateStream,
    seq: int,
    ref: str | None,
    result: FrameResult | CorrectionApplied | None,
    err: BaseException | None,
) -> None:
    """Runs right after a socket frame's batch committed (or failed): tell its stream."""
    if err is not None or not isinstance(result, FrameResult):
        stream.failed(ref or str(seq))
    elif result is _FENCED:
        stream.fenced(ref or str(seq))
    elif result.outcome is FrameOutcome.STORED or result.outcome is FrameOutcome.DUPLICATE:
        assert result.message_id is not None
        stream.stored(seq, result.message_id, result.outcome is FrameOutcome.DUPLICATE)
    elif result.outcome is FrameOutcome.INVALID:
        stream.invalid(
            ref or str(seq), f"frame refused by the database ({result.reason}); do not resend it"
        )
    elif result.outcome is FrameOutcome.CONFLICT:
        stream.refused(
            ref or str(seq),
            ErrorCode.SEQ_CONFLICT,
            f"seq {seq} was already stored with other content",
        )
    else:
        stream.refused(
            ref or str(seq), ErrorCode.SESSION_ENDED, "session is not active; frame not stored"
        )


def _session_of(pending: _Pending | PendingCorrection) -> uuid.UUID:
    if isinstance(pending, PendingCorrection):
        return pending.session_id
    return pending.frame.session_id


_Item = _Pending | PendingCorrection
_Outcome = FrameResult | CorrectionApplied


def _transcript_event(frame: NewFrame) -> bytes:
    return frames.transcript_head(
        message_id=frame.id,
        seq=frame.seq,
        round_number=frame.round_number,
        role=frame.role,
        text=frame.text,
        timestamp=frame.timestamp,
        word_count=frame.word_count,
        session_id=frame.session_id,
    )


class LiveService:
    def __init__(self, pool: Pool, settings: Settings, bus: EventBus) -> None:
        self.pool = pool
        self.settings = settings
        self.bus = bus
        self.hub = SessionHub(self, window=settings.analysis_window)
        self._unsubscribe = bus.subscribe(self.hub.on_message)
        self.committer: GroupCommitter[_Item, _Outcome] = GroupCommitter(
            self._store,
            max_batch=settings.commit_max_batch,
            max_delay_s=settings.commit_max_delay_ms / 1000,
            max_in_flight=settings.commit_in_flight,
            linger_s=settings.commit_linger_ms / 1000,
            key=_session_of,
            deliver=self._deliver,
            on_batch=self._on_batch,
            on_answered=_ack_seconds.observe,
        )
        self.event_log: GroupCommitter[_Emit, list[BusMessage] | Exception] = GroupCommitter(
            self._store_events,
            max_batch=EVENT_BATCH,
            deliver=self._publish_emitted,
            on_batch=_count_event_batch,
        )
        self.on_trigger: Callable[[Trigger], object] | None = None
        # Told of every stored frame's session (the analysis runner's silence timer).
        self.on_frame: Callable[[uuid.UUID], object] | None = None

    async def start(self) -> None:
        self.committer.start()
        self.event_log.start()

    async def stop(self) -> None:
        await self.committer.drain()
        await self.event_log.drain()
        self._unsubscribe()

    # -- HubStore port --------------------------------------------------------------------

    async def load_session(self, session_id: uuid.UUID, window: int) -> SessionSeed | None:
        async with self.pool.acquire() as conn:
            row = await load_session_row(conn, session_id)
            if row is None:
                return None
            await ensure_counters(conn, session_id)
            recent = await recent_lines(conn, session_id, window)
        lines = [
            TranscriptLine(role=r["role"], text=r["text"], seq=r["seq"], timestamp=r["timestamp"])
            for r in recent
        ]
        return SessionSeed(
            session_id=row.id,
            status=SessionStatus(row.status),
            round_number=row.round_number,
            blueprint=row.blueprint,
            language=row.language,
            message_count=row.message_count,
            last_event_id=row.last_event_id,
            recent=lines,
        )

    async def fetch_events(
        self, session_id: uuid.UUID, after: int, until: int | None = None, limit: int = 5000
    ) -> list[tuple[int, bytes]]:
        return await load_event_frames(self.pool, session_id, after, until, limit)

    # -- events ---------------------------------------------------------------------------

    async def emit(
        self, conn: Conn, session_id: uuid.UUID, events: list[dict[str, Any]]
    ) -> list[BusMessage]:
        """Number and store `events` inside the caller's transaction; publish after commit.

        Each event is serialized once: the same bytes are stored and sent."""
        return (await self._emit_many(conn, [_Emit(session_id, events)]))[0]

    def publish(self, messages: list[BusMessage]) -> None:
        for message in messages:
            self.bus.publish(message)
            _events_by_audience[message.audience].inc()

    async def emit_now(self, session_id: uuid.UUID, events: list[dict[str, Any]]) -> None:
        """Store and publish `events` in a transaction of their own, shared with whatever other
        sessions' events are waiting (group commit); returns once they are published."""
        try:
            outcome = await (await self.event_log.submit(_Emit(session_id, events)))
        except BatcherClosed:  # shutting down: still record it, alone
            outcome = await self._emit_alone(_Emit(session_id, events))
        if isinstance(outcome, Exception):
            raise outcome

    async def _emit_alone(self, item: _Emit) -> list[BusMessage]:
        async with self.pool.acquire() as conn, conn.transaction():
            messages = await self.emit(conn, item.session_id, item.events)
        self.publish(messages)
        return messages

    async def _store_events(self, batch: list[_Emit]) -> list[list[BusMessage] | Exception]:
        """One transaction for the batch; if it fails for a reason other than the connection,
        each item is tried alone, so one bad item (a session deleted meanwhile) fails alone."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                return list(await self._emit_many(conn, batch))
        except _EMIT_REFUSED as err:
            if len(batch) == 1:
                return [err]
        outcomes: list[list[BusMessage] | Exception] = []
        for item in batch:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    outcomes += await self._emit_many(conn, [item])
            except _EMIT_REFUSED as err:
                outcomes.append(err)
        return outcomes

    async def _emit_many(self, conn: Conn, batch: list[_Emit]) -> list[list[BusMessage]]:
        counts: dict[uuid.UUID, int] = {}
        for item in batch:
            counts[item.session_id] = counts.get(item.session_id, 0) + len(item.events)
        bumps = await bump_counters(conn, {sid: (n, 0) for sid, n in counts.items()})
        if len(bumps) < len(counts):
            raise NotFoundError("session not found")  # no counters: not a live session
        next_id = {sid: bumps[sid].last_event_id - n + 1 for sid, n in counts.items()}
        rows: list[EventRow] = []
        out: list[list[BusMessage]] = []
        for item in batch:
            sid, messages = item.session_id, []
            for event in item.events:
                event_id = next_id[sid]
                next_id[sid] = event_id + 1
                data = encode({**event, "event_id": event_id, "session_id": sid})
                rows.append(EventRow(sid, event_id, event["type"], data))
                messages.append(BusMessage(sid, Audience.PANELS, data, event_id))
            out.append(messages)
        await insert_events(conn, rows)
        return out

    async def _publish_emitted(
        self, batch: list[_Emit], outcomes: list[list[BusMessage] | Exception]
    ) -> None:
        for outcome in outcomes:
            if not isinstance(outcome, Exception):
                self.publish(outcome)

    # -- ingest ---------------------------------------------------------------------------

    async def submit(self, frame: NewFrame) -> asyncio.Future[_Outcome]:
        """Queue a frame for group commit; the future resolves once its batch has committed."""
        return await self.committer.submit(_Pending(frame, _transcript_event(frame)))

    async def store_message(
        self,
        session_id: uuid.UUID,
        round_number: int,
        seq: int | None,
        role: Literal["user", "assistant"],
        text: str,
        timestamp: datetime | None,
    ) -> StoredMessage:
        """The per-message path (REST): the same group commit as the WebSocket, answered once
        the message's batch has committed."""
        state = await self.hub.acquire(session_id)
        if state is None:
            raise NotFoundError("session not found")
        if state.ended:
            raise GoneError("session has ended")
        if round_number != state.round_number:  # stored where nothing would look for it
            raise InvalidInputError(
                f"round_number: this session is in round {state.round_number}",
                code=ErrorCode.WRONG_ROUND,
                details=[
                    {"loc": "round_number", "message": "not the session's round", "type": "round"}
                ],
            )
        frame = NewFrame(session_id, round_number, seq, role, text, timestamp)
        try:
            result = await (await self.submit(frame))
            assert isinstance(result, FrameResult)
        except BatcherClosed:
            raise UnavailableError("gateway is shutting down; retry") from None
        except DB_ERRORS:
            raise UnavailableError("database unavailable; nothing was stored, retry") from None
        if result.outcome is FrameOutcome.CONFLICT:
            raise ConflictError(
                f"seq {seq} was already stored with other content", code=ErrorCode.SEQ_CONFLICT
            )
        if result.outcome is FrameOutcome.INVALID:
            raise InvalidInputError(
                f"the database refused this message ({result.reason}); do not resend it",
                code=ErrorCode.INVALID_FRAME,
            )
        if result.outcome is FrameOutcome.REFUSED:
            raise GoneError("session is not active; nothing was stored")
        assert result.message_id is not None
        count = result.message_count
        if count is None:  # a duplicate: the batch did not bump the counter
            count = await message_count(self.pool, session_id)
        return StoredMessage(
            result.message_id, frame.word_count, result.outcome is FrameOutcome.DUPLICATE, count
        )

    async def submit_frame(self, stream: CandidateStream, frame: TranscriptFrame) -> None:
        """Queue a candidate socket's frame; the stream hears its outcome right after its batch
        commits (the WebSocket hot path: no future, no extra task per frame)."""
        new = NewFrame(
            stream.session_id, frame.round_number, frame.seq, frame.role, frame.text,
            frame.timestamp,
        )
        stream.reserve()
        pending = _Pending(new, _transcript_event(new), stream)
        try:
            await self.committer.submit_with(
                pending, functools.partial(_answer, stream, frame.seq, frame.ref)
            )
        except BatcherClosed:
            stream.refused(
                frame.ref or str(frame.seq),
                ErrorCode.UNAVAILABLE,
                "gateway is shutting down; resend after reconnect",
            )

    async def submit_correction(
        self, stream: CandidateStream, frame: TranscriptCorrectionFrame
    ) -> None:
        """Queue a candidate socket's correction behind its frames (same committer, same
        order); the stream hears its outcome right after its batch commits."""
        c = Correction(stream.session_id, frame.round_number, frame.seq, frame.revision, frame.text)
        ref = frame.ref or f"c{frame.seq}.{frame.revision}"
        stream.reserve()
        try:
            await self.committer.submit_with(
                PendingCorrection(c, stream),
                functools.partial(corrections.answer_correction, stream, c, ref),
            )
        except BatcherClosed:
            stream.refused(
                ref, ErrorCode.UNAVAILABLE, "gateway is shutting down; resend after reconnect"
            )

    async def correct_message(
        self, session_id: uuid.UUID, round_number: int, seq: int, revision: int, text: str
    ) -> CorrectedMessage:
        """The REST path of a correction: the same committer, answered after its commit."""
        c = Correction(session_id, round_number, seq, revision, text)
        state = await self.hub.acquire(c.session_id)
        if state is None:
            raise NotFoundError("session not found")
        if state.ended:
            raise GoneError("session has ended")
        try:
            applied = await (await self.committer.submit(PendingCorrection(c)))
        except BatcherClosed:
            raise UnavailableError("gateway is shutting down; retry") from None
        except DB_ERRORS:
            raise UnavailableError("database unavailable; nothing was stored, retry") from None
        assert isinstance(applied, CorrectionApplied)
        result = applied.result
        corrections.raise_for_outcome(c, result)
        assert result.message_id is not None
        role: Literal["user", "assistant"] = "user" if result.role == "user" else "assistant"
        return CorrectedMessage(
            result.message_id,
            role,
            result.previous_text or "",
            result.outcome is CorrectionOutcome.DUPLICATE,
        )

    async def _store(self, batch: list[_Item]) -> list[_Outcome]:
        """Insert the batch, except frames of a socket whose earlier commit failed (they must
        not be stored before the failed one is resent). A failure breaks every socket in the
        batch before the committer frees its sessions, so no later batch stores past it."""
        kept = [p for p in batch if p.fence is None or not p.fence.broken]
        try:
            async with self.pool.acquire() as conn:
                only_frames = [p.frame for p in kept if isinstance(p, _Pending)]
                if len(only_frames) == len(kept):  # the usual case: no correction
                    # A row PostgreSQL refuses fails alone; the others are stored, in order.
                    stored: list[_Outcome] = list(
                        await insert_frames_isolating(conn, only_frames)
                    )
                else:
                    async with conn.transaction():
                        stored = await self._store_mixed(conn, kept)
        except BaseException:
            for p in kept:
                if p.fence is not None:
                    p.fence.fence()
            raise
        if len(kept) == len(batch):
            return stored
        results = iter(stored)
        return [
            (corrections.FENCED if isinstance(p, PendingCorrection) else _FENCED)
            if p.fence is not None and p.fence.broken
            else next(results)
            for p in batch
        ]

    async def _store_mixed(self, conn: Conn, batch: list[_Item]) -> list[_Outcome]:
        """Frames and corrections in arrival order, in the caller's transaction: each run of
        frames is one insert, each correction one call, so a correction sees the message it
        corrects when that message came first (even in the same batch)."""
        out: list[_Outcome] = []
        run: list[NewFrame] = []
        for item in [*batch, None]:
            if isinstance(item, _Pending):
                run.append(item.frame)
                continue
            if run:
                out += await insert_frames(conn, run)
                run = []
            if item is None:
                break
            c = item.correction
            result = await correct_transcript(conn, c)
            wire = None
            if result.outcome is CorrectionOutcome.STORED:
                assert result.event_id is not None
                event = corrections.correction_event(c, result)
                wire = corrections.encode_event(event, result.event_id, c.session_id)
                await insert_events(
                    conn, [EventRow(c.session_id, result.event_id, "transcript_updated", wire)]
                )
            out.append(CorrectionApplied(result, wire))
        return out

    async def _deliver(self, batch: list[_Item], results: list[_Outcome]) -> None:
        """Committed: publish in event order, feed the hub's windows, trigger analyses."""
        every = self.settings.analysis_every
        for i, (pending, result) in enumerate(zip(batch, results, strict=True)):
            if i and i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # fan-out of a big batch: let other sockets in between
            if isinstance(pending, PendingCorrection):
                assert isinstance(result, CorrectionApplied)
                self._deliver_correction(pending.correction, result)
                continue
            assert isinstance(result, FrameResult)
            frame = pending.frame
            (_frames_fenced if result is _FENCED else _frames_by_outcome[result.outcome]).inc()
            if result.outcome is not FrameOutcome.STORED:
                continue
            assert result.event_id is not None and result.message_count is not None
            wire = frames.numbered_transcript_event(
                pending.event, result.event_id, result.message_count
            )
            self.bus.publish(BusMessage(frame.session_id, Audience.PANELS, wire, result.event_id))
            state = self.hub.get(frame.session_id)
            if state is not None:
                line = RawLine(frame.role, frame.text, frame.seq, result.timestamp)
                self.hub.record_transcript(state, line, result.message_count)
            if self.on_frame is not None:
                self.on_frame(frame.session_id)
            if result.message_count % every == 0 and self.on_trigger is not None:
                trigger = Trigger(frame.session_id, TriggerReason.COUNT, result.message_count)
                self.on_trigger(trigger)

    def _deliver_correction(self, c: Correction, applied: CorrectionApplied) -> None:
        """Committed: panels get `transcript_updated`, the hub's analysis window the new text
        (no trigger: a correction is not a new message)."""
        result = applied.result
        _corrections_total.labels(result.outcome.value).inc()
        if applied.wire is None or result.event_id is None:
            return
        self.bus.publish(BusMessage(c.session_id, Audience.PANELS, applied.wire, result.event_id))
        _events_by_audience[Audience.PANELS].inc()
        state = self.hub.get(c.session_id)
        if state is not None:
            self.hub.replace_transcript(state, c.seq, result.role or "", c.text)

    @staticmethod
    def _on_batch(rows: int, stored_s: float, delivered_s: float) -> None:
        _commit_rows.inc(rows)
        _commit_batches.observe(stored_s)
        _delivery_batches.observe(delivered_s)

    # -- commands and suggestions -------------------------------------------------------------

    async def apply(self, state: SessionState, suggestion_id: uuid.UUID) -> ApplyOutcome:
        """Turn a suggestion into a command (the design mapping); applying twice: one command."""
        sid = state.session_id
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _lock_suggestion(conn, sid, suggestion_id)
            if row["command_id"] is not None:
                return ApplyOutcome(row["command_id"], created=False)
            category = row["suggestion_category"] or row["analysis_type"]
            mapped = frames.command_for_suggestion(category, row["suggestion_text"], row["label"])
            if mapped is None:
                raise GatewayError(
                    "follow-up questions are for the interviewer to ask; they cannot be applied",
                    code=ErrorCode.NOT_APPLICABLE,
                )
            command_type, payload = mapped
            command = await command_store.insert_command(
                conn, sid, row["round_number"], command_type, payload, "ai_suggested", suggestion_id
            )
            await command_store.mark_applied(conn, suggestion_id)
            messages = await self.emit(
                conn,
                sid,
                [
                    frames.command_frame(command),
                    frames.suggestion_updated_event(suggestion_id, "applied", command["id"]),
                ],
            )
        self.publish(messages)
        self.bus.publish(
            BusMessage(sid, Audience.CANDIDATE, encode(frames.command_frame(command)))
        )
        log.info("session %s: suggestion %s applied as %s", sid, suggestion_id, command_type)
        return ApplyOutcome(command["id"], created=True)

    async def dismiss(self, state: SessionState, suggestion_id: uuid.UUID) -> bool:
        sid = state.session_id
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _lock_suggestion(conn, sid, suggestion_id)
            if row["command_id"] is not None:
                raise GatewayError("suggestion was already applied", code=ErrorCode.NOT_APPLICABLE)
            if row["asked_at"] is not None:
                raise GatewayError("that question was already asked", code=ErrorCode.NOT_APPLICABLE)
            if row["dismissed"]:
                return False
            await command_store.dismiss_suggestion(conn, suggestion_id)
            messages = await self.emit(
                conn, sid, [frames.suggestion_updated_event(suggestion_id, "dismissed")]
            )
        self.publish(messages)
        return True

    async def mark_asked(self, state: SessionState, suggestion_id: uuid.UUID) -> bool:
        """A follow-up question the interviewer asked: recorded and counted like an apply."""
        sid = state.session_id
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _lock_suggestion(conn, sid, suggestion_id)
            category = row["suggestion_category"] or row["analysis_type"]
            if category not in ("followup_question", "followup"):
                raise GatewayError(
                    "only follow-up questions are asked; apply or dismiss the others",
                    code=ErrorCode.NOT_APPLICABLE,
                )
            if row["dismissed"]:
                raise GatewayError("that question was dismissed", code=ErrorCode.NOT_APPLICABLE)
            if row["asked_at"] is not None:
                return False
            await command_store.mark_asked(conn, suggestion_id)
            messages = await self.emit(
                conn, sid, [frames.suggestion_updated_event(suggestion_id, "asked")]
            )
        self.publish(messages)
        return True

    async def manual_command(
        self, state: SessionState, command_type: str, payload: dict[str, Any]
    ) -> uuid.UUID:
        sid = state.session_id
        async with self.pool.acquire() as conn, conn.transaction():
            command = await command_store.insert_command(
                conn, sid, state.round_number, command_type, payload, "manual"
            )
            messages = await self.emit(conn, sid, [frames.command_frame(command)])
        self.publish(messages)
        self.bus.publish(
            BusMessage(sid, Audience.CANDIDATE, encode(frames.command_frame(command)))
        )
        if command_type == "end_call" and self.on_trigger is not None:
            self.on_trigger(Trigger(sid, TriggerReason.FINAL))  # the call is over: score it
        return uuid.UUID(str(command["id"]))

    async def command_delivered(self, session_id: uuid.UUID, command_id: uuid.UUID) -> bool:
        """The candidate injected the command; False when it was recorded already."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await command_store.mark_delivered(conn, session_id, command_id):
                    return False
                messages = await self.emit(
                    conn, session_id, [frames.command_delivered_event(command_id)]
                )
        except DB_ERRORS as err:
            raise UnavailableError(f"database unavailable: {err}") from None
        self.publish(messages)
        return True

    async def pending_command_frames(self, session_id: uuid.UUID) -> list[bytes]:
        rows = await command_store.pending_commands(self.pool, session_id)
        return [encode(frames.command_frame(r)) for r in rows]

    # -- lifecycle ------------------------------------------------------------------------------

    async def presence(self, session_id: uuid.UUID, connected: bool) -> None:
        try:
            await self.emit_now(session_id, [frames.presence_event(connected)])
        except DB_ERRORS as err:
            log.warning("could not record presence for %s: %s", session_id, err)

    async def session_ended(self, session_id: uuid.UUID) -> None:
        """Hook run after `POST /api/sessions/{id}/end` commits: tell every client, then close."""
        async with self.pool.acquire() as conn, conn.transaction():
            ended_at = await session_ended_at(conn, session_id)
            messages = await self.emit(conn, session_id, [frames.session_ended_event(ended_at)])
        for message in messages:
            self.bus.publish(BusMessage(session_id, Audience.END, message.data, message.event_id))

    # -- joining ------------------------------------------------------------------------------

    async def join_candidate(self, state: SessionState, stream: CandidateStream) -> list[bytes]:
        """Greet a candidate socket: `hello` with the seq to resume after, then the commands
        it has not acknowledged yet (returned, to queue after the hello)."""
        sid = state.session_id
        try:
            async with self.pool.acquire() as conn:
                resume_after = await last_seq(conn, sid, state.round_number)
            pending = await self.pending_command_frames(sid)
        except DB_ERRORS as err:
            raise UnavailableError(f"database unavailable: {err}") from None
        stream.hello(state.round_number, resume_after)
        return pending

    async def join_panel(self, state: SessionState, after: int | None) -> tuple[list[bytes], int]:
        """What a panel socket is sent first (a snapshot, or the events after `after`), and the
        last event id that covers, from which it goes live."""
        try:
            backlog = (
                await self.fetch_events(state.session_id, after, limit=MAX_BACKLOG + 1)
                if after is not None
                else None
            )
            plan = plan_resume(after, backlog, state.next_event_id)
            if plan.snapshot:
                data, last = await self.snapshot(state, reset=plan.reset)
                return [data], last
        except DB_ERRORS as err:
            raise UnavailableError(f"database unavailable: {err}") from None
        return [data for _, data in plan.replay], plan.live_from

    async def panel_action(self, state: SessionState, frame: PanelAction) -> None:
        """A panel's steering frame; a refusal raises a `GatewayError` for an `error` frame."""
        try:
            if isinstance(frame, ApplyFrame):
                await self.apply(state, frame.suggestion_id)
            elif isinstance(frame, DismissFrame):
                await self.dismiss(state, frame.suggestion_id)
            elif isinstance(frame, MarkAskedFrame):
                await self.mark_asked(state, frame.suggestion_id)
            elif isinstance(frame, ManualCommandFrame):
                await self.manual_command(state, frame.command_type, frame.payload)
            else:
                if self.on_trigger is None:
                    raise UnavailableError("analysis is not running in this gateway")
                self.on_trigger(Trigger(state.session_id, TriggerReason.MANUAL))
        except DB_ERRORS as err:
            log.warning("panel frame failed for %s: %s", state.session_id, err)
            raise UnavailableError("database unavailable; try again") from None

    # -- snapshots ------------------------------------------------------------------------------

    async def snapshot(self, state: SessionState, *, reset: bool = False) -> tuple[bytes, int]:
        snap = await load_snapshot(self.pool, state.session_id)
        if snap is None:
            raise NotFoundError("session not found")
        frame = snapshot_frame(snap, self.settings, candidate_connected=state.candidate is not None)
        if reset:
            frame["reset"] = True
        return encode(frame), snap.session.last_event_id


EVICT_EVERY_S = 30.0


async def _evict_idle(live: LiveService) -> None:
    while True:
        await asyncio.sleep(EVICT_EVERY_S)
        evicted = live.hub.evict_idle()
        if evicted:
            log.debug("evicted %d idle session(s)", evicted)


@contextlib.asynccontextmanager
async def live_service(pool: Pool, dsn: str, settings: Settings) -> AsyncIterator[LiveService]:
    """The live service on the bus the settings ask for, with its idle-session evictor; on
    exit, in-flight commits drain before the bus stops."""
    pg_bus = PostgresBus(dsn, pool) if settings.bus == "postgres" else None
    live = LiveService(pool, settings, pg_bus or LocalBus())
    if pg_bus is not None:
        pg_bus.interested = lambda sid: live.hub.get(sid) is not None
        await pg_bus.start()
    await live.start()
    evictor = asyncio.get_running_loop().create_task(_evict_idle(live), name="hub-evictor")
    try:
        yield live
    finally:
        evictor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await evictor
        await live.stop()
        if pg_bus is not None:
            await pg_bus.stop()
