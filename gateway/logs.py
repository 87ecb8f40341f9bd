"""Log lines: text or one JSON object per line, each socket's lines carrying its ids, and
nothing that looks like a credential ever written.

- `ConnectionLog` (a `LoggerAdapter`) stamps `session_id` and `connection_id` on every line a
  socket's code logs through it; `bind_connection` puts the same ids in the task's context, so
  lines logged by code the socket's task calls (the hub, the live service) carry them too.
- `JsonFormatter` writes `{"time", "level", "logger", "message", "session_id",
  "connection_id"}` (ids only when known, `exc` with a traceback) on one line.
- `RedactFilter` is the safety net under the rule that tokens are never logged: bearer
  tokens, JWTs, `token=` query values and API keys in a message or traceback are replaced.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import sys
import uuid
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

__all__ = [
    "TEXT_FORMAT",
    "ConnectionLog",
    "ContextFilter",
    "JsonFormatter",
    "LogFormat",
    "RedactFilter",
    "TextFormatter",
    "bind_connection",
    "configure",
    "connection_log",
    "new_connection_id",
    "redact",
]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_session: contextvars.ContextVar[str | None] = contextvars.ContextVar("log_session", default=None)
_connection: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "log_connection", default=None
)

_SECRETS = (
    # A JWT: three base64url parts, the first a JSON header ("eyJ" is `{"`).
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"(?i)([?&;\s]token=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"\b(sk|xi)-[A-Za-z0-9_-]{16,}"), "[redacted-key]"),
)


def redact(text: str) -> str:
    """`text` with anything that looks like a bearer token, JWT or API key replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def new_connection_id() -> str:
    """A short random id for one socket: unique enough across processes to grep by."""
    return secrets.token_hex(4)


def bind_connection(session_id: uuid.UUID | str, connection_id: str) -> None:
    """Stamp this task's later log lines (and tasks it starts) with the socket's ids."""
    _session.set(str(session_id))
    _connection.set(connection_id)


class ConnectionLog(logging.LoggerAdapter[logging.Logger]):
    """A socket's logger: its session and connection ids on every line."""

    def __init__(self, logger: logging.Logger, session_id: uuid.UUID | str, connection_id: str):
        super().__init__(logger, {"session_id": str(session_id), "connection_id": connection_id})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def connection_log(logger: logging.Logger, session_id: uuid.UUID | str) -> ConnectionLog:
    """A new socket's logger (a fresh connection id), also bound to the calling task."""
    conn_id = new_connection_id()
    bind_connection(session_id, conn_id)
    return ConnectionLog(logger, session_id, conn_id)


class ContextFilter(logging.Filter):
    """Give every record `session_id`/`connection_id`: its own, the task's, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "session_id", None) is None:
            record.session_id = _session.get()
        if getattr(record, "connection_id", None) is None:
            record.connection_id = _connection.get()
        return True


class RedactFilter(logging.Filter):
    """Render the message (and traceback) once, redacted; formatters then use that text."""

    _plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    """Today's text line, with ` [session=... conn=...]` when a socket's ids are known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        sid = getattr(record, "session_id", None)
        cid = getattr(record, "connection_id", None)
        if sid is None and cid is None:
            return line
        ids = " ".join(f"{k}={v}" for k, v in (("session", sid), ("conn", cid)) if v is not None)
        head, newline, rest = line.partition("\n")  # ids on the first line, before a traceback
        return f"{head} [{ids}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line (a traceback goes inside it, as `exc`)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("session_id", "connection_id"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return orjson.dumps(out, default=str).decode()


def formatter_for(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def install(handler: logging.Handler, fmt: LogFormat = "text") -> None:
    """Give `handler` the gateway's filters (ids, redaction) and formatter."""
    for cls in (ContextFilter, RedactFilter):
        if not any(isinstance(f, cls) for f in handler.filters):
            handler.addFilter(cls())
    handler.setFormatter(formatter_for(fmt))


def configure(
    fmt: LogFormat = "text",
    level: str | int | None = None,
    quiet: Mapping[str, int] | None = None,
) -> None:
    """Set up the root logger's stderr handler (made if missing) with `fmt`, and `level`."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        install(handler, fmt)
    if level is not None:
        root.setLevel(level)
    for name, value in (quiet or {}).items():
        logging.getLogger(name).setLevel(value)
