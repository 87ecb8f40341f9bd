"""What a real candidate socket writes to the log: its ids on its lines, and never the
transcript text or its token at INFO (JSON format, the gateway's own filters)."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Callable, Iterator

import orjson
import pytest

from gateway.auth import Role
from gateway.logs import install
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url

SECRET_LINE = "my social security number is 078-05-1120 zebra-quartz"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    install(handler, "json")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_candidate_socket_lines_carry_ids_and_no_text_or_token(
    server_url: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    log_lines: io.StringIO,
) -> None:
    candidate = token(Role.CANDIDATE, session_id)
    panel = token(Role.INTERVIEWER, session_id)
    async with (
        await open_ws(ws_url(server_url, "panel", session_id, panel)) as pws,
        await open_ws(ws_url(server_url, "candidate", session_id, candidate)) as cws,
    ):
        await recv_until(pws, "snapshot")
        await recv(cws)
        for seq in range(1, 11):  # the 10th triggers an analysis, which logs at INFO
            await send(cws, transcript(seq, f"{SECRET_LINE} {seq}"))
            assert (await recv(cws))["type"] == "ack"
        await recv_until(pws, "analysis", within=15)
    # The run logs its line after it has recorded what it covered: just after the event.
    async with asyncio.timeout(10):
        while "analysis ok" not in log_lines.getvalue():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    lines = [orjson.loads(line) for line in log_lines.getvalue().splitlines()]
    # The test's own client (`websockets.*`) logs frames at DEBUG; the server side is the rest.
    served = [x for x in lines if not str(x["logger"]).startswith("websockets")]
    info = [x for x in lines if x["level"] != "DEBUG"]
    assert served and info
    for group in (info, served):
        text = "\n".join(orjson.dumps(x).decode() for x in group)
        assert "zebra-quartz" not in text, "transcript text reached the log"
        assert candidate not in text and panel not in text
    opened = [x for x in lines if str(x["message"]).endswith("socket open")]
    assert {x["message"] for x in opened} == {"panel socket open", "candidate socket open"}
    assert all(x["session_id"] == str(session_id) for x in opened)
    assert len({x["connection_id"] for x in opened}) == 2
    closed = [x for x in lines if "socket closed" in str(x["message"])]
    assert {x["connection_id"] for x in closed} == {x["connection_id"] for x in opened}
    assert any(x["level"] == "INFO" and "analysis ok" in str(x["message"]) for x in lines)
