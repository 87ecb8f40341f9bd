"""Corrections in the candidate stream: parsed strictly, acked with their revision, fenced like
transcripts once the stream is broken (bytes in, frames out)."""

from __future__ import annotations

import uuid

import orjson

from gateway.errors import ErrorCode
from gateway.protocol import TranscriptCorrectionFrame
from tests.unit.stream_sink import Sink, candidate, raw


def correction(seq: int, text: str = "Sure.", **extra: object) -> bytes:
    return orjson.dumps({"type": "transcript_correction", "seq": seq, "text": text, **extra})


def test_a_correction_is_parsed_with_defaults_and_acked_with_its_revision() -> None:
    sink = Sink()
    stream = candidate(sink)
    frame = stream.receive(correction(12))
    assert frame == TranscriptCorrectionFrame(
        type="transcript_correction", seq=12, revision=1, round_number=1, text="Sure."
    )
    stream.reserve()
    message_id = uuid.uuid4()
    stream.corrected(12, 1, message_id, duplicate=False)
    assert sink.frames == [
        {"type": "ack", "seq": 12, "revision": 1, "message_id": str(message_id),
         "duplicate": False}
    ]
    assert stream.unacked == 0


def test_bad_corrections_are_refused_with_a_clear_code() -> None:
    sink = Sink()
    stream = candidate(sink)
    assert stream.receive(correction(1, revision=0)) is None
    assert stream.receive(correction(1, extra_field=1)) is None
    assert stream.receive(correction(1, text="")) is None
    assert stream.receive(correction(1, text="x" * 101)) is None
    assert stream.receive(correction(1, role="user")) is None  # the role is the stored one's
    codes = [f["code"] for f in sink.frames]
    assert codes == [ErrorCode.VALIDATION_ERROR] * 3 + [ErrorCode.TEXT_TOO_LONG,
                                                        ErrorCode.VALIDATION_ERROR]
    assert sink.frames[0]["ref"] == "1" and "revision" in sink.frames[0]["message"]


def test_a_broken_stream_stores_no_correction_either() -> None:
    sink = Sink()
    stream = candidate(sink)
    assert stream.receive(raw(1)) is not None
    stream.reserve()
    stream.failed("1")
    assert stream.receive(correction(1, revision=2)) is None
    assert stream.receive(correction(1, revision=3, ref="mine")) is None
    errors = [(f["code"], f["ref"]) for f in sink.frames if f["type"] == "error"]
    assert errors == [("unavailable", "1"), ("unavailable", "c1.2"), ("unavailable", "mine")]
