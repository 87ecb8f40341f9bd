from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import ErrorCode
from gateway.protocol import (
    ApplyFrame,
    CommandAckFrame,
    ManualCommandFrame,
    ProtocolError,
    TranscriptFrame,
    decode_candidate,
    decode_panel,
    encode,
    encode_error,
)


def cand(frame: object, limit: int = 100) -> object:
    return decode_candidate(orjson.dumps(frame), max_text_chars=limit)


def test_transcript_round_trip() -> None:
    frame = cand(
        {
            "type": "transcript",
            "seq": 3,
            "role": "user",
            "text": "hi",
            "timestamp": datetime.now(UTC).isoformat(),  # within MAX_CLOCK_SKEW_SECONDS
            "ref": "r1",
        }
    )
    assert isinstance(frame, TranscriptFrame)
    assert (frame.seq, frame.round_number, frame.role, frame.ref) == (3, 1, "user", "r1")
    ack = cand({"type": "command_ack", "command_id": str(uuid.uuid4())})
    assert isinstance(ack, CommandAckFrame)


@pytest.mark.parametrize(
    ("raw", "code", "ref"),
    [
        (b"{", ErrorCode.INVALID_JSON, None),
        (b'"string"', ErrorCode.INVALID_JSON, None),
        (b'{"seq": 4}', ErrorCode.UNKNOWN_TYPE, "4"),
        (b'{"type": 5}', ErrorCode.UNKNOWN_TYPE, None),
        (b'{"type": "dismiss", "suggestion_id": "x", "ref": "a"}', ErrorCode.ROLE_NOT_ALLOWED, "a"),
        (
            b'{"type": "transcript", "seq": 2, "role": "user", "text": ""}',
            ErrorCode.VALIDATION_ERROR,
            "2",
        ),
        (
            b'{"type": "transcript", "seq": 2, "role": "user", "text": "' + b"x" * 101 + b'"}',
            ErrorCode.TEXT_TOO_LONG,
            "2",
        ),
    ],
)
def test_candidate_errors_carry_code_and_ref(raw: bytes, code: ErrorCode, ref: str | None) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_candidate(raw, max_text_chars=100)
    assert err.value.code == code
    assert err.value.ref == ref


def test_panel_frames() -> None:
    sid = str(uuid.uuid4())
    assert isinstance(
        decode_panel(orjson.dumps({"type": "apply", "suggestion_id": sid})), ApplyFrame
    )
    manual = decode_panel(
        orjson.dumps(
            {"type": "command", "command_type": "context_update", "payload": {"text": "x"}}
        )
    )
    assert isinstance(manual, ManualCommandFrame)
    with pytest.raises(ProtocolError) as err:
        decode_panel(orjson.dumps({"type": "transcript", "seq": 1}))
    assert err.value.code == ErrorCode.ROLE_NOT_ALLOWED
    with pytest.raises(ProtocolError) as err:
        decode_panel(
            orjson.dumps(
                {
                    "type": "command",
                    "command_type": "context_update",
                    "payload": {"text": "x" * 9000},
                }
            )
        )
    assert err.value.code == ErrorCode.VALIDATION_ERROR


@pytest.mark.parametrize(
    ("command_type", "payload"),
    [
        ("context_update", {"text": "Mention the budget freeze"}),
        ("difficulty_change", {"context_injection": "Push back on price"}),
        ("curveball_inject", {"curveball": "Your champion just left", "label": "Org change"}),
        ("curveball_inject", {"curveball": "A competitor is cheaper"}),
        ("end_call", {}),
        ("end_call", {"reason": "time is up"}),
    ],
)
def test_command_payloads_the_candidate_client_can_inject(
    command_type: str, payload: dict[str, object]
) -> None:
    frame = decode_panel(
        orjson.dumps({"type": "command", "command_type": command_type, "payload": payload})
    )
    assert isinstance(frame, ManualCommandFrame) and frame.payload == payload


@pytest.mark.parametrize(
    ("command_type", "payload", "named"),
    [
        ("context_update", {}, "text"),  # would inject an empty update
        ("context_update", {"text": ""}, "text"),
        ("context_update", {"text": 12}, "text"),  # strict: no coercion to "12"
        ("context_update", {"text": "x", "extra": 1}, "extra"),
        ("difficulty_change", {"text": "the wrong field for this type"}, "context_injection"),
        ("curveball_inject", {"label": "no curveball"}, "curveball"),
        ("curveball_inject", {"curveball": "x", "label": ["not", "text"]}, "label"),
        ("end_call", {"reason": "r" * 501}, "reason"),
        ("end_call", {"now": True}, "now"),
    ],
)
def test_a_command_payload_that_does_not_fit_its_type_is_refused(
    command_type: str, payload: dict[str, object], named: str
) -> None:
    raw = {"type": "command", "command_type": command_type, "payload": payload, "ref": "c1"}
    with pytest.raises(ProtocolError) as err:
        decode_panel(orjson.dumps(raw))
    assert err.value.code == ErrorCode.VALIDATION_ERROR and err.value.ref == "c1"
    assert command_type in str(err.value) and named in str(err.value)


def test_encode_serializes_uuids_once() -> None:
    sid = uuid.uuid4()
    data = encode({"type": "x", "id": sid})
    assert orjson.loads(data) == {"type": "x", "id": str(sid)}
    assert orjson.loads(encode_error(ErrorCode.RATE_LIMITED, "slow", "7")) == {
        "type": "error",
        "code": "rate_limited",
        "message": "slow",
        "ref": "7",
    }


@given(st.binary(max_size=300))
def test_decoder_never_raises_anything_but_protocol_error(raw: bytes) -> None:
    for decode in (lambda r: decode_candidate(r, max_text_chars=50), decode_panel):
        try:
            decode(raw)
        except ProtocolError:
            pass


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "seq",
                "role",
                "text",
                "ref",
                "command_id",
                "suggestion_id",
                "payload",
                "round_number",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(-(2**63), 2**63 - 1),
            st.text(max_size=20),
            st.sampled_from(["transcript", "apply", "command", "user"]),
        ),
    )
)
def test_structured_garbage_is_a_protocol_error(frame: dict[str, object]) -> None:
    raw = orjson.dumps(frame)
    for decode in (lambda r: decode_candidate(r, max_text_chars=50), decode_panel):
        try:
            decode(raw)
        except ProtocolError:
            pass


def test_apply_mapping_follows_the_design() -> None:
    from gateway.frames import command_for_suggestion

    assert command_for_suggestion("context_injection", "Mention budget", None) == (
        "difficulty_change",
        {"context_injection": "Mention budget"},
    )
    assert command_for_suggestion("curveball", "CTO wants a delay", "Timeline") == (
        "curveball_inject",
        {"curveball": "CTO wants a delay", "label": "Timeline"},
    )
    assert command_for_suggestion("curveball", "x", None) == (
        "curveball_inject",
        {"curveball": "x", "label": "AI Suggested Curveball"},
    )
    assert command_for_suggestion("followup_question", "Ask: why?", None) is None
