"""Log lines: the JSON shape, socket ids from the adapter and the task's context, redaction."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Iterator

import orjson
import pytest

from gateway.auth import Role, issue_token
from gateway.logs import (
    ConnectionLog,
    JsonFormatter,
    TextFormatter,
    bind_connection,
    connection_log,
    install,
    redact,
)

SECRET = "s" * 40


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose lines go, formatted as JSON with the gateway's filters, to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    install(handler, "json")
    logger = logging.getLogger(f"test.logs.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_json_line_shape(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = captured
    logger.info("hello %s", "world")
    [line] = _lines(out)
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["message"] == "hello world"
    assert str(line["time"]).endswith("+00:00")


def test_connection_log_puts_ids_on_every_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    sid = uuid.uuid4()
    conn = ConnectionLog(logger, sid, "c0ffee00")
    conn.info("one")
    conn.warning("two", extra={"other": 1})
    lines = _lines(out)
    assert [(x["session_id"], x["connection_id"]) for x in lines] == [(str(sid), "c0ffee00")] * 2
    assert [x["level"] for x in lines] == ["INFO", "WARNING"]


async def test_lines_of_the_sockets_task_carry_its_ids(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    sid_a, sid_b = uuid.uuid4(), uuid.uuid4()

    async def socket(sid: uuid.UUID) -> str:
        adapter = connection_log(logger, sid)
        await asyncio.sleep(0)
        logger.info("plain logger, inside %s", sid)  # not through the adapter
        return str(adapter.extra["connection_id"]) if adapter.extra else ""

    ids = await asyncio.gather(socket(sid_a), socket(sid_b))
    logger.info("outside any socket")
    lines = _lines(out)
    by_sid = {x["session_id"]: x["connection_id"] for x in lines if "session_id" in x}
    assert by_sid == {str(sid_a): ids[0], str(sid_b): ids[1]}
    assert "session_id" not in lines[-1]


def test_tokens_in_messages_and_tracebacks_are_redacted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    jwt = issue_token(SECRET, Role.ADMIN)
    logger.info("header Authorization: Bearer %s", "opaque-0123456789abcdef")
    logger.info("header Authorization: Bearer %s", jwt)
    logger.warning("GET /ws/candidate/x?token=%s&after=3 refused", "abc.def.ghi")
    logger.info("key sk-%s in a message", "A" * 30)
    try:
        raise ValueError(f"bad token {jwt}")
    except ValueError:
        logger.exception("failed")
    text = out.getvalue()
    assert jwt not in text
    assert "abc.def.ghi" not in text
    assert "0123456789abcdef" not in text
    assert "A" * 30 not in text
    lines = _lines(out)
    assert lines[0]["message"] == "header Authorization: Bearer [redacted]"
    assert lines[1]["message"] == "header Authorization: Bearer [redacted-jwt]"
    assert lines[2]["message"] == "GET /ws/candidate/x?token=[redacted]&after=3 refused"
    assert "[redacted-jwt]" in str(lines[4]["exc"])


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "analysis ok session=5f0c run=1 reason=count score=72 in 12 ms"
    assert redact(text) == text


def test_text_format_appends_ids() -> None:
    record = logging.LogRecord("gateway.ws", logging.INFO, __file__, 1, "closing", None, None)
    record.session_id, record.connection_id = "s1", "c1"
    assert TextFormatter().format(record).endswith("gateway.ws: closing [session=s1 conn=c1]")
    bind_connection("s2", "c2")  # the context only fills what a record does not already say
    assert orjson.loads(JsonFormatter().format(record))["session_id"] == "s1"
