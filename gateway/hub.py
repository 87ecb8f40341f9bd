"""The session hub: the one owner of every active session's live state.

Per session it keeps the recent-message window analysis reads, the message count, the panel
subscribers and the candidate link. It receives committed events from the bus and delivers them
to panels strictly in `event_id` order: an event that arrives early (another writer committed
first but published later, or another process) is held until the gap fills, and a gap that does
not fill within `gap_timeout_s` is read back from the database. Delivery is `put()` into each
socket's bounded outbox: serialized once, never awaited, so one slow socket delays nobody.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, NamedTuple, TypeVar

from analysis.models import TranscriptLine
from gateway.bus import Audience, BusMessage
from gateway.errors import CloseCode
from gateway.metrics import histogram
from gateway.outbox import Outbox
from gateway.ports import HubStore, SessionSeed, SessionStatus
from gateway.wsframe import text_frame

__all__ = ["CandidateLink", "PanelSubscription", "RawLine", "SessionHub", "SessionState"]


class RawLine(NamedTuple):
    """A stored transcript line as the live path has it; `SessionHub.window` turns it into a
    `TranscriptLine` when an analysis reads it."""

    role: Literal["user", "assistant"]
    text: str
    seq: int | None
    timestamp: datetime | None


log = logging.getLogger(__name__)

# Handing one event to every panel socket of its session: with the transports keeping up this
# is one buffered write per socket, so its time is the kernel's per-send cost times the panels.
_FAN_OUT_MS = (0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 12.5, 15, 20, 25, 30, 40, 50, 75, 100, 250)
_fan_out_seconds = histogram(
    "gateway_fanout_seconds",
    "one event handed to every panel socket of its session",
    tuple(ms / 1000 for ms in _FAN_OUT_MS),
)

CloseFn = Callable[[CloseCode, str], None]


# Events or frames parked for a socket that is still being greeted (a database read): beyond
# this many it is closed to reconnect, and nothing more is sent to it, so it never sees a gap
# (a panel resumes with ?after=; a candidate's commands are durable and sent again on connect).
MAX_PARKED = 256

T = TypeVar("T")


class Parked(list[T], Generic[T]):
    """What a socket still being greeted is sent meanwhile, in order. Past `MAX_PARKED` it is
    emptied, the socket closed, and `dropped` for good: nothing more is held or sent."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False

    def hold(self, item: T, close: CloseFn, reason: str) -> None:
        if self.dropped:
            return
        if len(self) < MAX_PARKED:
            self.append(item)
        else:
            self.dropped = True
            self.clear()
            close(CloseCode.TRY_AGAIN_LATER, reason)


@dataclass(eq=False, slots=True)
class PanelSubscription:
    """A panel socket's place in the hub. While `backlog` is held, live events are parked
    there so the transport can send the database backlog first (resume without gaps)."""

    outbox: Outbox
    close: CloseFn
    backlog: Parked[tuple[int, bytes]] | None = field(default_factory=Parked)
    last_event_id: int = 0

    def go_live(self, after: int) -> None:
        """Send parked events newer than `after` (already sent from the database), then go live."""
        parked = self.backlog
        if parked is not None and parked.dropped:
            return
        self.backlog = None
        self.last_event_id = after
        for event_id, data in parked or ():
            self.offer(event_id, data)

    def offer(self, event_id: int, data: bytes, wire: bytes | None = None) -> None:
        if self.backlog is None:
            if event_id > self.last_event_id:
                self.last_event_id = event_id
                self.outbox.put(data, wire)
        else:
            self.backlog.hold(
                (event_id, data), self.close, "too many events while joining: reconnect"
            )


@dataclass(eq=False, slots=True)
class CandidateLink:
    """The session's candidate socket. Until `go_live`, frames for it are parked: the socket's
    first frame must be its `hello`, and the greeting reads the database while the link is
    already attached (attached first, so no command published meanwhile is missed)."""

    outbox: Outbox
    close: CloseFn
    parked: Parked[bytes] | None = field(default_factory=Parked)

    def send(self, data: bytes) -> None:
        if self.parked is None:
            self.outbox.put(data)
        else:
            self.parked.hold(data, self.close, "too many frames while connecting: reconnect")

    def go_live(self) -> None:
        """The greeting is queued: send what was parked, in order, then send directly."""
        parked = self.parked
        if parked is not None and parked.dropped:
            return
        self.parked = None
        for data in parked or ():
            self.outbox.put(data)


@dataclass(eq=False, slots=True)
class SessionState:
    session_id: uuid.UUID
    status: SessionStatus
    round_number: int
    blueprint: str
    language: str
    message_count: int
    next_event_id: int
    window: deque[TranscriptLine | RawLine]
    window_stale: bool = False
    panels: set[PanelSubscription] = field(default_factory=set)
    candidate: CandidateLink | None = None
    held: dict[int, bytes] = field(default_factory=dict)
    gap_timer: asyncio.TimerHandle | None = None
    last_active: float = field(default_factory=time.monotonic)

    @property
    def ended(self) -> bool:
        return self.status.ended

    @property
    def idle(self) -> bool:
        return not self.panels and self.candidate is None and not self.held


class SessionHub:
    def __init__(
        self,
        store: HubStore,
        *,
        window: int = 20,
        idle_ttl_s: float = 120.0,
        gap_timeout_s: float = 0.25,
    ) -> None:
        self._store = store
        self._window = window
        self._idle_ttl = idle_ttl_s
        self._gap_timeout = gap_timeout_s
        self._sessions: dict[uuid.UUID, SessionState] = {}
        self._loading: dict[uuid.UUID, asyncio.Future[SessionState | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    # -- session state -------------------------------------------------------------------

    def get(self, session_id: uuid.UUID) -> SessionState | None:
        return self._sessions.get(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[SessionState]:
        return iter(list(self._sessions.values()))

    async def acquire(self, session_id: uuid.UUID) -> SessionState | None:
        """The session's state, warmed from the database on first use (single-flight)."""
        state = self._sessions.get(session_id)
        if state is not None:
            state.last_active = time.monotonic()
            return state
        pending = self._loading.get(session_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SessionState | None] = asyncio.get_running_loop().create_future()
        self._loading[session_id] = future
        try:
            seed = await self._store.load_session(session_id, self._window)
            state = self._create(seed) if seed is not None else None
            future.set_result(state)
            return state
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # mark retrieved; waiters re-raise it themselves
            raise
        finally:
            del self._loading[session_id]

    def _create(self, seed: SessionSeed) -> SessionState:
        existing = self._sessions.get(seed.session_id)
        if existing is not None:
            return existing
        state = SessionState(
            session_id=seed.session_id,
            status=seed.status,
            round_number=seed.round_number,
            blueprint=seed.blueprint,
            language=seed.language,
            message_count=seed.message_count,
            next_event_id=seed.last_event_id + 1,
            window=deque(seed.recent, maxlen=self._window),
        )
        self._sessions[seed.session_id] = state
        return state

    def record_transcript(
        self, state: SessionState, line: TranscriptLine | RawLine, message_count: int
    ) -> None:
        """Keep the analysis window; a count that jumps means another writer added messages.

        The live path records a `RawLine` (a plain tuple, validated at the edge already):
        a `TranscriptLine` costs about 3 µs to construct, per stored frame, and most lines
        leave the window before an analysis reads them twice; `window` makes the models."""
        if message_count > state.message_count + 1:
            state.window_stale = True
        if message_count > state.message_count:
            state.message_count = message_count
            state.window.append(line)
        state.last_active = time.monotonic()

    def replace_transcript(self, state: SessionState, seq: int, role: str, text: str) -> None:
        """A correction: the window's line for `seq` (the latest with that role) gets the new
        text; a line already out of the window needs nothing."""
        for i in range(len(state.window) - 1, -1, -1):
            line = state.window[i]
            if line.seq == seq and line.role == role:
                state.window[i] = (
                    line._replace(text=text)
                    if isinstance(line, RawLine)
                    else line.model_copy(update={"text": text})
                )
                break
        state.last_active = time.monotonic()

    async def window(self, session_id: uuid.UUID) -> list[TranscriptLine]:
        """The last `window` messages; reloaded from the database if another writer interleaved."""
        state = await self.acquire(session_id)
        if state is None:
            return []
        if state.window_stale:
            seed = await self._store.load_session(session_id, self._window)
            if seed is not None:
                state.window = deque(seed.recent, maxlen=self._window)
                state.message_count = max(state.message_count, seed.message_count)
            state.window_stale = False
        lines = [
            line
            if isinstance(line, TranscriptLine)
            else TranscriptLine.model_construct(  # validated at the edge already
                role=line.role, text=line.text, seq=line.seq, timestamp=line.timestamp
            )
            for line in state.window
        ]
        state.window = deque(lines, maxlen=self._window)  # each model is made once
        return lines

    def evict_idle(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        stale = [
            sid
            for sid, s in self._sessions.items()
            if s.idle and now - s.last_active > self._idle_ttl
        ]
        for sid in stale:
            state = self._sessions.pop(sid)
            if state.gap_timer:
                state.gap_timer.cancel()
        return len(stale)

    # -- subscribers ---------------------------------------------------------------------

    @contextmanager
    def panel(
        self, state: SessionState, outbox: Outbox, close: CloseFn
    ) -> Iterator[PanelSubscription]:
        """Subscribe a panel; leaving the block unsubscribes, whatever happened inside."""
        sub = PanelSubscription(outbox=outbox, close=close)
        state.panels.add(sub)
        try:
            yield sub
        finally:
            state.panels.discard(sub)
            state.last_active = time.monotonic()

    @asynccontextmanager
    async def candidate(
        self, state: SessionState, outbox: Outbox, close: CloseFn
    ) -> AsyncIterator[CandidateLink]:
        """Attach the session's candidate client, parked until the caller's `go_live`; a newer
        connection replaces (4001) the old."""
        link = CandidateLink(outbox=outbox, close=close)
        previous, state.candidate = state.candidate, link
        if previous is not None:
            previous.close(CloseCode.REPLACED, "replaced by a newer connection")
        try:
            yield link
        finally:
            if state.candidate is link:
                state.candidate = None
            state.last_active = time.monotonic()

    def connections(self) -> tuple[int, int]:
        panels = sum(len(s.panels) for s in self._sessions.values())
        candidates = sum(1 for s in self._sessions.values() if s.candidate is not None)
        return panels, candidates

    # -- delivery from the bus -----------------------------------------------------------

    def on_message(self, message: BusMessage) -> None:
        state = self._sessions.get(message.session_id)
        if state is None:
            return  # nobody here watches this session; its state is warmed fresh when needed
        state.last_active = time.monotonic()
        if message.audience is Audience.CANDIDATE:
            if state.candidate is not None:
                state.candidate.send(message.data)
        elif message.audience is Audience.END:
            self._end(state, message)
        elif message.event_id is not None:
            self._deliver_ordered(state, message.event_id, message.data)

    def _deliver_ordered(self, state: SessionState, event_id: int, data: bytes) -> None:
        if event_id < state.next_event_id:
            return  # already delivered (a gap fill raced the live publish)
        if event_id > state.next_event_id:
            state.held[event_id] = data
            if state.gap_timer is None:
                loop = asyncio.get_running_loop()
                state.gap_timer = loop.call_later(self._gap_timeout, self._fill_gap, state)
            return
        self._fan_out(state, event_id, data)
        state.next_event_id = event_id + 1
        while state.next_event_id in state.held:
            eid = state.next_event_id
            self._fan_out(state, eid, state.held.pop(eid))
            state.next_event_id = eid + 1
        if not state.held and state.gap_timer is not None:
            state.gap_timer.cancel()
            state.gap_timer = None

    @staticmethod
    def _fan_out(state: SessionState, event_id: int, data: bytes) -> None:
        """Serialized once, framed once: every panel gets the very same bytes."""
        if not state.panels:
            return
        start = time.perf_counter()
        wire = text_frame(data)
        for sub in tuple(state.panels):
            sub.offer(event_id, data, wire)
        _fan_out_seconds.observe(time.perf_counter() - start)

    def _fill_gap(self, state: SessionState) -> None:
        state.gap_timer = None
        if not state.held:
            return
        task = asyncio.get_running_loop().create_task(self._fetch_gap(state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_gap(self, state: SessionState) -> None:
        until = min(state.held) - 1
        try:
            events = await self._store.fetch_events(
                state.session_id, state.next_event_id - 1, until
            )
        except Exception:
            log.exception("gap fill failed for session %s; retrying", state.session_id)
            events = []
        if not events:
            if state.held and state.gap_timer is None:
                loop = asyncio.get_running_loop()
                state.gap_timer = loop.call_later(self._gap_timeout * 4, self._fill_gap, state)
            return
        log.debug("filled event gap %s..%s for %s", events[0][0], events[-1][0], state.session_id)
        for event_id, data in events:
            self._deliver_ordered(state, event_id, data)

    def _end(self, state: SessionState, message: BusMessage) -> None:
        state.status = SessionStatus.COMPLETED
        if message.event_id is not None:
            self._deliver_ordered(state, message.event_id, message.data)
        if state.candidate is not None:
            state.candidate.send(message.data)
            state.candidate.close(CloseCode.SESSION_ENDED, "session ended")
        for sub in tuple(state.panels):
            sub.close(CloseCode.SESSION_ENDED, "session ended")

    # -- shutdown ------------------------------------------------------------------------

    def close_all(self, code: CloseCode, reason: str) -> int:
        """Ask every socket to close (each transport closes concurrently); returns the count."""
        count = 0
        for state in self._sessions.values():
            for sub in tuple(state.panels):
                sub.close(code, reason)
                count += 1
            if state.candidate is not None:
                state.candidate.close(code, reason)
                count += 1
        return count
