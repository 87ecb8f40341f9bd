"""The two WebSocket endpoints. Each socket has one reader (this handler) and one writer (its
outbox task); everything else goes through `LiveService`.

Auth, origin and session checks run before the upgrade, so refusals are plain HTTP JSON
errors. Compression is off on purpose: events are serialized once and the same bytes go to
every socket, which per-socket permessage-deflate would defeat (and it costs CPU per message).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from gateway.admission import token_key
from gateway.auth import Role
from gateway.batcher import BatcherClosed
from gateway.errors import (
    CloseCode,
    ErrorCode,
    ForbiddenError,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from gateway.hub import SessionState
from gateway.metrics import REGISTRY
from gateway.outbox import Outbox
from gateway.protocol import (
    AnalyzeFrame,
    ApplyFrame,
    CommandAckFrame,
    DismissFrame,
    ManualCommandFrame,
    ProtocolError,
    TranscriptFrame,
    decode_candidate,
    decode_panel,
    encode,
    encode_error,
    wrong_round,
)
from gateway.ratelimit import Abuse, TokenBucket
from gateway.scheduler import Trigger
from gateway.settings import Settings
from handlers.forwarded import client_address, own_origin
from handlers.http import parse_uuid, require
from handlers.keys import ADMISSION, CONNECTIONS, LIVE, SETTINGS
from handlers.live import LiveService
from storage.live import last_seq
from storage.transcripts import FrameOutcome, FrameResult, NewFrame

__all__ = ["Connection", "setup"]

log = logging.getLogger("gateway.ws")

MAX_BACKLOG = 5000
MAX_UNACKED = 512
DIRECT_WRITE_LIMIT = 64 * 1024  # bytes buffered in the transport before writes go via the outbox

_connections = REGISTRY.counter("gateway_ws_connections_total", "WebSocket connections", ("kind",))
_closed_slow = REGISTRY.counter("gateway_ws_slow_consumer_closes_total", "sockets closed 1013")
_errors = REGISTRY.counter("gateway_ws_error_frames_total", "error frames sent", ("code",))


class GoneError(GatewayError):
    status = 410
    default_code = ErrorCode.SESSION_ENDED


@dataclass(eq=False, slots=True)
class Connection:
    """One accepted socket: its outbox and writer, and an idempotent concurrent-safe close."""

    ws: web.WebSocketResponse
    kind: str
    session_id: uuid.UUID
    outbox: Outbox = field(init=False)
    writer: asyncio.Task[None] = field(init=False)
    closing: asyncio.Task[None] | None = None
    expiry: asyncio.TimerHandle | None = None
    transport: Any = None
    acks: list[bytes] = field(default_factory=list)
    leave: Callable[[], None] | None = None  # gives the admission slot back

    def start(self, max_items: int, token_expires_at: float, transport: Any = None) -> None:
        loop = asyncio.get_running_loop()
        self.transport = transport
        self.outbox = Outbox(
            self._send, max_items, self._overflow, self._write_now if transport else None
        )
        self.writer = loop.create_task(self.outbox.run(), name=f"ws-writer-{self.kind}")
        # A token is checked at the upgrade; a long-lived socket must not outlive it.
        self.expiry = loop.call_later(
            max(0.0, token_expires_at - time.time()),
            self.close_soon,
            CloseCode.TOKEN_EXPIRED,
            "token expired",
        )

    async def _send(self, data: bytes) -> None:
        await self.ws.send_frame(data, WSMsgType.TEXT)

    def _write_now(self, wire: bytes) -> bool:
        """Write a complete text frame without a task switch, unless the socket is closing or
        its transport is backed up (then the outbox queues it and the writer awaits drain)."""
        transport = self.transport
        if (
            self.ws.closed
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT
        ):
            return False
        transport.write(wire)
        return True

    def _overflow(self) -> None:
        _closed_slow.inc()
        log.info("%s socket for %s could not keep up; closing 1013", self.kind, self.session_id)
        self.close_soon(CloseCode.TRY_AGAIN_LATER, "slow consumer: reconnect with ?after=")

    def ack(self, data: bytes) -> None:
        """Acks of one committed batch leave in one write: gathered until this loop turn ends."""
        if not self.acks:
            asyncio.get_running_loop().call_soon(self._flush_acks)
        self.acks.append(data)

    def _flush_acks(self) -> None:
        acks, self.acks = self.acks, []
        if acks:
            self.outbox.put_many(acks)

    def send(self, frame: dict[str, Any]) -> None:
        self.outbox.put(encode(frame))

    def error(self, code: ErrorCode | str, message: str, ref: str | None = None) -> None:
        _errors.inc(1, str(code))
        self.outbox.put(encode_error(code, message, ref))

    def close_soon(self, code: CloseCode, reason: str) -> None:
        if self.closing is None:
            self.closing = asyncio.get_running_loop().create_task(self.close(code, reason))

    async def close(self, code: CloseCode, reason: str) -> None:
        """Flush what is queued (briefly), then close the socket with `code`."""
        self._flush_acks()  # acks of a batch committed this very turn go out first
        self.outbox.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self.writer), 2.0)
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=int(code), message=reason.encode()[:120])

    async def finish(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self.outbox.close()
        if self.closing is not None:
            await asyncio.gather(self.closing, return_exceptions=True)
        self.writer.cancel()
        await asyncio.gather(self.writer, return_exceptions=True)
        self.outbox.release()
        _break_cycles(self.ws)
        self.transport = None


async def _release(request: web.Request, conn: Connection) -> None:
    request.app[CONNECTIONS].discard(conn)
    if conn.leave is not None:
        conn.leave()
        conn.leave = None
    await conn.finish()


_teardowns: set[asyncio.Task[None]] = set()


async def _to_the_end(teardown: Coroutine[Any, Any, None]) -> None:
    """Run a socket's teardown to completion even if its handler is cancelled meanwhile (a lost
    connection under `handler_cancellation`, or a forced shutdown): it releases the socket's
    resources and records the disconnect."""
    task = asyncio.get_running_loop().create_task(teardown)
    _teardowns.add(task)
    task.add_done_callback(_teardowns.discard)
    await asyncio.shield(task)


def _break_cycles(ws: web.WebSocketResponse) -> None:
    """Let a closed socket's objects go by reference counting, not the garbage collector.

    aiohttp keeps its heartbeat callback (the response's bound method) on the connection's
    protocol after the socket closed: a cycle (protocol -> response -> request -> protocol)
    that holds some forty objects per closed socket until a full collection, which after
    thousands of sockets is a pause of tens of milliseconds. The attribute is private, so it
    is cleared only if present (a release that drops the cycle needs nothing here);
    `tests/integration/test_ws_lifecycle_gc.py` checks the effect. (asyncio's transport keeps
    a small cycle of its own, five objects, which is left to the collector.)
    """
    request = ws._req
    protocol = request.protocol if request is not None else None
    if protocol is not None and getattr(protocol, "_data_received_cb", None) is not None:
        protocol._data_received_cb = None


@dataclass(slots=True)
class Guard:
    """Per-connection protection: the rate limit, and closing (1008) on sustained abuse."""

    conn: Connection
    bucket: TokenBucket
    abuse: Abuse = field(default_factory=Abuse)

    def admit(self) -> bool:
        """False for a frame over the rate limit (answered with `rate_limited`)."""
        if self.bucket.take():
            return True
        self.conn.error(ErrorCode.RATE_LIMITED, "too many frames; slow down")
        if self.abuse.strike():
            self.conn.close_soon(CloseCode.POLICY_VIOLATION, "rate limit exceeded")
        return False

    def refuse(self, err: ProtocolError) -> bool:
        """Answer an invalid frame; False when the connection is being closed for abuse."""
        self.conn.error(err.code, err.message, err.ref)
        if self.abuse.strike():
            self.conn.close_soon(CloseCode.POLICY_VIOLATION, "too many invalid frames")
            return False
        return True


async def _texts(ws: web.WebSocketResponse, conn: Connection, guard: Guard) -> AsyncIterator[bytes]:
    """The socket's text frames that pass the rate limit; ends on close, binary or abuse."""
    async for msg in ws:
        if msg.type is WSMsgType.BINARY:
            conn.close_soon(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported")
            return
        if msg.type is not WSMsgType.TEXT:
            return
        if guard.admit():
            yield msg.data
        elif conn.closing is not None:
            return


def encode_ack(seq: int, result: FrameResult) -> bytes:
    return encode(
        {
            "type": "ack",
            "seq": seq,
            "message_id": result.message_id,
            "duplicate": result.outcome is FrameOutcome.DUPLICATE,
        }
    )


def _check_origin(request: web.Request, settings: Settings) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser
    origin = origin.rstrip("/")
    if origin.lower() == own_origin(request, settings) or origin in settings.allowed_origins:
        return
    raise ForbiddenError(f"origin {origin} is not allowed")


async def _accept(
    request: web.Request, role: Role, kind: str
) -> tuple[SessionState, LiveService, Connection, Guard]:
    """Check token, origin and session (refusals are plain HTTP errors), then upgrade and
    register the socket: its outbox, writer, token-expiry timer and rate guard."""
    settings = request.app[SETTINGS]
    live = request.app[LIVE]
    session_id = parse_uuid(request.match_info["session_id"], "session")
    claims = require(request, role, session_id=session_id, allow_query=True)
    _check_origin(request, settings)
    admission = request.app[ADMISSION]
    key = token_key(claims)
    admission.connect(key, client_address(request, settings))  # 429 over the connect rates
    if live.hub.closing:
        raise UnavailableError("gateway is shutting down; reconnect")
    state = await live.hub.acquire(session_id)
    if state is None:
        raise NotFoundError("session not found")
    if state.ended:
        raise GoneError("session has ended")
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat_s,
        max_msg_size=settings.max_frame_bytes,
        compress=False,
        decode_text=False,
    )
    await ws.prepare(request)
    conn = Connection(ws, kind, session_id)
    conn.start(settings.outbox_max, claims.expires_at, request.transport)
    request.app[CONNECTIONS].add(conn)
    _connections.inc(1, kind)
    within_cap = admission.join(key, kind)
    conn.leave = functools.partial(admission.leave, key, kind)
    # The token's frame bucket, shared across its connections: reconnecting does not refill it.
    guard = Guard(conn, admission.frame_bucket(key))
    if not within_cap:
        conn.error(ErrorCode.TOO_MANY_CONNECTIONS, "too many panel sockets for this token")
        conn.close_soon(CloseCode.TOO_MANY_CONNECTIONS, "too many panel sockets for this token")
    return state, live, conn, guard


async def candidate_ws(request: web.Request) -> web.StreamResponse:
    state, live, conn, guard = await _accept(request, Role.CANDIDATE, "candidate")
    settings = request.app[SETTINGS]
    sid, ws = state.session_id, conn.ws
    # Frames read but not yet acked: past MAX_UNACKED the reader stops until acks catch up.
    unacked = 0
    room = asyncio.Event()
    room.set()

    def on_result(
        frame: TranscriptFrame, result: FrameResult | None, err: BaseException | None
    ) -> None:
        """Runs right after the frame's batch committed (or failed): ack or explain."""
        nonlocal unacked
        unacked -= 1
        room.set()
        ref = frame.ref or str(frame.seq)
        if err is not None or result is None:
            conn.error(
                ErrorCode.UNAVAILABLE, "frame not stored (database unavailable); resend it", ref
            )
        elif result.outcome in (FrameOutcome.STORED, FrameOutcome.DUPLICATE):
            conn.ack(encode_ack(frame.seq, result))
        elif result.outcome is FrameOutcome.INVALID:  # counts toward the abuse close
            guard.refuse(
                ProtocolError(
                    ErrorCode.INVALID_FRAME,
                    f"frame refused by the database ({result.reason}); do not resend it",
                    ref,
                )
            )
        elif result.outcome is FrameOutcome.CONFLICT:
            conn.error(
                ErrorCode.SEQ_CONFLICT,
                f"seq {frame.seq} was already stored with other content",
                ref,
            )
        else:
            conn.error(ErrorCode.SESSION_ENDED, "session is not active; frame not stored", ref)

    try:
        async with live.hub.candidate(state, conn.outbox, conn.close_soon):
            conn.send(
                {
                    "type": "hello",
                    "protocol": 1,
                    "session_id": str(sid),
                    "round_number": state.round_number,
                    "last_seq": await last_seq(live.pool, sid, state.round_number),
                }
            )
            for data in await live.pending_command_frames(sid):
                conn.outbox.put(data)
            await live.presence(sid, True)
            async for raw in _texts(ws, conn, guard):
                try:
                    frame = decode_candidate(
                        raw,
                        max_text_chars=settings.max_text_chars,
                        max_clock_skew_s=settings.max_clock_skew_s,
                    )
                except ProtocolError as perr:
                    if not guard.refuse(perr):
                        break
                    continue
                if isinstance(frame, TranscriptFrame):
                    if frame.round_number != state.round_number:  # documented in protocol.md
                        if not guard.refuse(wrong_round(frame, state.round_number)):
                            break
                        continue
                    while unacked >= MAX_UNACKED:
                        room.clear()
                        await room.wait()
                    new = NewFrame(
                        sid, frame.round_number, frame.seq, frame.role, frame.text, frame.timestamp
                    )
                    unacked += 1
                    try:
                        await live.submit_with(new, functools.partial(on_result, frame))
                    except BatcherClosed:
                        unacked -= 1
                        conn.error(
                            ErrorCode.UNAVAILABLE,
                            "gateway is shutting down; resend after reconnect",
                            str(frame.seq),
                        )
                elif isinstance(frame, CommandAckFrame):
                    await live.command_delivered(sid, frame.command_id)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        # After the upgrade an HTTP error cannot be sent: close, so the client reconnects now
        # rather than waiting on a socket nobody serves.
        log.warning("candidate socket for %s: database unavailable: %s", sid, err)
        conn.close_soon(CloseCode.INTERNAL_ERROR, "database unavailable; reconnect")
    finally:

        async def leave() -> None:
            await _release(request, conn)
            if not live.hub.closing:
                await live.presence(sid, False)

        await _to_the_end(leave())
    return ws


async def panel_ws(request: web.Request) -> web.StreamResponse:
    after_raw = request.query.get("after")
    after: int | None = None
    if after_raw is not None:
        if not after_raw.isdigit() or len(after_raw) > 18:
            raise InvalidInputError("after must be a non-negative integer event id")
        after = int(after_raw)
    state, live, conn, guard = await _accept(request, Role.INTERVIEWER, "panel")
    sid, ws = state.session_id, conn.ws
    try:
        with live.hub.panel(state, conn.outbox, conn.close_soon) as sub:
            backlog = (
                await live.fetch_events(sid, after, limit=MAX_BACKLOG + 1)
                if after is not None
                else None
            )
            if (
                backlog is None
                or len(backlog) > MAX_BACKLOG
                or (not backlog and after is not None and after >= state.next_event_id)
            ):
                data, last = await live.snapshot(state, reset=backlog is not None)
                conn.outbox.put(data)
                sub.go_live(last)
            else:
                for _, data in backlog:
                    conn.outbox.put(data)
                sub.go_live(backlog[-1][0] if backlog else after or 0)
            async for raw in _texts(ws, conn, guard):
                try:
                    await _panel_frame(live, state, conn, raw)
                except ProtocolError as perr:
                    if not guard.refuse(perr):
                        break
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        log.warning("panel socket for %s: database unavailable: %s", sid, err)
        conn.close_soon(CloseCode.INTERNAL_ERROR, "database unavailable; reconnect")
    finally:
        await _to_the_end(_release(request, conn))
    return ws


async def _panel_frame(
    live: LiveService, state: SessionState, conn: Connection, raw: bytes
) -> None:
    frame = decode_panel(raw)
    ref = frame.ref
    try:
        if isinstance(frame, ApplyFrame):
            await live.apply(state, frame.suggestion_id)
        elif isinstance(frame, DismissFrame):
            await live.dismiss(state, frame.suggestion_id)
        elif isinstance(frame, ManualCommandFrame):
            await live.manual_command(state, frame.command_type, frame.payload)
        elif isinstance(frame, AnalyzeFrame):
            if live.on_trigger is None:
                raise UnavailableError("analysis is not running in this gateway")
            live.on_trigger(Trigger(state.session_id, "manual"))
    except GatewayError as err:
        conn.error(err.code, err.message, ref or (str(getattr(frame, "suggestion_id", "")) or None))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        log.warning("panel frame failed for %s: %s", state.session_id, err)
        conn.error(ErrorCode.UNAVAILABLE, "database unavailable; try again", ref)
    except Exception:  # no frame may kill the socket's handler: answer and keep serving
        log.exception("panel frame failed for %s", state.session_id)
        conn.error(ErrorCode.INTERNAL, "internal error handling this frame", ref)


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/candidate/{session_id}", candidate_ws)
    app.router.add_get("/ws/panel/{session_id}", panel_ws)
