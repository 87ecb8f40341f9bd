"""Drive a stream with bytes in and frames out: a sink standing for the socket's outbox, and
builders for streams and raw frames (shared by the stream tests)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from gateway.errors import CloseCode
from gateway.ratelimit import Abuse, TokenBucket
from gateway.streams import CandidateStream, FrameAdmission

__all__ = ["SID", "Sink", "admission", "candidate", "raw"]

SID = uuid.UUID("00000000-0000-4000-8000-000000000001")


class Sink:
    """Records what a stream sends, as the socket's outbox would."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closes: list[tuple[CloseCode, str]] = []

    def send(self, data: bytes) -> None:
        self.frames.append(orjson.loads(data))

    def send_ack(self, data: bytes) -> None:
        self.frames.append(orjson.loads(data))

    def close_soon(self, code: CloseCode, reason: str) -> None:
        self.closes.append((code, reason))

    def types(self) -> list[str]:
        return [f["type"] for f in self.frames]


def admission(rate: float = 1000, burst: int = 1000, strikes: int = 50) -> FrameAdmission:
    return FrameAdmission(TokenBucket(rate, burst), Abuse(limit=strikes))


def candidate(sink: Sink, **kwargs: Any) -> CandidateStream:
    return CandidateStream(SID, sink, kwargs.pop("admission", admission()), max_text_chars=100,
                           **kwargs)


def raw(seq: int, text: str = "hello", **extra: Any) -> bytes:
    return orjson.dumps({"type": "transcript", "seq": seq, "role": "user", "text": text, **extra})
