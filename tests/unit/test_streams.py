"""The per-connection protocol logic, driven with bytes in and frames out (no socket, no DB)."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from gateway.errors import CloseCode, ErrorCode
from gateway.protocol import ApplyFrame, CommandAckFrame, TranscriptFrame
from gateway.streams import (
    PanelStream,
    StreamState,
    plan_resume,
)
from tests.unit.stream_sink import SID, Sink, admission, candidate, raw


def test_hello_then_frames_are_parsed() -> None:
    sink = Sink()
    stream = candidate(sink)
    stream.hello(round_number=1, last_seq=7)
    assert sink.frames == [
        {"type": "hello", "protocol": 1, "session_id": str(SID), "round_number": 1, "last_seq": 7}
    ]
    frame = stream.receive(raw(8))
    assert isinstance(frame, TranscriptFrame) and frame.seq == 8
    ack = stream.receive(orjson.dumps({"type": "command_ack", "command_id": str(uuid.uuid4())}))
    assert isinstance(ack, CommandAckFrame)


def test_acks_and_refusals_leave_the_window() -> None:
    sink = Sink()
    stream = candidate(sink)
    for _ in range(3):
        stream.reserve()
    assert stream.unacked == 3 and not stream.settled.is_set()
    message_id = uuid.uuid4()
    stream.stored(1, message_id, duplicate=False)
    stream.stored(2, message_id, duplicate=True)
    stream.refused("3", ErrorCode.SEQ_CONFLICT, "seq 3 was already stored with other content")
    assert stream.unacked == 0 and stream.settled.is_set()
    assert sink.frames == [
        {"type": "ack", "seq": 1, "message_id": str(message_id), "duplicate": False},
        {"type": "ack", "seq": 2, "message_id": str(message_id), "duplicate": True},
        {
            "type": "error",
            "code": "seq_conflict",
            "message": "seq 3 was already stored with other content",
            "ref": "3",
        },
    ]
    assert stream.state is StreamState.OPEN and sink.closes == []


async def test_a_full_window_pauses_the_reader_until_an_ack() -> None:
    sink = Sink()
    stream = candidate(sink, max_unacked=2)
    stream.reserve()
    stream.reserve()
    waiting = asyncio.create_task(stream.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    stream.stored(1, uuid.uuid4(), duplicate=False)
    await asyncio.wait_for(waiting, 1)
    assert stream.unacked == 1


def test_a_failed_commit_breaks_the_stream_and_closes_1011_after_the_last_answer() -> None:
    sink = Sink()
    stream = candidate(sink)
    for _ in range(3):  # frames 1, 2, 3 in flight
        stream.reserve()
    stream.fence()  # the store saw the failure first (before any answer)
    assert stream.broken
    stream.failed("1")
    assert sink.closes == []  # frames 2 and 3 still wait for their answers
    # A frame read now is answered at once and never reaches the service.
    assert stream.receive(raw(4)) is None
    stream.fenced("2")
    stream.fenced("3")
    assert sink.closes == [(CloseCode.INTERNAL_ERROR, "frame not stored; reconnect, resend")]
    errors = [(f["code"], f["ref"]) for f in sink.frames if f["type"] == "error"]
    assert errors == [("unavailable", "1"), ("unavailable", "4"), ("unavailable", "2"),
                      ("unavailable", "3")]
    assert "ack" not in sink.types()


def test_command_acks_still_pass_on_a_broken_stream() -> None:
    sink = Sink()
    stream = candidate(sink)
    stream.reserve()
    stream.failed("1")
    ack = stream.receive(orjson.dumps({"type": "command_ack", "command_id": str(uuid.uuid4())}))
    assert isinstance(ack, CommandAckFrame)


def test_invalid_frames_are_answered_and_abuse_closes_after_in_flight_acks() -> None:
    sink = Sink()
    stream = candidate(sink, admission=admission(strikes=3))
    stream.reserve()  # a frame admitted earlier is still committing
    assert stream.receive(b"not json") is None
    assert stream.receive(raw(1, text="")) is None
    assert sink.closes == []
    assert stream.receive(orjson.dumps({"type": "nope"})) is None  # third strike
    assert stream.closing
    assert sink.closes == []  # the frame in flight is answered first
    assert stream.receive(raw(2)) is None  # a closing stream reads nothing more
    stream.stored(1, uuid.uuid4(), duplicate=False)
    assert sink.types()[-1] == "ack"
    assert sink.closes == [(CloseCode.POLICY_VIOLATION, "too many invalid frames")]
    codes = [f["code"] for f in sink.frames if f["type"] == "error"]
    assert codes == ["invalid_json", "validation_error", "unknown_type"]


def test_rate_limit_answers_and_strikes() -> None:
    sink = Sink()
    stream = candidate(sink, admission=admission(rate=0.0001, burst=2, strikes=2))
    assert stream.receive(raw(1)) is not None
    assert stream.receive(raw(2)) is not None
    assert stream.receive(raw(3)) is None
    assert stream.receive(raw(4)) is None
    assert [f["code"] for f in sink.frames] == ["rate_limited", "rate_limited"]
    assert sink.closes == [(CloseCode.POLICY_VIOLATION, "rate limit exceeded")]


def test_panel_stream_parses_and_refuses() -> None:
    sink = Sink()
    stream = PanelStream(SID, sink, admission())
    frame = stream.receive(orjson.dumps({"type": "apply", "suggestion_id": str(uuid.uuid4())}))
    assert isinstance(frame, ApplyFrame)
    assert stream.receive(orjson.dumps({"type": "apply", "suggestion_id": "x"})) is None
    assert sink.frames[-1]["code"] == "validation_error"
    assert stream.errors == {"validation_error": 1}


@pytest.mark.parametrize(
    ("after", "backlog", "next_id", "expected"),
    [
        (None, None, 10, (True, False, (), 0)),  # a new panel: snapshot
        (5, [(6, b"a"), (7, b"b")], 8, (False, False, ((6, b"a"), (7, b"b")), 7)),
        (9, [], 10, (False, False, (), 9)),  # up to date: nothing to replay
        (12, [], 10, (True, True, (), 0)),  # ahead of the log: a snapshot that resets
        (0, [(i, b"x") for i in range(1, 5)], 5, (True, True, (), 0)),  # too many: snapshot
    ],
)
def test_resume_plan(
    after: int | None,
    backlog: list[tuple[int, bytes]] | None,
    next_id: int,
    expected: tuple[bool, bool, tuple[tuple[int, bytes], ...], int],
) -> None:
    plan = plan_resume(after, backlog, next_id, max_backlog=3)
    assert (plan.snapshot, plan.reset, plan.replay, plan.live_from) == expected
