"""A WebSocket fuzz over both endpoints (hypothesis): types, sizes, nesting, unicode, timestamps.

Every frame gets an answer (an `error`, an `ack`, or nothing for the few valid frames that
have none) or one of the documented closes (1003 binary, 1008 abuse, 1009 too big); the
gateway keeps serving (a fresh socket still gets `hello`); only acked frames are in the
database. The gateway runs in its own process, as in production."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gateway.auth import Role, issue_token
from tests.faults.harness import GatewayProcess, free_port, gateway_env
from tests.helpers import TEST_SECRET, create_session

DOCUMENTED_CLOSES = {1003, 1008, 1009}
EXAMPLES = 300

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["transcript", "command_ack", "apply", "dismiss", "command", "analyze"]),
)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _timestamp(offset_minutes: int, years: int) -> str:
    sign = "+" if offset_minutes >= 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    year = max(1, min(9999, datetime.now(UTC).year + years))
    return f"{year:04d}-06-01T12:00:00{sign}{hh:02d}:{mm:02d}"


timestamps = st.one_of(
    st.builds(_timestamp, st.integers(-23 * 60, 23 * 60), st.integers(-2100, 8000)),
    st.just(datetime.now(UTC).isoformat()),
    st.builds(lambda s: (datetime.now(UTC) + timedelta(seconds=s)).isoformat(),
              st.integers(-3 * 86400, 3 * 86400)),
    st.text(max_size=30),
)

transcripts = st.fixed_dictionaries(
    {
        "type": st.just("transcript"),
        "seq": st.integers(1, 40),
        "role": st.sampled_from(["user", "assistant"]),
    },
    optional={
        "text": st.one_of(st.text(min_size=1, max_size=200), st.text(min_size=4000, max_size=4100)),
        "timestamp": timestamps,
        "round_number": st.one_of(st.integers(-1, 3), st.just(1e2), st.just("1")),
        "ref": st.one_of(st.text(max_size=80), st.integers(0, 2**63 - 1)),
        "extra": _scalars,
    },
)
commands = st.fixed_dictionaries(
    {"type": st.just("command"),
     "command_type": st.sampled_from(["context_update", "end_call", "launch"])},
    optional={"payload": st.one_of(
        st.dictionaries(st.text(max_size=10), _scalars, max_size=5),
        st.integers(0, 200).map(lambda d: {"t": _nested(d)}),
        st.just({"t": "x" * 9000}),
    )},
)
valid_transcripts = st.builds(
    lambda seq, role, text, skew: {
        "type": "transcript",
        "seq": seq,
        "role": role,
        "text": text,
        "timestamp": (datetime.now(UTC) + timedelta(seconds=skew)).isoformat(),
    },
    st.integers(1, 60),
    st.sampled_from(["user", "assistant"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1),
    st.integers(-3600, 3600),
)
frames = st.one_of(
    valid_transcripts,
    transcripts,
    commands,
    st.dictionaries(
        st.sampled_from(["type", "seq", "suggestion_id", "command_id", "payload", "text"]),
        _scalars,
        max_size=6,
    ),
)
# Raw text too: not JSON, JSON that is not an object, deep arrays, big frames, binary.
raws = st.one_of(
    frames.map(lambda f: orjson.dumps(f).decode()),
    st.text(max_size=100),
    st.integers(1, 1500).map(lambda d: "[" * d + "]" * d),
    st.integers(200, 1100).map(  # deeper than the encoder writes (issue 13, bug 4)
        lambda d: '{"type": "command", "command_type": "context_update", "payload": {"t": '
        + "[" * d + "]" * d + "}}"
    ),
    st.just("x" * (70 * 1024)),
    st.binary(min_size=1, max_size=50),
    st.integers(64, 80).map(  # integers beyond 64 bits, as text (orjson cannot write them)
        lambda b: f'{{"type": "transcript", "seq": {2**b}, "role": "user", "text": "x"}}'
    ),
)


def _answer(ws: ClientConnection, acked: set[int], within: float = 1.0) -> str:
    """The next frame's type (an ack's seq is noted in `acked`), `close:<code>`, or `none`."""
    try:
        raw = ws.recv(timeout=within)
    except TimeoutError:
        return "none"
    except ConnectionClosed as err:
        return f"close:{err.rcvd.code if err.rcvd is not None else None}"
    frame = orjson.loads(raw)
    if frame["type"] == "ack":
        acked.add(frame["seq"])
    return str(frame["type"])


@pytest.mark.timeout(280)
async def test_fuzz_both_endpoints(tmp_path: Path, db_dsn: str) -> None:
    pool = await asyncpg.create_pool(db_dsn, min_size=1, max_size=2)
    sid = await create_session(pool)
    # The fuzz reconnects after every documented close: more often than a client may.
    env = gateway_env(
        tmp_path / "data", free_port(), DATABASE_URL=db_dsn, WS_CONNECTS_PER_MINUTE="60000"
    )
    gateway = GatewayProcess(env)
    await gateway.start()
    ws_base = gateway.url.replace("http", "ws", 1)
    urls = {
        "candidate": f"{ws_base}/ws/candidate/{sid}?token="
        + issue_token(TEST_SECRET, Role.CANDIDATE, session_id=sid),
        "panel": f"{ws_base}/ws/panel/{sid}?token="
        + issue_token(TEST_SECRET, Role.INTERVIEWER, session_id=sid),
    }
    acked: set[int] = set()
    seen: dict[str, int] = {}
    started = time.monotonic()

    def run_fuzz() -> None:
        with contextlib.ExitStack() as stack:
            fuzz(stack)

    def fuzz(stack: contextlib.ExitStack) -> None:
        sockets: dict[str, ClientConnection] = {}

        def socket(kind: str) -> ClientConnection:
            ws = sockets.get(kind)
            if ws is None or ws.close_code is not None:
                ws = stack.enter_context(connect(urls[kind], open_timeout=10, max_size=None))
                first = orjson.loads(ws.recv(timeout=10))
                assert first["type"] in {"hello", "snapshot"}, first  # still serving
                while kind == "candidate" and _answer(ws, acked, 0.2) == "command":
                    pass  # commands a panel frame of the fuzz made, sent again on connect
                sockets[kind] = ws
            return ws

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            # The server's state carries over between examples (sockets, abuse counters): a
            # replay is not the same experiment, so report the first failure as it happened.
            phases=[Phase.explicit, Phase.generate],
            report_multiple_bugs=False,
        )
        @given(kind=st.sampled_from(["candidate", "panel"]), raw=raws)
        def one(kind: str, raw: str | bytes) -> None:
            ws = socket(kind)
            try:
                ws.send(raw)
            except ConnectionClosed:
                sockets.pop(kind, None)
                return
            answer = _answer(ws, acked)
            while answer == "command" and kind == "candidate":  # a command a panel sent
                answer = _answer(ws, acked)
            seen[answer] = seen.get(answer, 0) + 1
            if answer.startswith("close:"):
                sockets.pop(kind, None)
                code = int(answer.split(":")[1]) if answer != "close:None" else None
                assert code in DOCUMENTED_CLOSES, (kind, raw[:200], answer)
                return
            if answer in {"ack", "error", "suggestion_updated", "analysis", "alert"}:
                return
            # No answer: only frames that have none (a valid command, analyze, command_ack).
            assert answer in {"none", "command", "presence", "transcript"}, (
                kind,
                raw,
                answer,
                [line for line in gateway.lines if "analysis" in line][-5:],  # why, if an event
            )

        try:
            one()
        finally:
            for kind, ws in sockets.items():
                while kind == "candidate" and not _answer(ws, acked, 0.5).startswith(
                    ("none", "close")
                ):
                    pass  # late acks, if any
                ws.close()

    try:
        await asyncio.get_running_loop().run_in_executor(None, run_fuzz)
        # The gateway is still serving both endpoints after all of it.
        def probe() -> str:
            with connect(urls["candidate"], open_timeout=10) as ws:
                return str(orjson.loads(ws.recv(timeout=10))["type"])

        assert await asyncio.get_running_loop().run_in_executor(None, probe) == "hello"
        assert gateway.proc is not None and gateway.proc.returncode is None
        rows = await pool.fetch(
            "SELECT seq, text FROM voice_transcripts WHERE session_id = $1", sid
        )
    finally:
        await gateway.stop()
        await pool.close()
    stored = {r["seq"]: r["text"] for r in rows}
    # Only acked frames are stored, and every acked one is.
    assert set(stored) == acked, (sorted(stored), sorted(acked))
    errors = [line for line in gateway.lines if " ERROR " in line or "Traceback" in line]
    assert not errors, errors[:5]
    took = time.monotonic() - started
    print(f"\nws fuzz: {EXAMPLES} frames over both endpoints in {took:.1f} s; answers {seen}; "
          f"{len(stored)} rows stored, all acked")
