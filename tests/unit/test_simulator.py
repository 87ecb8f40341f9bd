"""The candidate client's state machine, without sockets: frames in, frames and notes out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from client.simulator import (
    CandidateProtocol,
    CloseAction,
    Message,
    SimulatorError,
    close_action,
    contextual_update,
    load_transcript,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "transcripts"
MESSAGES = [
    Message("assistant", "Hi, Sarah Chen here."),
    Message("user", "Thanks for the time."),
    Message("assistant", "What did you want to cover?"),
]


def hello(last_seq: int = 0, protocol: int = 1) -> bytes:
    return orjson.dumps(
        {
            "type": "hello",
            "protocol": protocol,
            "session_id": "s",
            "round_number": 1,
            "last_seq": last_seq,
        }
    )


def streaming(messages: list[Message] | None = None) -> CandidateProtocol:
    p = CandidateProtocol(messages or MESSAGES)
    p.connecting()
    p.receive(hello())
    return p


def test_frames_carry_seq_in_transcript_order_and_stay_until_acked() -> None:
    p = streaming()
    now = datetime(2026, 11, 24, 10, 15, 2, 120000, tzinfo=UTC)
    first = p.next_transcript(now)
    second = p.next_transcript(now)
    assert first == {
        "type": "transcript",
        "seq": 1,
        "round_number": 1,
        "role": "assistant",
        "text": "Hi, Sarah Chen here.",
        "timestamp": "2026-11-24T10:15:02.120Z",
    }
    assert second["seq"] == 2 and second["role"] == "user"
    assert list(p.unacked) == [1, 2]
    reaction = p.receive(
        orjson.dumps({"type": "ack", "seq": 1, "message_id": "m1", "duplicate": False})
    )
    assert reaction.notes == ["ack seq 1"] and not reaction.send
    assert list(p.unacked) == [2] and p.acked == {1: "m1"}
    assert not p.finished


def test_reconnect_resends_every_unacked_frame_in_order_after_hello() -> None:
    p = streaming()
    frames = [p.next_transcript() for _ in range(3)]
    p.receive(orjson.dumps({"type": "ack", "seq": 1, "message_id": "m1"}))
    p.disconnected()
    assert not p.can_send_next() and not p.streaming
    p.connecting()
    reaction = p.receive(hello(last_seq=2))
    # seq 2 is committed (last_seq) but its ack was lost: resent and acked as a duplicate.
    assert reaction.send == frames[1:]
    assert "resending 2 unacked frame(s) from seq 2" in reaction.notes[0]
    p.receive(orjson.dumps({"type": "ack", "seq": 2, "message_id": "m2", "duplicate": True}))
    p.receive(orjson.dumps({"type": "ack", "seq": 3, "message_id": "m3"}))
    assert p.duplicates == 1 and p.finished


def test_first_frame_must_be_hello_and_protocol_must_match() -> None:
    p = CandidateProtocol(MESSAGES)
    p.connecting()
    with pytest.raises(SimulatorError, match="expected hello"):
        p.receive(orjson.dumps({"type": "ack", "seq": 1}))
    p.connecting()
    with pytest.raises(SimulatorError, match="protocol 2"):
        p.receive(hello(protocol=2))


def test_nothing_is_sent_before_hello_or_past_the_end() -> None:
    p = CandidateProtocol(MESSAGES[:1])
    assert not p.can_send_next()
    with pytest.raises(RuntimeError):
        p.next_transcript()
    p.connecting()
    p.receive(hello())
    p.next_transcript()
    assert not p.can_send_next()


@pytest.mark.parametrize(
    ("command_type", "payload", "text"),
    [
        (
            "curveball_inject",
            {"curveball": "CFO wants quotes", "label": "Competitive Pressure"},
            "[Curveball: Competitive Pressure] CFO wants quotes",
        ),
        (
            "difficulty_change",
            {"context_injection": "Push on budget"},
            "[Interviewer guidance] Push on budget",
        ),
        ("context_update", {"text": "Mention a hiring freeze"}, "Mention a hiring freeze"),
    ],
)
def test_commands_map_to_elevenlabs_contextual_update(
    command_type: str, payload: dict[str, str], text: str
) -> None:
    update = contextual_update({"command_type": command_type, "payload": payload})
    assert update == {"type": "contextual_update", "text": text}


def test_a_command_is_injected_once_and_acked_every_time() -> None:
    p = streaming()
    command = orjson.dumps(
        {
            "type": "command",
            "command_id": "c1",
            "command_type": "curveball_inject",
            "payload": {"curveball": "Budget freeze", "label": "Budget"},
            "source": "ai_suggested",
        }
    )
    first = p.receive(command)
    assert first.send == [{"type": "command_ack", "command_id": "c1"}]
    assert any('"[Curveball: Budget] Budget freeze"' in n for n in first.notes)
    again = p.receive(command)
    assert again.send == [{"type": "command_ack", "command_id": "c1"}]
    assert "already injected" in again.notes[0]
    assert len(p.updates) == 1 and list(p.injected) == ["c1"]


def test_end_call_hangs_up_the_voice_call() -> None:
    p = streaming()
    p.next_transcript()
    reaction = p.receive(
        orjson.dumps(
            {
                "type": "command",
                "command_id": "c9",
                "command_type": "end_call",
                "payload": {"reason": "x"},
            }
        )
    )
    assert reaction.send == [{"type": "command_ack", "command_id": "c9"}]
    assert any("endSession()" in n for n in reaction.notes)
    assert not p.can_send_next() and not p.updates
    p.receive(orjson.dumps({"type": "ack", "seq": 1, "message_id": "m1"}))
    assert p.finished


def test_errors_retry_stop_or_fail() -> None:
    p = streaming()
    p.next_transcript()
    p.next_transcript()
    # Not stored, and nothing more is stored on this socket (the gateway closes it 1011): the
    # frame waits, unacked, for the resend after the next hello.
    waits = p.receive(
        orjson.dumps({"type": "error", "code": "unavailable", "message": "db", "ref": "2"})
    )
    assert waits.retry is None and not waits.send and sorted(p.unacked) == [1, 2]
    retry = p.receive(
        orjson.dumps({"type": "error", "code": "rate_limited", "message": "slow", "ref": "2"})
    )
    assert retry.retry is not None and [f["seq"] for f in retry.retry] == [2]
    with pytest.raises(SimulatorError, match="seq_conflict"):
        p.receive(
            orjson.dumps(
                {"type": "error", "code": "seq_conflict", "message": "differs", "ref": "1"}
            )
        )
    ended = p.receive(orjson.dumps({"type": "session_ended", "ended_at": "t"}))
    assert ended.ended


def test_garbage_and_unknown_frames_are_ignored_with_a_note() -> None:
    p = streaming()
    assert p.receive(b"not json").notes == ["ignored a frame that is not JSON"]
    assert p.receive(b"[1]").notes == ["ignored a frame that is not a JSON object"]
    assert "unknown frame type" in p.receive(b'{"type": "presence"}').notes[0]


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (1000, CloseAction.RECONNECT),
        (1001, CloseAction.RECONNECT),
        (1011, CloseAction.RECONNECT),
        (1013, CloseAction.RECONNECT),
        (None, CloseAction.RECONNECT),
        (4000, CloseAction.STOP),
        (4001, CloseAction.STOP),
        (1008, CloseAction.FATAL),
        (1009, CloseAction.FATAL),
        (4002, CloseAction.FATAL),
    ],
)
def test_close_codes_follow_the_protocol_table(code: int | None, action: CloseAction) -> None:
    assert close_action(code) is action


def test_seed_transcripts_load(tmp_path: Path) -> None:
    messages = load_transcript(SEEDS / "strong.json")
    assert len(messages) > 20 and {m.role for m in messages} == {"user", "assistant"}
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{"role": "user", "text": "hello"}]))
    assert load_transcript(bare) == [Message("user", "hello")]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"messages": [{"role": "narrator", "text": "x"}]}))
    with pytest.raises(SimulatorError, match="message 1 needs a role"):
        load_transcript(bad)
    with pytest.raises(SimulatorError, match="cannot read"):
        load_transcript(tmp_path / "missing.json")
