"""Builders for every gateway -> client frame, so the wire format lives next to the protocol.

Event builders return plain dicts (stored as the `live_events` payload and encoded once for the
wire); `event_id` and `session_id` are stamped on by whoever allocates the id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from gateway.protocol import PROTOCOL_VERSION, encode

__all__ = [
    "ack",
    "command_delivered_event",
    "command_for_suggestion",
    "command_frame",
    "contextual_update_text",
    "hello",
    "iso",
    "numbered_transcript_event",
    "presence_event",
    "session_ended_event",
    "suggestion_updated_event",
    "transcript_head",
    "transcript_updated_event",
]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an optional instant: every frame writes times this way."""
    return value.isoformat() if value is not None else None


def hello(session_id: uuid.UUID, round_number: int, last_seq: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "session_id": str(session_id),
        "round_number": round_number,
        "last_seq": last_seq,
    }


def ack(
    seq: int, message_id: uuid.UUID, duplicate: bool, revision: int | None = None
) -> dict[str, Any]:
    """A transcript's ack, or (with `revision`) a correction's. The UUID goes as is: orjson
    writes it natively (the same text as `str()`, a third of the cost)."""
    if revision is None:
        return {"type": "ack", "seq": seq, "message_id": message_id, "duplicate": duplicate}
    return {
        "type": "ack",
        "seq": seq,
        "revision": revision,
        "message_id": message_id,
        "duplicate": duplicate,
    }


def transcript_head(
    *,
    message_id: uuid.UUID,
    seq: int | None,
    round_number: int,
    role: str,
    text: str,
    timestamp: datetime | None,
    word_count: int,
    session_id: uuid.UUID,
) -> bytes:
    """The hottest frame, serialized before its batch commits, without the two fields the
    store assigns: `numbered_transcript_event` appends them to the bytes. The live path builds
    it from the arriving frame, the resume path from the stored row, so both send the same
    bytes. UUIDs and datetimes are left to orjson, which writes them natively (the same text
    `str()` and `isoformat()` would give)."""
    return encode(
        {
            "type": "transcript",
            "message_id": message_id,
            "seq": seq,
            "round_number": round_number,
            "role": role,
            "text": text,
            "timestamp": timestamp,
            "word_count": word_count,
            "session_id": session_id,
        }
    )


def numbered_transcript_event(head: bytes, event_id: int, message_count: int) -> bytes:
    """A `transcript_head` completed with its event id and message count: a splice,
    not a second serialization."""
    if not (len(head) > 2 and head[0] == 0x7B and head[-1] == 0x7D):  # a non-empty {...}
        raise ValueError("a transcript event must be a non-empty JSON object")
    return b'%s,"event_id":%d,"message_count":%d}' % (head[:-1], event_id, message_count)


def command_frame(command: Any) -> dict[str, Any]:
    """A `command`: the same fields for the candidate (who injects it into the voice agent;
    sent without an event id) and for panels (logged as an event)."""
    return {
        "type": "command",
        "command_id": str(command["id"]),
        "command_type": command["command_type"],
        "payload": command["payload"],
        "source": command["source"],
        "suggestion_id": str(command["suggestion_id"]) if command["suggestion_id"] else None,
        "created_at": iso(command["created_at"]),
    }


def command_for_suggestion(
    category: str, text: str, label: str | None
) -> tuple[str, dict[str, Any]] | None:
    """The design's Apply mapping: a context injection becomes a `difficulty_change` command, a
    curveball a `curveball_inject`; a follow-up question is not injected (None)."""
    if category in ("followup_question", "followup"):
        return None
    if category == "curveball":
        return "curveball_inject", {"curveball": text, "label": label or "AI Suggested Curveball"}
    return "difficulty_change", {"context_injection": text}


def contextual_update_text(command: dict[str, Any]) -> str | None:
    """The text a command is injected into the voice agent as (ElevenLabs `contextual_update`,
    docs/protocol.md "Injecting commands into ElevenLabs"); None for `end_call`."""
    kind = command.get("command_type")
    payload = command.get("payload") or {}
    if kind == "curveball_inject":
        return f"[Curveball: {payload.get('label', '')}] {payload.get('curveball', '')}"
    if kind == "difficulty_change":
        return f"[Interviewer guidance] {payload.get('context_injection', '')}"
    if kind == "end_call":
        return None
    return str(payload.get("text", ""))


def suggestion_updated_event(
    suggestion_id: uuid.UUID, status: str, command_id: uuid.UUID | None = None
) -> dict[str, Any]:
    return {
        "type": "suggestion_updated",
        "suggestion_id": str(suggestion_id),
        "status": status,
        "command_id": str(command_id) if command_id else None,
    }


def command_delivered_event(command_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "command_delivered", "command_id": str(command_id)}


def presence_event(candidate_connected: bool) -> dict[str, Any]:
    return {"type": "presence", "candidate_connected": candidate_connected}


def session_ended_event(ended_at: datetime | None) -> dict[str, Any]:
    return {"type": "session_ended", "ended_at": iso(ended_at)}


def transcript_updated_event(
    *,
    message_id: uuid.UUID,
    seq: int,
    round_number: int,
    role: str,
    text: str,
    previous_text: str,
    revision: int,
) -> dict[str, Any]:
    """A stored message's text was replaced (a correction): panels swap the line in place."""
    return {
        "type": "transcript_updated",
        "message_id": str(message_id),
        "seq": seq,
        "round_number": round_number,
        "role": role,
        "text": text,
        "previous_text": previous_text,
        "revision": revision,
        "word_count": len(text.split()),
    }
