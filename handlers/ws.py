"""The two WebSocket endpoints. Each socket has one reader (this handler) and one writer (its
outbox task). The handler only moves bytes: a `gateway.streams` stream decides what each frame
means and answers it, `LiveService` does the work.

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

from aiohttp import WSMsgType, web

from gateway.admission import token_key
from gateway.auth import Role
from gateway.errors import (
    CloseCode,
    ErrorCode,
    ForbiddenError,
    GatewayError,
    GoneError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from gateway.hub import SessionState
from gateway.logs import ConnectionLog, connection_log
from gateway.metrics import counter
from gateway.outbox import Outbox
from gateway.protocol import (
    CommandAckFrame,
    TranscriptCorrectionFrame,
    TranscriptFrame,
    encode_error,
)
from gateway.settings import Settings
from gateway.streams import CandidateStream, FrameAdmission, PanelAction, PanelStream, StreamKind
from handlers.forwarded import client_address, own_origin
from handlers.http import parse_uuid, require
from handlers.keys import ADMISSION, CONNECTIONS, LIVE, SETTINGS
from services.live import LiveService

__all__ = ["Connection", "close_all", "setup"]

log = logging.getLogger("gateway.ws")

SETTLE_TIMEOUT_S = 5.0  # how long a socket closing for abuse waits for its frames' answers
DIRECT_WRITE_LIMIT = 64 * 1024  # bytes buffered in the transport before writes go via the outbox

_connections = counter("gateway_ws_connections_total", "WebSocket connections", ("kind",))
_closed_slow = counter("gateway_ws_slow_consumer_closes_total", "sockets closed 1013")
_errors = counter("gateway_ws_error_frames_total", "error frames sent", ("code",))


@dataclass(eq=False, slots=True)
class Connection:
    """One accepted socket: its outbox and writer, and an idempotent concurrent-safe close."""

    ws: web.WebSocketResponse
    kind: StreamKind
    session_id: uuid.UUID
    outbox: Outbox = field(init=False)
    writer: asyncio.Task[None] = field(init=False)
    closing: asyncio.Task[None] | None = None
    expiry: asyncio.TimerHandle | None = None
    transport: Any = None
    acks: list[bytes] = field(default_factory=list)
    log: ConnectionLog = field(init=False)
    leave: Callable[[], None] | None = None  # gives the admission slot back

    def start(self, max_items: int, token_expires_at: float, transport: Any = None) -> None:
        loop = asyncio.get_running_loop()
        self.log = connection_log(log, self.session_id)  # this task's lines carry the ids too
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
        self.log.info("%s socket could not keep up; closing 1013", self.kind)
        self.close_soon(CloseCode.TRY_AGAIN_LATER, "slow consumer: reconnect with ?after=")

    def send_ack(self, data: bytes) -> None:
        """Acks of one committed batch leave in one write: gathered until this loop turn ends."""
        if not self.acks:
            asyncio.get_running_loop().call_soon(self._flush_acks)
        self.acks.append(data)

    def _flush_acks(self) -> None:
        acks, self.acks = self.acks, []
        if acks:
            self.outbox.put_many(acks)

    def send(self, data: bytes) -> None:
        self.outbox.put(data)

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
    conn.log.debug("%s socket closed (%s)", conn.kind, conn.ws.close_code)


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


async def _texts(ws: web.WebSocketResponse, conn: Connection) -> AsyncIterator[bytes]:
    """The socket's text frames; ends on close or a binary frame (closed 1003)."""
    async for msg in ws:
        if msg.type is WSMsgType.BINARY:
            conn.close_soon(CloseCode.UNSUPPORTED_DATA, "binary frames are not supported")
            return
        if msg.type is not WSMsgType.TEXT:
            return
        yield msg.data


def _check_origin(request: web.Request, settings: Settings) -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser
    origin = origin.rstrip("/")
    if origin.lower() == own_origin(request, settings) or origin in settings.allowed_origins:
        return
    raise ForbiddenError(f"origin {origin} is not allowed")


async def _accept(
    request: web.Request, role: Role, kind: StreamKind
) -> tuple[SessionState, LiveService, Connection, FrameAdmission]:
    """Check token, origin and session (refusals are plain HTTP errors), then upgrade and
    register the socket: its outbox, writer and token-expiry timer."""
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
    _connections.labels(kind.value).inc()
    conn.log.debug("%s socket open", kind)
    within_cap = admission.join(key, kind)
    conn.leave = functools.partial(admission.leave, key, kind)
    # The token's frame bucket, shared across its connections: reconnecting does not refill it.
    frames = FrameAdmission(admission.frame_bucket(key))
    if not within_cap:
        message = "too many panel sockets for this token"
        conn.send(encode_error(ErrorCode.TOO_MANY_CONNECTIONS, message))
        conn.close_soon(CloseCode.TOO_MANY_CONNECTIONS, message)
    return state, live, conn, frames


def _count_errors(errors: dict[str, int]) -> None:
    for code, n in errors.items():
        _errors.labels(code).inc(n)


async def candidate_ws(request: web.Request) -> web.StreamResponse:
    state, live, conn, admission = await _accept(request, Role.CANDIDATE, StreamKind.CANDIDATE)
    settings = request.app[SETTINGS]
    sid, ws = state.session_id, conn.ws
    stream = CandidateStream(
        sid,
        conn,
        admission,
        max_text_chars=settings.max_text_chars,
        max_clock_skew_s=settings.max_clock_skew_s,
        round_number=state.round_number,
    )
    try:
        async with live.hub.candidate(state, conn.outbox, conn.close_soon) as link:
            for data in await live.join_candidate(state, stream):  # queues `hello` first
                conn.outbox.put(data)
            link.go_live()
            await live.presence(sid, True)
            async for raw in _texts(ws, conn):
                frame = stream.receive(raw)
                if isinstance(frame, TranscriptFrame):
                    await stream.wait_for_room()
                    await live.submit_frame(stream, frame)
                elif isinstance(frame, TranscriptCorrectionFrame):
                    await stream.wait_for_room()
                    await live.submit_correction(stream, frame)
                elif isinstance(frame, CommandAckFrame):
                    await live.command_delivered(sid, frame.command_id)
                elif stream.closing:
                    break
            if stream.closing:  # every frame in flight gets its ack or error before the close
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stream.settled.wait(), SETTLE_TIMEOUT_S)
    except UnavailableError as err:
        # After the upgrade an HTTP error cannot be sent: close, so the client reconnects now
        # rather than waiting on a socket nobody serves.
        conn.log.warning("candidate socket: %s", err.message)
        conn.close_soon(CloseCode.INTERNAL_ERROR, "database unavailable; reconnect")
    finally:
        _count_errors(stream.errors)

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
    state, live, conn, admission = await _accept(request, Role.INTERVIEWER, StreamKind.PANEL)
    sid, ws = state.session_id, conn.ws
    stream = PanelStream(sid, conn, admission)
    try:
        with live.hub.panel(state, conn.outbox, conn.close_soon) as sub:
            first, live_from = await live.join_panel(state, after)
            conn.outbox.put_many(first)
            sub.go_live(live_from)
            async for raw in _texts(ws, conn):
                frame = stream.receive(raw)
                if frame is not None:
                    await _panel_action(live, state, stream, frame)
                elif stream.closing:
                    break
    except UnavailableError as err:
        conn.log.warning("panel socket: %s", err.message)
        conn.close_soon(CloseCode.INTERNAL_ERROR, "database unavailable; reconnect")
    finally:
        _count_errors(stream.errors)
        await _to_the_end(_release(request, conn))
    return ws


async def _panel_action(
    live: LiveService, state: SessionState, stream: PanelStream, frame: PanelAction
) -> None:
    ref = frame.ref or (str(getattr(frame, "suggestion_id", "")) or None)
    try:
        await live.panel_action(state, frame)
    except GatewayError as err:
        stream.error(err.code, err.message, ref)
    except Exception:  # no frame may kill the socket's handler
        log.exception("panel frame failed for %s", state.session_id)
        stream.error(ErrorCode.INTERNAL, "the frame could not be processed", ref)


async def close_all(app: web.Application) -> None:
    """On shutdown: stop accepting, commit and ack what is in flight, then close every socket
    with 1001, concurrently."""
    live = app[LIVE]
    live.hub.closing = True
    await live.committer.drain()
    connections: list[Connection] = [*app[CONNECTIONS]]
    log.info("closing %d socket(s) with 1001", len(connections))
    await asyncio.gather(
        *(c.close(CloseCode.GOING_AWAY, "gateway shutting down") for c in connections),
        return_exceptions=True,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/candidate/{session_id}", candidate_ws)
    app.router.add_get("/ws/panel/{session_id}", panel_ws)
    app.on_shutdown.append(close_all)
