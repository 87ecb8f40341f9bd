"""The live-session service: the one entry point transports (WebSocket, REST) call.

It composes storage transactions with the realtime core: frames go through group commit,
every state change writes its `live_events` rows in the same transaction that makes it, and
only after commit are the serialized events published on the bus for the hub to fan out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from analysis.models import TranscriptLine
from analysis.rubrics import rubric_for
from gateway import frames
from gateway.batcher import YIELD_EVERY, BatcherClosed, GroupCommitter
from gateway.bus import Audience, BusMessage, EventBus
from gateway.errors import ErrorCode, GatewayError, NotFoundError
from gateway.hub import SessionHub, SessionState
from gateway.metrics import REGISTRY
from gateway.ports import SessionSeed
from gateway.protocol import encode
from gateway.scheduler import Trigger
from gateway.settings import Settings
from handlers.event_log import load_event_frames
from storage import commands as command_store
from storage.events import EventRow, bump_counters, insert_events
from storage.live import Snapshot, ensure_counters, load_session_row, load_snapshot
from storage.pool import Conn
from storage.transcripts import (
    FrameOutcome,
    FrameResult,
    NewFrame,
    insert_frames_isolating,
    recent_lines,
)

__all__ = ["ApplyOutcome", "FrameRejected", "LiveService"]

log = logging.getLogger("gateway.live")

_frames_total = REGISTRY.counter(
    "gateway_transcript_frames_total", "transcript frames by outcome", ("outcome",)
)
_commit_batches = REGISTRY.histogram(
    "gateway_commit_batch_seconds", "group commit: one batch's transaction"
)
_delivery_batches = REGISTRY.histogram(
    "gateway_commit_delivery_seconds", "group commit: publishing and acking a committed batch"
)
_commit_rows = REGISTRY.counter("gateway_commit_rows_total", "rows written by group commit")
_events_total = REGISTRY.counter("gateway_events_published_total", "events published", ("type",))
_event_log_batches = REGISTRY.counter(
    "gateway_event_log_batches_total", "transactions of the lifecycle events' group commit"
)
_event_log_items = REGISTRY.counter(
    "gateway_event_log_items_total", "emits (one session's events) in those transactions"
)


class FrameRejected(GatewayError):
    """A frame that was not stored (conflict, ended session); answered with an error frame."""

    status = 409


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    command_id: uuid.UUID
    created: bool


async def _lock_suggestion(
    conn: Conn, session_id: uuid.UUID, suggestion_id: uuid.UUID
) -> asyncpg.Record:
    row = await command_store.lock_suggestion(conn, session_id, suggestion_id)
    if row is None:
        raise NotFoundError("no such suggestion in this session", code=ErrorCode.UNKNOWN_SUGGESTION)
    return row


@dataclass(frozen=True, slots=True)
class _Pending:
    """A frame waiting for group commit, with its `transcript` event serialized up front (all
    but the ids the database assigns), so the transaction does no encoding."""

    frame: NewFrame
    event: bytes


@dataclass(frozen=True, slots=True)
class _Emit:
    """Events of one session waiting for the event log's group commit."""

    session_id: uuid.UUID
    events: list[dict[str, Any]]


# Lifecycle events (presence, failed analyses) of many sessions share one transaction: a
# thousand sockets closing at once is a few transactions rather than a thousand.
EVENT_BATCH = 500


def _count_event_batch(items: int, stored_s: float, delivered_s: float) -> None:
    _event_log_batches.inc()
    _event_log_items.inc(items)


def _session_of(pending: _Pending) -> uuid.UUID:
    return pending.frame.session_id


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
    def __init__(self, pool: asyncpg.Pool, settings: Settings, bus: EventBus) -> None:
        self.pool = pool
        self.settings = settings
        self.bus = bus
        self.hub = SessionHub(self, window=settings.analysis_window)
        self._unsubscribe = bus.subscribe(self.hub.on_message)
        self.committer: GroupCommitter[_Pending, FrameResult] = GroupCommitter(
            self._store,
            max_batch=settings.commit_max_batch,
            max_delay_s=settings.commit_max_delay_ms / 1000,
            max_in_flight=settings.commit_in_flight,
            key=_session_of,
            deliver=self._deliver,
            on_batch=self._on_batch,
        )
        self.event_log: GroupCommitter[_Emit, list[BusMessage] | Exception] = GroupCommitter(
            self._store_events,
            max_batch=EVENT_BATCH,
            deliver=self._publish_emitted,
            on_batch=_count_event_batch,
        )
        self.on_trigger: Callable[[Trigger], object] | None = None

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
            status=row.status,
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
            _events_total.inc(1, message.audience.value)

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
        except (asyncpg.PostgresError, NotFoundError) as err:
            if len(batch) == 1:
                return [err]
        outcomes: list[list[BusMessage] | Exception] = []
        for item in batch:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    outcomes += await self._emit_many(conn, [item])
            except (asyncpg.PostgresError, NotFoundError) as err:
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

    async def submit(self, frame: NewFrame) -> asyncio.Future[FrameResult]:
        """Queue a frame for group commit; the future resolves once its batch has committed."""
        return await self.committer.submit(_Pending(frame, _transcript_event(frame)))

    async def submit_with(
        self, frame: NewFrame, done: Callable[[FrameResult | None, BaseException | None], None]
    ) -> None:
        """Queue a frame; `done` runs right after its batch commits (the WebSocket hot path)."""
        await self.committer.submit_with(_Pending(frame, _transcript_event(frame)), done)

    async def _store(self, batch: list[_Pending]) -> list[FrameResult]:
        async with self.pool.acquire() as conn:
            return await insert_frames_isolating(conn, [p.frame for p in batch])

    async def _deliver(self, batch: list[_Pending], results: list[FrameResult]) -> None:
        """Committed: publish in event order, feed the hub's windows, trigger analyses."""
        every = self.settings.analysis_every
        for i, (pending, result) in enumerate(zip(batch, results, strict=True)):
            frame = pending.frame
            if i and i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # fan-out of a big batch: let other sockets in between
            _frames_total.inc(1, result.outcome.value)
            if result.outcome is not FrameOutcome.STORED:
                continue
            assert result.event_id is not None and result.message_count is not None
            wire = frames.numbered_transcript_event(
                pending.event, result.event_id, result.message_count
            )
            self.bus.publish(BusMessage(frame.session_id, Audience.PANELS, wire, result.event_id))
            state = self.hub.get(frame.session_id)
            if state is not None:
                line = TranscriptLine.model_construct(  # validated at the edge already
                    role=frame.role,
                    text=frame.text,
                    seq=frame.seq,
                    timestamp=result.timestamp,
                )
                self.hub.record_transcript(state, line, result.message_count)
            if result.message_count % every == 0 and self.on_trigger is not None:
                self.on_trigger(Trigger(frame.session_id, "count", result.message_count))

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
                    frames.command_event(command),
                    frames.suggestion_updated_event(suggestion_id, "applied", command["id"]),
                ],
            )
        self.publish(messages)
        self.bus.publish(
            BusMessage(sid, Audience.CANDIDATE, encode(frames.candidate_command(command)))
        )
        log.info("session %s: suggestion %s applied as %s", sid, suggestion_id, command_type)
        return ApplyOutcome(command["id"], created=True)

    async def dismiss(self, state: SessionState, suggestion_id: uuid.UUID) -> bool:
        sid = state.session_id
        async with self.pool.acquire() as conn, conn.transaction():
            row = await _lock_suggestion(conn, sid, suggestion_id)
            if row["command_id"] is not None:
                raise GatewayError("suggestion was already applied", code=ErrorCode.NOT_APPLICABLE)
            if row["dismissed"]:
                return False
            await command_store.dismiss_suggestion(conn, suggestion_id)
            messages = await self.emit(
                conn, sid, [frames.suggestion_updated_event(suggestion_id, "dismissed")]
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
            messages = await self.emit(conn, sid, [frames.command_event(command)])
        self.publish(messages)
        self.bus.publish(
            BusMessage(sid, Audience.CANDIDATE, encode(frames.candidate_command(command)))
        )
        return uuid.UUID(str(command["id"]))

    async def command_delivered(self, session_id: uuid.UUID, command_id: uuid.UUID) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await command_store.mark_delivered(conn, session_id, command_id):
                return False
            messages = await self.emit(
                conn, session_id, [frames.command_delivered_event(command_id)]
            )
        self.publish(messages)
        return True

    async def pending_command_frames(self, session_id: uuid.UUID) -> list[bytes]:
        rows = await command_store.pending_commands(self.pool, session_id)
        return [encode(frames.candidate_command(r)) for r in rows]

    # -- lifecycle ------------------------------------------------------------------------------

    async def presence(self, session_id: uuid.UUID, connected: bool) -> None:
        try:
            await self.emit_now(session_id, [frames.presence_event(connected)])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning("could not record presence for %s: %s", session_id, err)

    async def session_ended(self, session_id: uuid.UUID) -> None:
        """Hook run after `POST /api/sessions/{id}/end` commits: tell every client, then close."""
        async with self.pool.acquire() as conn, conn.transaction():
            ended_at = await conn.fetchval(
                "SELECT ended_at FROM interview_sessions WHERE id = $1", session_id
            )
            messages = await self.emit(conn, session_id, [frames.session_ended_event(ended_at)])
        for message in messages:
            self.bus.publish(BusMessage(session_id, Audience.END, message.data, message.event_id))

    # -- snapshots ------------------------------------------------------------------------------

    async def snapshot(self, state: SessionState, *, reset: bool = False) -> tuple[bytes, int]:
        snap = await load_snapshot(self.pool, state.session_id)
        if snap is None:
            raise NotFoundError("session not found")
        frame = snapshot_frame(snap, self.settings, candidate_connected=state.candidate is not None)
        if reset:
            frame["reset"] = True
        return encode(frame), snap.session.last_event_id


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def snapshot_frame(
    snap: Snapshot, settings: Settings, *, candidate_connected: bool
) -> dict[str, Any]:
    from analysis.models import band_for

    s = snap.session
    rubric = rubric_for(s.blueprint, settings.analysis_weights or None)
    meter = None
    if snap.meter is not None:
        m = snap.meter
        meter = {
            "analysis_id": str(m["run_id"]),
            "score": m["meter_score"],
            "band": band_for(m["meter_score"]),
            "factors": m["meter_factors"] or {},
            "reasoning": m["reasoning"],
            "at": _iso(m["triggered_at"]),
        }
    return {
        "type": "snapshot",
        "session": {
            "id": str(s.id),
            "status": s.status,
            "round_number": s.round_number,
            "blueprint": s.blueprint,
            "language": s.language,
            "persona": {k: (str(v) if k == "id" else v) for k, v in s.persona.items()}
            if s.persona
            else None,
            "scenario": {k: str(v) for k, v in s.scenario.items()} if s.scenario else None,
            "rubric": {
                "blueprint": rubric.blueprint,
                "title": rubric.title,
                "factors": [
                    {"name": f.name, "label": f.label, "weight": f.weight} for f in rubric.factors
                ],
            },
        },
        "say_meter": meter,
        "suggestions": [
            {
                "suggestion_id": str(r["id"]),
                "analysis_id": str(r["run_id"]) if r["run_id"] else None,
                "type": r["suggestion_category"],
                "text": r["suggestion_text"],
                "priority": r["priority"],
                "label": r["label"],
                "status": "open",
            }
            for r in snap.suggestions
        ],
        "transcript": [
            {
                "message_id": str(r["id"]),
                "seq": r["seq"],
                "round_number": r["round_number"],
                "role": r["role"],
                "text": r["text"],
                "timestamp": _iso(r["timestamp"]),
                "word_count": r["word_count"],
            }
            for r in snap.transcript
        ],
        "score_history": [
            {
                "analysis_id": str(r["run_id"]),
                "score": r["meter_score"],
                "band": band_for(r["meter_score"]),
                "at": _iso(r["triggered_at"]),
            }
            for r in snap.history
        ],
        "alerts": [{**r["payload"], "event_id": r["event_id"]} for r in reversed(snap.alerts)],
        "message_count": s.message_count,
        "candidate_connected": candidate_connected,
        "last_event_id": s.last_event_id,
    }
