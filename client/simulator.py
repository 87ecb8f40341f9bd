"""The reference candidate client: replays a transcript over `/ws/candidate/{id}`.

Two layers, as in the `websockets` library itself. `CandidateProtocol` is the client's state
machine with no socket and no clock: frames in, frames to send and notes out. It keeps every
sent transcript frame until its `ack`, resends the unacked ones after each `hello`, turns
commands into the ElevenLabs `contextual_update` the real client would send, and decides what a
close code means. `Simulator` only feeds it: it paces new frames at `rate` per second, reads
the socket, and reconnects with backoff when the gateway or the network drops the connection.
Delivery rules and the command mapping are those of docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Literal

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from gateway.errors import CloseCode
from gateway.frames import contextual_update_text
from gateway.protocol import PROTOCOL_VERSION

__all__ = [
    "CandidateProtocol",
    "CloseAction",
    "Message",
    "Reaction",
    "SimulationResult",
    "Simulator",
    "SimulatorError",
    "close_action",
    "contextual_update",
    "load_transcript",
]

Role = Literal["user", "assistant"]
Frame = dict[str, Any]

# Errors about a frame that mean "try the same frame again later": nothing was stored.
_RETRYABLE_ERRORS = frozenset({"rate_limited"})


class SimulatorError(Exception):
    """Unrecoverable: the simulator stops and the command exits non-zero with this message."""


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    text: str


def load_transcript(path: Path) -> list[Message]:
    """Read a seed transcript (`{"messages": [{"role", "text"}, ...]}`) or a bare list."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as err:
        raise SimulatorError(f"cannot read transcript {path}: {err.strerror or err}") from None
    except orjson.JSONDecodeError as err:
        raise SimulatorError(f"transcript {path} is not valid JSON: {err}") from None
    items = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise SimulatorError(f"transcript {path} has no messages")
    messages: list[Message] = []
    for n, item in enumerate(items, 1):
        if (
            not isinstance(item, dict)
            or item.get("role") not in ("user", "assistant")
            or not isinstance(item.get("text"), str)
            or not item["text"].strip()
        ):
            raise SimulatorError(f"transcript {path}: message {n} needs a role and a text")
        messages.append(Message(role=item["role"], text=item["text"]))
    return messages


def contextual_update(command: Frame) -> Frame | None:
    """The ElevenLabs client event a command becomes (docs/protocol.md); None for `end_call`."""
    text = contextual_update_text(command)
    return None if text is None else {"type": "contextual_update", "text": text}


class CloseAction(Enum):
    RECONNECT = "reconnect"
    STOP = "stop"
    FATAL = "fatal"


def close_action(code: int | None) -> CloseAction:
    """What the close-code table in docs/protocol.md tells a candidate client to do."""
    if code in (CloseCode.SESSION_ENDED, CloseCode.REPLACED):
        return CloseAction.STOP
    if code in (
        CloseCode.UNSUPPORTED_DATA,
        CloseCode.POLICY_VIOLATION,
        CloseCode.MESSAGE_TOO_BIG,
        CloseCode.TOKEN_EXPIRED,
    ):
        return CloseAction.FATAL
    # 1000 from the gateway before we are done, 1001, 1011, 1013, 1006 (no close frame): resume.
    return CloseAction.RECONNECT


_CLOSE_REASONS: dict[int, str] = {
    CloseCode.SESSION_ENDED: "the interview ended",
    CloseCode.REPLACED: "replaced by a newer candidate connection for this session",
    CloseCode.UNSUPPORTED_DATA: "the gateway refused a binary frame",
    CloseCode.POLICY_VIOLATION: "closed for abuse (rate limit or repeated bad frames)",
    CloseCode.MESSAGE_TOO_BIG: "a frame was larger than MAX_FRAME_BYTES",
    CloseCode.TOKEN_EXPIRED: "the token expired; get a new one",
}


@dataclass(slots=True)
class Reaction:
    """What the socket layer must do after a frame arrived: send these, print those."""

    send: list[Frame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ended: bool = False
    retry: list[Frame] | None = None  # resend these after a pause (nothing was stored)


class Phase(StrEnum):
    DISCONNECTED = "disconnected"
    AWAITING_HELLO = "awaiting_hello"
    STREAMING = "streaming"
    ENDED = "ended"


class CandidateProtocol:
    """Sans-I/O candidate state: transcript cursor, unacked frames, injected commands."""

    def __init__(self, messages: Sequence[Message], *, round_number: int = 1) -> None:
        self.messages = list(messages)
        self.round_number = round_number
        self.phase = Phase.DISCONNECTED
        self.sent = 0  # messages[:sent] have been sent at least once (seq = index + 1)
        self.unacked: dict[int, Frame] = {}  # seq -> frame, in send order
        self.acked: dict[int, str] = {}  # seq -> message_id
        self.duplicates = 0
        self.injected: dict[str, Frame] = {}  # command_id -> command, in arrival order
        self.updates: list[Frame] = []  # the contextual_update events "sent to ElevenLabs"
        self.call_ended = False  # an end_call command hung up the voice call
        self.last_seq_seen = 0

    # -- connection lifecycle -------------------------------------------------------------

    def connecting(self) -> None:
        self.phase = Phase.AWAITING_HELLO

    def disconnected(self) -> None:
        if self.phase is not Phase.ENDED:
            self.phase = Phase.DISCONNECTED

    @property
    def streaming(self) -> bool:
        return self.phase is Phase.STREAMING

    @property
    def finished(self) -> bool:
        """Everything this call will ever send has been sent and acked."""
        all_sent = self.call_ended or self.sent == len(self.messages)
        return all_sent and not self.unacked

    def can_send_next(self) -> bool:
        return self.streaming and not self.call_ended and self.sent < len(self.messages)

    def next_transcript(self, now: datetime | None = None) -> Frame:
        """The next transcript frame (seq = position in the transcript); kept until acked."""
        if not self.can_send_next():
            raise RuntimeError("no transcript frame to send now")
        message = self.messages[self.sent]
        self.sent += 1
        frame: Frame = {
            "type": "transcript",
            "seq": self.sent,
            "round_number": self.round_number,
            "role": message.role,
            "text": message.text,
            "timestamp": _iso(now or datetime.now(UTC)),
        }
        self.unacked[self.sent] = frame
        return frame

    # -- frames from the gateway ----------------------------------------------------------

    def receive(self, raw: str | bytes) -> Reaction:
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Reaction(notes=["ignored a frame that is not JSON"])
        if not isinstance(frame, dict):
            return Reaction(notes=["ignored a frame that is not a JSON object"])
        kind = frame.get("type")
        if self.phase is Phase.AWAITING_HELLO and kind != "hello":
            raise SimulatorError(f"expected hello as the first frame, got {kind!r}")
        handler = {
            "hello": self._on_hello,
            "ack": self._on_ack,
            "command": self._on_command,
            "error": self._on_error,
            "session_ended": self._on_session_ended,
        }.get(str(kind))
        if handler is None:
            return Reaction(notes=[f"ignored unknown frame type {kind!r}"])
        return handler(frame)

    def _on_hello(self, frame: Frame) -> Reaction:
        if frame.get("protocol") != PROTOCOL_VERSION:
            raise SimulatorError(
                f"gateway speaks protocol {frame.get('protocol')!r}; this client speaks "
                f"{PROTOCOL_VERSION}"
            )
        last_seq = int(frame.get("last_seq") or 0)
        self.last_seq_seen = last_seq
        self.phase = Phase.STREAMING
        resend = list(self.unacked.values())
        note = f"hello: session {frame.get('session_id')} round {frame.get('round_number')}"
        note += f", gateway has seq <= {last_seq}"
        if resend:
            note += f"; resending {len(resend)} unacked frame(s) from seq {resend[0]['seq']}"
        return Reaction(send=resend, notes=[note])

    def _on_ack(self, frame: Frame) -> Reaction:
        seq = frame.get("seq")
        if not isinstance(seq, int):
            return Reaction(notes=["ignored an ack without seq"])
        self.unacked.pop(seq, None)
        self.acked[seq] = str(frame.get("message_id"))
        duplicate = bool(frame.get("duplicate"))
        if duplicate:
            self.duplicates += 1
        suffix = " (duplicate)" if duplicate else ""
        return Reaction(notes=[f"ack seq {seq}{suffix}"])

    def _on_command(self, frame: Frame) -> Reaction:
        command_id = str(frame.get("command_id"))
        ack: Frame = {"type": "command_ack", "command_id": command_id}
        kind = frame.get("command_type")
        if command_id in self.injected:
            return Reaction(send=[ack], notes=[f"command {command_id} again: already injected"])
        self.injected[command_id] = frame
        notes = [
            f"command {kind} {command_id} ({frame.get('source')}): "
            + orjson.dumps(frame.get("payload") or {}).decode()
        ]
        update = contextual_update(frame)
        if update is None:
            self.call_ended = True
            notes.append("-> ElevenLabs: endSession() (the voice call is over)")
        else:
            self.updates.append(update)
            notes.append("-> ElevenLabs " + orjson.dumps(update).decode())
        return Reaction(send=[ack], notes=notes)

    def _on_error(self, frame: Frame) -> Reaction:
        code = str(frame.get("code"))
        message = str(frame.get("message"))
        ref = frame.get("ref")
        if code == "session_ended":
            self.phase = Phase.ENDED
            return Reaction(notes=[f"error {code}: {message}"], ended=True)
        if code == "unavailable":
            # Not stored, and the gateway stores nothing more from this socket (it closes it
            # with 1011): the frame stays unacked and goes again, in order, after the next hello.
            note = f"error {code} (ref {ref}): {message}; resending after the reconnect"
            return Reaction(notes=[note])
        if code in _RETRYABLE_ERRORS:
            # Nothing was stored: the frame stays unacked and is sent again shortly (and on
            # the next hello in any case).
            frames = [f for seq, f in self.unacked.items() if str(seq) == str(ref)]
            return Reaction(
                notes=[f"error {code} (ref {ref}): {message}; will resend"],
                retry=frames or list(self.unacked.values()),
            )
        raise SimulatorError(f"gateway refused a frame (ref {ref}): {code}: {message}")

    def _on_session_ended(self, frame: Frame) -> Reaction:
        self.phase = Phase.ENDED
        return Reaction(notes=[f"session ended at {frame.get('ended_at', '?')}"], ended=True)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class SimulationResult:
    exit_code: int
    reason: str
    sent: int
    acked: int
    commands: list[Frame]


def _backoff(base: float, cap: float) -> Iterable[float]:
    """Exponential backoff with full jitter, so many clients do not reconnect in lockstep."""
    delay = base
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(cap, delay * 2)


class Simulator:
    """Drive a `CandidateProtocol` over a real socket until the transcript is delivered.

    `linger` keeps the call open that many seconds after the last ack so commands can still
    arrive (None: until cancelled, as in the demo). Failed connects are retried with capped
    exponential backoff and full jitter for `reconnect_for` seconds (a candidate's network can
    blip for much longer than a few tries), or `max_attempts` consecutive failures if given.
    """

    def __init__(
        self,
        url: str,
        session_id: str,
        token: str,
        messages: Sequence[Message],
        *,
        rate: float = 2.0,
        linger: float | None = 2.0,
        reconnect_for: float = 60.0,
        max_attempts: int | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 10.0,
        out: Callable[[str], None] = print,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.url = f"{url.rstrip('/')}/ws/candidate/{session_id}"
        self.token = token
        self.protocol = CandidateProtocol(messages)
        self.interval = 1.0 / rate
        self.linger = linger
        self.max_attempts = max_attempts
        self.reconnect_for = reconnect_for
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.out = out
        self.retry_delay = 1.0
        self.connections = 0
        self._ws: ClientConnection | None = None
        self._progress = asyncio.Event()
        self._hung_up = False
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> SimulationResult:
        try:
            reason = await self._run()
            code = 0
        except SimulatorError as err:
            reason, code = str(err), 1
        p = self.protocol
        return SimulationResult(code, reason, p.sent, len(p.acked), list(p.injected.values()))

    def drop_connection(self) -> None:
        """Abort the current socket without a close handshake (tests: a network blip)."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def _run(self) -> str:
        failures = 0
        loop = asyncio.get_running_loop()
        failing_since: float | None = None  # when the current streak of failed connects began
        delays = iter(_backoff(self.backoff_base, self.backoff_cap))
        while True:
            self.protocol.connecting()
            greeted = False
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    compression=None,
                    open_timeout=10,
                    close_timeout=2,
                ) as ws:
                    self._ws = ws
                    self.connections += 1
                    first = await asyncio.wait_for(ws.recv(), timeout=10)
                    await self._react(ws, self.protocol.receive(first))
                    greeted = True
                    outcome = await self._converse(ws)
                    if outcome is not None:
                        return outcome
            except InvalidStatus as err:
                status = err.response.status_code
                detail = _error_message(err.response.body)
                if status in (401, 403, 404, 410):
                    raise SimulatorError(_refusal(status, detail)) from None
                failures += 1
                self.out(f"gateway answered HTTP {status} {detail}; retrying")
            except InvalidURI as err:
                raise SimulatorError(f"bad --url: {err}") from None
            except ConnectionClosed as err:
                code = err.rcvd.code if err.rcvd is not None else None
                action = close_action(code)
                text = _CLOSE_REASONS.get(code, "") if code is not None else ""
                if action is CloseAction.STOP:
                    self.protocol.phase = Phase.ENDED
                    message = f"connection closed with {code}: {text}"
                    if code == CloseCode.REPLACED:
                        raise SimulatorError(message) from None
                    return message
                if action is CloseAction.FATAL:
                    raise SimulatorError(f"connection closed with {code}: {text}") from None
                self.out(f"connection closed ({code or 'no close frame'}); reconnecting")
                failures = 0 if greeted else failures + 1
            except (OSError, TimeoutError, WebSocketException) as err:
                failures += 1
                self.out(f"cannot reach the gateway ({type(err).__name__}: {err}); retrying")
            finally:
                self._ws = None
                self.protocol.disconnected()
            if greeted:
                delays = iter(_backoff(self.backoff_base, self.backoff_cap))
                failing_since = None
            elif failing_since is None:
                failing_since = loop.time()
            if self.protocol.phase is Phase.ENDED:
                return "the interview ended"
            failing_for = 0.0 if failing_since is None else loop.time() - failing_since
            if failures and (
                failing_for >= self.reconnect_for
                or (self.max_attempts is not None and failures >= self.max_attempts)
            ):
                raise SimulatorError(
                    f"gave up after {failures} failed connection attempts in {failing_for:.0f} s"
                )
            await asyncio.sleep(next(delays))

    async def _converse(self, ws: ClientConnection) -> str | None:
        """Read frames while `_pace` sends new ones. Returns the outcome once done.

        `recv()` (not `async for`) so that every close, 1000 and 1001 included, raises
        `ConnectionClosed` and reaches the close-code policy in `_run`.
        """
        pacer = asyncio.create_task(self._pace(ws))
        try:
            while True:
                try:
                    raw = await ws.recv()
                except ConnectionClosed:
                    if self._hung_up:
                        return "transcript delivered"  # our own close after the transcript
                    raise
                reaction = self.protocol.receive(raw)
                await self._react(ws, reaction)
                self._progress.set()
                if reaction.ended:
                    return "the interview ended"
                if reaction.retry is not None:
                    self._retry(ws, reaction.retry)
        finally:
            pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacer

    def _retry(self, ws: ClientConnection, frames: list[Frame]) -> None:
        """Resend frames the gateway could not take (rate limit, database down) a bit later."""

        async def later() -> None:
            await asyncio.sleep(self.retry_delay)
            with contextlib.suppress(ConnectionClosed):  # then the next hello resends them
                for frame in frames:
                    if frame["seq"] in self.protocol.unacked:
                        await ws.send(orjson.dumps(frame).decode())

        task = asyncio.create_task(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _pace(self, ws: ClientConnection) -> None:
        """Send the remaining transcript at `rate`, then linger for late commands."""
        p = self.protocol
        while p.can_send_next():
            frame = p.next_transcript()
            await ws.send(orjson.dumps(frame).decode())
            self.out(f"sent seq {frame['seq']} [{frame['role']}] {_clip(frame['text'])}")
            await asyncio.sleep(self.interval)
        while not p.finished:
            self._progress.clear()
            await self._progress.wait()
        self.out(f"transcript delivered: {len(p.acked)} frame(s) acked")
        if self.linger is None:
            await asyncio.Event().wait()  # until cancelled; commands keep arriving meanwhile
        await asyncio.sleep(self.linger or 0)
        self._hung_up = True
        await ws.close()  # the reader sees the close and returns the outcome

    async def _react(self, ws: ClientConnection, reaction: Reaction) -> None:
        for note in reaction.notes:
            self.out(note)
        for frame in reaction.send:
            await ws.send(orjson.dumps(frame).decode())


def _clip(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_message(body: bytes | bytearray | None) -> str:
    try:
        data = orjson.loads(body or b"")
        return str(data["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return bytes(body or b"").decode(errors="replace")[:200]


def _refusal(status: int, detail: str) -> str:
    hint = {
        401: "the token is missing, invalid or expired (check --token)",
        403: "the token is not a candidate token for this session",
        404: "no such session (check --session)",
        410: "the session has already ended",
    }[status]
    return f"gateway refused the connection: HTTP {status}: {detail} — {hint}"
