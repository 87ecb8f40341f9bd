"""Per-connection protocol logic of the two WebSocket endpoints: bytes in, frames out.

Sans-I/O like `gateway.protocol`: a stream never touches a socket. The edge feeds it each
text frame (`receive`) and the service feeds it each commit outcome (`stored`, `refused`,
`failed`); the stream answers through a `Sink` (queue a frame, queue an ack, close soon).
Unit tests drive it with bytes and assert frames, as python-websockets tests its protocol.

The candidate stream keeps the unacked window (the reader pauses past `max_unacked` until
acks catch up) and the ordering rule: once a commit of this connection fails, no later frame
of it may be stored before the failed one, so the stream is *broken* (frames already queued
behind the failure are fenced off unstored, later ones are answered `unavailable`) and closes
with 1011 once every frame in flight has its answer; the client reconnects, reads `last_seq`
from `hello` and resends in order. A close for abuse also waits for the answers in flight, so
every committed frame is acked before the socket closes.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Protocol

from gateway import frames
from gateway.errors import CloseCode, ErrorCode
from gateway.protocol import (
    DEFAULT_MAX_CLOCK_SKEW_S,
    AnalyzeFrame,
    ApplyFrame,
    CandidateInput,
    CommandAckFrame,
    DismissFrame,
    ManualCommandFrame,
    MarkAskedFrame,
    ProtocolError,
    TranscriptCorrectionFrame,
    TranscriptFrame,
    decode_candidate,
    decode_panel,
    encode,
    encode_error,
    wrong_round,
)
from gateway.ratelimit import Abuse, TokenBucket

__all__ = [
    "MAX_BACKLOG",
    "MAX_UNACKED",
    "CandidateStream",
    "FrameAdmission",
    "PanelAction",
    "PanelStream",
    "ResumePlan",
    "Sink",
    "StreamKind",
    "StreamState",
    "plan_resume",
]

MAX_UNACKED = 512  # frames read but not yet answered, per candidate socket
MAX_BACKLOG = 5000  # events a resuming panel is replayed; beyond that it gets a snapshot

PanelAction = ApplyFrame | DismissFrame | MarkAskedFrame | ManualCommandFrame | AnalyzeFrame


class StreamKind(StrEnum):
    CANDIDATE = "candidate"
    PANEL = "panel"


class StreamState(Enum):
    OPEN = "open"
    BROKEN = "broken"  # a commit failed: nothing more is stored on this connection


class Sink(Protocol):
    """Where a stream's output goes: the socket's outbox."""

    def send(self, data: bytes) -> None: ...

    def send_ack(self, data: bytes) -> None: ...

    def close_soon(self, code: CloseCode, reason: str) -> None: ...


@dataclass(slots=True)
class FrameAdmission:
    """The rate limit, and the strike count that tells sustained abuse (close 1008) from a
    burst."""

    bucket: TokenBucket
    abuse: Abuse = field(default_factory=Abuse)


class _Stream:
    __slots__ = ("_admission", "_closing", "_stopped", "errors", "session_id", "sink")

    def __init__(self, session_id: uuid.UUID, sink: Sink, admission: FrameAdmission) -> None:
        self.session_id = session_id
        self.sink = sink
        self._admission = admission
        self._closing: tuple[CloseCode, str] | None = None  # the close to make once settled
        self._stopped = False  # closing for abuse: read nothing more
        self.errors: dict[str, int] = {}  # error frames sent, by code (for metrics)

    @property
    def closing(self) -> bool:
        """True once the stream is closing for abuse: the reader stops reading. (A broken
        stream keeps reading until its close, answering frames and passing command acks.)"""
        return self._stopped

    def error(self, code: ErrorCode | str, message: str, ref: str | None = None) -> None:
        key = str(code)
        self.errors[key] = self.errors.get(key, 0) + 1
        self.sink.send(encode_error(code, message, ref))

    def _admit(self) -> bool:
        if self._admission.bucket.take():
            return True
        self.error(ErrorCode.RATE_LIMITED, "too many frames; slow down")
        self._strike("rate limit exceeded")
        return False

    def _refuse(self, err: ProtocolError) -> None:
        self.error(err.code, err.message, err.ref)
        self._strike("too many invalid frames")

    def _strike(self, reason: str) -> None:
        if self._admission.abuse.strike():
            self._stopped = True
            self._close_when_settled(CloseCode.POLICY_VIOLATION, reason)

    def _close_when_settled(self, code: CloseCode, reason: str) -> None:
        if self._closing is None:
            self._closing = (code, reason)
            self._maybe_close()

    def _maybe_close(self) -> None:
        if self._closing is not None:
            self.sink.close_soon(*self._closing)


class CandidateStream(_Stream):
    """One candidate socket: validation, the unacked window, acks and the ordering rule."""

    __slots__ = (
        "_max_clock_skew_s",
        "_max_text_chars",
        "_max_unacked",
        "_round_number",
        "room",
        "settled",
        "state",
        "unacked",
    )

    def __init__(
        self,
        session_id: uuid.UUID,
        sink: Sink,
        admission: FrameAdmission,
        *,
        max_text_chars: int,
        max_clock_skew_s: float = DEFAULT_MAX_CLOCK_SKEW_S,
        round_number: int | None = None,
        max_unacked: int = MAX_UNACKED,
    ) -> None:
        super().__init__(session_id, sink, admission)
        self._max_text_chars = max_text_chars
        self._max_clock_skew_s = max_clock_skew_s
        self._round_number = round_number  # the session's round: frames for another are refused
        self._max_unacked = max_unacked
        self.state = StreamState.OPEN
        self.unacked = 0
        self.room = asyncio.Event()  # set while the window has room
        self.room.set()
        self.settled = asyncio.Event()  # set while no frame is in flight
        self.settled.set()

    @property
    def broken(self) -> bool:
        """The fence: frames of a broken stream must not be stored."""
        return self.state is StreamState.BROKEN

    def fence(self) -> None:
        """A commit of this stream failed: store nothing more of it (answers follow)."""
        self.state = StreamState.BROKEN

    def hello(self, round_number: int, last_seq: int) -> None:
        self.sink.send(encode(frames.hello(self.session_id, round_number, last_seq)))

    def receive(self, raw: bytes) -> CandidateInput | None:
        """The frame to act on, or None when it was answered here (rate limit, invalid, or
        the stream is broken) or the stream is closing."""
        if self.closing:
            return None
        if not self._admit():
            return None
        try:
            frame = decode_candidate(
                raw, max_text_chars=self._max_text_chars, max_clock_skew_s=self._max_clock_skew_s
            )
        except ProtocolError as err:
            self._refuse(err)
            return None
        if (
            isinstance(frame, TranscriptFrame)
            and self._round_number is not None
            and frame.round_number != self._round_number
        ):  # it would be stored where no panel, `hello.last_seq` or analysis looks
            self._refuse(wrong_round(frame, self._round_number))
            return None
        if self.state is StreamState.BROKEN and not isinstance(frame, CommandAckFrame):
            self._not_stored(frame.ref or _ref_of(frame))
            return None
        return frame

    async def wait_for_room(self) -> None:
        while self.unacked >= self._max_unacked:
            self.room.clear()
            await self.room.wait()

    def reserve(self) -> None:
        """A frame is about to be submitted for commit: it counts until it is answered."""
        self.unacked += 1
        self.settled.clear()

    def stored(self, seq: int, message_id: uuid.UUID, duplicate: bool) -> None:
        self.sink.send_ack(encode(frames.ack(seq, message_id, duplicate)))
        self._answered()

    def corrected(self, seq: int, revision: int, message_id: uuid.UUID, duplicate: bool) -> None:
        """A correction committed: its ack carries the revision."""
        self.sink.send_ack(encode(frames.ack(seq, message_id, duplicate, revision)))
        self._answered()

    def invalid(self, ref: str, message: str) -> None:
        """Refused by the database for its own values (the batch's others were stored): like an
        invalid frame, it counts toward the abuse close; resending it cannot help."""
        self._refuse(ProtocolError(ErrorCode.INVALID_FRAME, message, ref))
        self._answered()

    def refused(self, ref: str, code: ErrorCode, message: str) -> None:
        """Not stored for a reason of its own (conflict, ended session): the others go on."""
        self.error(code, message, ref)
        self._answered()

    def failed(self, ref: str) -> None:
        """The commit failed (database unavailable): break the stream, answer, close 1011."""
        self.state = StreamState.BROKEN
        self._not_stored(ref)
        self._close_when_settled(CloseCode.INTERNAL_ERROR, "frame not stored; reconnect, resend")
        self._answered()

    def fenced(self, ref: str) -> None:
        """Queued behind a failed commit of this stream and dropped unstored."""
        self._not_stored(ref)
        self._answered()

    def _not_stored(self, ref: str) -> None:
        self.error(
            ErrorCode.UNAVAILABLE, "frame not stored (database unavailable); resend it", ref
        )

    def _answered(self) -> None:
        self.unacked -= 1
        self.room.set()
        if self.unacked <= 0:
            self.unacked = 0
            self.settled.set()
            self._maybe_close()

    def _maybe_close(self) -> None:
        if self.unacked == 0:
            super()._maybe_close()


def _ref_of(frame: TranscriptFrame | TranscriptCorrectionFrame) -> str:
    """The default `ref` of a frame without one: the seq, or `c<seq>.<revision>` for a
    correction (so its errors are told apart from the message's)."""
    if isinstance(frame, TranscriptCorrectionFrame):
        return f"c{frame.seq}.{frame.revision}"
    return str(frame.seq)


class PanelStream(_Stream):
    """One panel socket: validation and abuse strikes for its steering frames."""

    __slots__ = ()

    def receive(self, raw: bytes) -> PanelAction | None:
        if self.closing or not self._admit():
            return None
        try:
            return decode_panel(raw)
        except ProtocolError as err:
            self._refuse(err)
            return None


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """How a (re)joining panel catches up: a snapshot, or the logged events after `after`."""

    snapshot: bool
    reset: bool = False  # the snapshot replaces what the panel shows (it asked to resume)
    replay: tuple[tuple[int, bytes], ...] = ()
    live_from: int = 0  # the last event id the panel has once the plan is sent


def plan_resume(
    after: int | None,
    backlog: list[tuple[int, bytes]] | None,
    next_event_id: int,
    max_backlog: int = MAX_BACKLOG,
) -> ResumePlan:
    """A new panel gets a snapshot; a resuming one the events it missed, unless they are too
    many (more than `max_backlog`) or its `after` is ahead of the log (a reset database, or
    another session's id): then a snapshot that replaces what it shows."""
    if after is None or backlog is None:
        return ResumePlan(snapshot=True)
    if len(backlog) > max_backlog or (not backlog and after >= next_event_id):
        return ResumePlan(snapshot=True, reset=True)
    last = backlog[-1][0] if backlog else after
    return ResumePlan(snapshot=False, replay=tuple(backlog), live_from=last)
