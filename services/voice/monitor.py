"""Server-side monitor mode (`VOICE_TRANSCRIPT_SOURCE=monitor`): the gateway reads the call.

Once the candidate reports its conversation id (`POST /api/voice/conversation`), the gateway
opens ElevenLabs' real-time monitor socket, `{monitor base}/v1/convai/conversations/{id}/monitor`
with the API key, and feeds `user_transcript`, `agent_response` and
`agent_response_correction` events into the same pipeline as a candidate socket (group commit,
idempotent seq, panels, analysis). Applied commands go back on the same socket as
`{"command_type": "contextual_update", "parameters": {"contextual_update": text}}` or
`{"command_type": "end_call"}`, and are acked (`command_delivered`) once sent.

The monitor's own seq is derived from the vendor's `event_id`, so a duplicated event, or the
last events a reconnected monitor is replayed, store nothing twice: `seq = 2 * (event_id + 1)
+ (1 for the agent)` (a user's and the agent's line of one turn may share an event id). Events
arriving out of order are held briefly (`hold_s`) and released in event-id order; one that comes
later than that is still stored, never lost. A correction replaces the agent's line it follows
(the latest agent line with a lower event id, or the one with its event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson

from gateway import frames
from gateway.errors import (
    ConflictError,
    ErrorCode,
    GatewayError,
    GoneError,
    NotFoundError,
    UnavailableError,
)
from gateway.outbox import Outbox
from gateway.settings import Settings
from services.live import LiveService
from storage.errors import DB_ERRORS

__all__ = ["ConversationMonitor", "EventOrder", "MonitorEvent", "conversation_monitor", "seq_for"]

log = logging.getLogger("gateway.monitor")

Role = Literal["user", "assistant"]
COMMAND_DRAIN_S = 5.0  # a closing monitor waits this long for the command being sent


def seq_for(event_id: int, role: Role) -> int:
    """The gateway seq of a monitored line (distinct for a user and an agent line of a turn)."""
    return 2 * (event_id + 1) + (1 if role == "assistant" else 0)


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """One event of interest: a line (`role`, `text`) or a correction (`corrected`)."""

    event_id: int
    kind: Literal["line", "correction"]
    role: Role
    text: str


def parse_event(data: Any) -> MonitorEvent | None:
    """The event a monitor frame carries, or None for everything else (pings, audio, ...)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    role: Role = "assistant"
    what: Literal["line", "correction"] = "line"
    if kind == "user_transcript":
        body, key, role = data.get("user_transcription_event"), "user_transcript", "user"
    elif kind == "agent_response":
        body, key = data.get("agent_response_event"), "agent_response"
    elif kind == "agent_response_correction":
        body, key = data.get("agent_response_correction_event"), "corrected_agent_response"
        what = "correction"
    else:
        return None
    if not isinstance(body, dict):
        return None
    text, event_id = body.get(key), body.get("event_id")
    if not isinstance(text, str) or not text.strip():
        return None
    if not isinstance(event_id, int) or isinstance(event_id, bool) or not 0 <= event_id < 10**9:
        return None
    return MonitorEvent(event_id, what, role, text)


@dataclass
class EventOrder:
    """Sans-I/O reordering and de-duplication of one conversation's events.

    `push` what arrives; `ready()` is what to apply now, in event-id order: events in sequence
    at once, a gap waited for at most `hold_s` (then the held events go anyway)."""

    hold_s: float = 0.25
    expected: int | None = None  # the next event id, once one was released
    held: dict[int, MonitorEvent] = field(default_factory=dict)
    applied: set[int] = field(default_factory=set)  # keys of events stored (or refused)
    since: float | None = None  # when the oldest held event started waiting

    def push(self, event: MonitorEvent, now: float) -> None:
        key = _key(event)
        if key in self.applied:
            return  # a duplicate, or replayed to a reconnected monitor
        self.held.setdefault(key, event)
        if self.since is None:
            self.since = now

    def ready(self, now: float) -> list[MonitorEvent]:
        out: list[MonitorEvent] = []
        while self.held:
            first = min(self.held)
            event = self.held[first]
            waited = self.since is not None and now - self.since >= self.hold_s
            # the first event may be preceded by late ones too (ids start at 0 or 1)
            gap = event.event_id > (1 if self.expected is None else self.expected)
            if gap and not waited:
                break
            del self.held[first]
            out.append(event)
            self.expected = max(self.expected or 0, event.event_id + 1)
            self.since = now if self.held else None
        return out

    def done(self, event: MonitorEvent) -> None:
        """The event is stored (or refused for good): a copy arriving later is dropped."""
        self.applied.add(_key(event))

    def forget_held(self) -> None:
        """A store failed: what is held is dropped unapplied (a reconnected monitor is replayed
        the recent events)."""
        self.held.clear()
        self.since = None

    def wait_s(self, now: float) -> float | None:
        """How long until held events must go (None: nothing held)."""
        if self.since is None:
            return None
        return max(0.0, self.hold_s - (now - self.since))


def _key(event: MonitorEvent) -> int:
    return event.event_id * 4 + _rank(event)


def _rank(event: MonitorEvent) -> int:
    """Within one event id: the user's line, the agent's line, then its correction."""
    if event.kind == "correction":
        return 2
    return 0 if event.role == "user" else 1


@dataclass
class _Watch:
    session_id: uuid.UUID
    conversation_id: str
    task: asyncio.Task[None] | None = None
    order: EventOrder = field(default_factory=EventOrder)
    agent_lines: dict[int, int] = field(default_factory=dict)  # event id -> seq
    revisions: dict[int, int] = field(default_factory=dict)  # seq -> last revision
    corrections: dict[int, tuple[int, int]] = field(default_factory=dict)  # event id -> (seq, rev)
    stored: int = 0
    ended: str | None = None


class ConversationMonitor:
    """One monitor socket per watched conversation, each a task, reconnecting on drops."""

    def __init__(
        self,
        live: LiveService,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        hold_s: float = 0.25,
        retry_s: float = 0.5,
        max_retries: int = 8,
    ) -> None:
        self.live = live
        self.settings = settings
        self.http = http
        self.hold_s = hold_s
        self.retry_s = retry_s
        self.max_retries = max_retries
        self.watches: dict[uuid.UUID, _Watch] = {}

    @property
    def enabled(self) -> bool:
        return self.settings.voice_transcript_source == "monitor"

    def url(self, conversation_id: str) -> str:
        return f"{self.settings.monitor_base_url}/v1/convai/conversations/{conversation_id}/monitor"

    async def watch(self, session_id: uuid.UUID, conversation_id: str) -> bool:
        """Start monitoring the session's conversation; False if it already is."""
        if not self.enabled:
            raise ConflictError(
                "VOICE_TRANSCRIPT_SOURCE is client: the candidate's client sends the transcript",
                code=ErrorCode.NOT_APPLICABLE,
            )
        if self.settings.elevenlabs_api_key is None:
            raise UnavailableError("monitor mode needs ELEVENLABS_API_KEY")
        state = await self.live.hub.acquire(session_id)
        if state is None:
            raise NotFoundError("session not found")
        if state.ended:
            raise GoneError("session has ended")
        current = self.watches.get(session_id)
        if current is not None and current.task is not None and not current.task.done():
            if current.conversation_id == conversation_id:
                return False
            current.task.cancel()
        watch = _Watch(session_id, conversation_id, order=EventOrder(self.hold_s))
        watch.task = asyncio.get_running_loop().create_task(
            self._run(watch), name=f"monitor-{conversation_id}"
        )
        self.watches[session_id] = watch
        return True

    async def close(self) -> None:
        tasks = [w.task for w in self.watches.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one conversation -----------------------------------------------------------------

    async def _run(self, watch: _Watch) -> None:
        failures = 0
        while watch.ended is None:
            try:
                opened = await self._connect(watch)
            except (aiohttp.ClientError, TimeoutError, OSError, UnavailableError) as err:
                log.warning("monitor %s: %s", watch.conversation_id, err)
                watch.order.forget_held()
                opened = False
            except GatewayError as err:  # the session ended or the database is down
                log.warning("monitor %s stops: %s", watch.conversation_id, err)
                watch.ended = watch.ended or "refused"
                break
            if watch.ended is not None:
                break
            failures = 0 if opened else failures + 1
            if failures > self.max_retries:
                watch.ended = "unreachable"
                break
            await asyncio.sleep(self.retry_s * min(2 ** max(failures - 1, 0), 16))
        log.info("monitor %s ended: %s", watch.conversation_id, watch.ended)

    async def _connect(self, watch: _Watch) -> bool:
        """One monitor socket, until it closes; True if it opened."""
        key = self.settings.elevenlabs_api_key
        assert key is not None
        headers = {"xi-api-key": key.get_secret_value()}
        try:
            ws = await self.http.ws_connect(self.url(watch.conversation_id), headers=headers,
                                            heartbeat=None, autoping=True)
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403, 404):
                watch.ended = f"refused {err.status}"  # a wrong key or an ended conversation
            raise
        async with ws:
            state = await self.live.hub.acquire(watch.session_id)
            if state is None:
                watch.ended = "session gone"
                return True
            outbox = Outbox(
                lambda data: self._command(watch, ws, data),
                self.settings.outbox_max,
                lambda: None,
            )
            writer = asyncio.get_running_loop().create_task(outbox.run())
            try:
                async with self.live.hub.candidate(
                    state, outbox, lambda *_: outbox.close()
                ) as link:
                    for data in await self.live.pending_command_frames(watch.session_id):
                        outbox.put(data)
                    link.go_live()
                    await self._read(watch, ws)
            finally:
                outbox.close()  # a command being sent (end_call) still gets its ack stored
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(writer, COMMAND_DRAIN_S)
            if ws.close_code == 1000:
                watch.ended = "conversation ended"
        return True

    async def _read(self, watch: _Watch, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        order = watch.order
        while True:
            wait = order.wait_s(loop.time())
            try:
                msg = await ws.receive(timeout=wait)
            except TimeoutError:
                await self._apply(watch, order.ready(loop.time()))
                continue
            if msg.type is aiohttp.WSMsgType.TEXT:
                try:
                    event = parse_event(orjson.loads(msg.data))
                except orjson.JSONDecodeError:
                    continue  # garbage: not ours
                if event is not None:
                    order.push(event, loop.time())
                await self._apply(watch, order.ready(loop.time()))
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                order.hold_s = 0.0  # the socket is gone: nothing more can fill a gap
                await self._apply(watch, order.ready(loop.time()))
                order.hold_s = self.hold_s
                return

    async def _apply(self, watch: _Watch, events: list[MonitorEvent]) -> None:
        """Store each event in order, awaiting its commit (one conversation is one ordered
        stream); a refusal of one event (a conflict) is logged, the others go on."""
        state = self.live.hub.get(watch.session_id)
        round_number = state.round_number if state is not None else 1
        for event in events:
            try:
                if event.kind == "line":
                    seq = seq_for(event.event_id, event.role)
                    await self.live.store_message(
                        watch.session_id, round_number, seq, event.role, event.text, None
                    )
                    if event.role == "assistant":
                        watch.agent_lines[event.event_id] = seq
                    watch.stored += 1
                else:
                    await self._correct(watch, round_number, event)
            except (ConflictError, NotFoundError) as err:  # refused for good: not retried
                log.warning("monitor %s: event %d: %s", watch.conversation_id, event.event_id, err)
            watch.order.done(event)

    async def _correct(self, watch: _Watch, round_number: int, event: MonitorEvent) -> None:
        known = watch.corrections.get(event.event_id)
        if known is None:
            targets = [e for e in watch.agent_lines if e <= event.event_id]
            if not targets:
                log.info("monitor %s: correction %d before any agent line",
                         watch.conversation_id, event.event_id)
                return
            seq = watch.agent_lines[max(targets)]
            revision = watch.revisions.get(seq, 0) + 1
            watch.revisions[seq] = revision
            known = watch.corrections[event.event_id] = (seq, revision)
        seq, revision = known
        await self.live.correct_message(watch.session_id, round_number, seq, revision, event.text)

    async def _command(
        self, watch: _Watch, ws: aiohttp.ClientWebSocketResponse, data: bytes
    ) -> None:
        """A command for the candidate: into the conversation, then acked as delivered."""
        command = orjson.loads(data)
        if command.get("type") != "command":
            return
        text = frames.contextual_update_text(command)
        if text is None:
            control: dict[str, Any] = {"command_type": "end_call"}
        else:
            control = {"command_type": "contextual_update",
                       "parameters": {"contextual_update": text}}
        await ws.send_str(orjson.dumps(control).decode())  # ConnectionError: the writer stops
        try:
            await self.live.command_delivered(watch.session_id, uuid.UUID(command["command_id"]))
        except DB_ERRORS as err:  # sent; it is sent again (once) on the next connect
            log.warning("monitor %s: command ack not stored: %s", watch.conversation_id, err)


@contextlib.asynccontextmanager
async def conversation_monitor(
    live: LiveService, settings: Settings
) -> AsyncIterator[ConversationMonitor]:
    """The monitor service with its own HTTP session; every monitor stops on exit."""
    async with aiohttp.ClientSession() as http:
        monitor = ConversationMonitor(live, settings, http)
        try:
            yield monitor
        finally:
            await monitor.close()
