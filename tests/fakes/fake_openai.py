"""A local fake of the OpenAI chat completions API, for tests and benchmarks.

It speaks enough of the real wire format (``POST /v1/chat/completions``, bearer auth,
OpenAI-shaped errors and completions) for the real ``openai`` SDK to talk to it, and it
answers from a script: a FIFO queue of behaviours, falling back to ``default`` (a valid
completion) when the queue is empty. Every request is recorded for assertions.

    async with FakeOpenAI() as fake:
        fake.script(rate_limit(retry_after=0), ok())
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        ...
        assert fake.requests[-1].response_format["type"] == "json_schema"

For a slow model (benchmarks): ``FakeOpenAI(latency=1.0)``. In pytest, use the
``fake_openai`` fixture below (import it or list this module in ``pytest_plugins``), or
``async with FakeOpenAI()`` directly.

A valid answer is built to fit the request: the factor names come from the strict
schema in ``response_format`` (or, in json_object mode, from the system prompt's factor
list), so the fake works with every rubric.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import pytest_asyncio
from aiohttp import web

__all__ = [
    "DEFAULT_FACTORS",
    "Behaviour",
    "FakeOpenAI",
    "RecordedRequest",
    "delay",
    "error",
    "fake_openai",
    "garbage",
    "non_json",
    "ok",
    "out_of_range",
    "rate_limit",
    "refusal",
    "schema_unsupported",
    "server_error",
    "truncated",
    "valid_result",
]

DEFAULT_FACTORS = (
    "rapport",
    "discovery",
    "objection_handling",
    "value_articulation",
    "closing_momentum",
)
SCHEMA_UNSUPPORTED_MESSAGE = (
    "Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
    "this model. Learn more about supported models at the Structured Outputs guide: "
    "https://platform.openai.com/docs/guides/structured-outputs"
)

Kind = Literal[
    "ok",
    "rate_limit",
    "error",
    "delay",
    "truncated",
    "non_json",
    "garbage",
    "schema_unsupported",
    "out_of_range",
    "refusal",
]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the fake answers one request. Build these with the helper functions."""

    kind: Kind
    result: Mapping[str, Any] | None = None
    status: int = 200
    message: str = ""
    error_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    then: Behaviour | None = None
    body: bytes = b""
    content_type: str = "application/json"
    text: str = ""


def ok(result: Mapping[str, Any] | None = None) -> Behaviour:
    """A valid completion; ``result`` defaults to one that fits the request's rubric."""
    return Behaviour("ok", result=result)


def rate_limit(retry_after: float | None = 1.0) -> Behaviour:
    """429 like OpenAI's, with ``retry-after`` (seconds) when given."""
    headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
    return Behaviour(
        "rate_limit",
        status=429,
        message="Rate limit reached for gpt-4o on requests per min (RPM): Limit 500.",
        error_type="requests",
        headers=headers,
    )


def server_error(status: int = 500) -> Behaviour:
    return error(
        status,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
    )


def error(status: int, message: str, error_type: str = "invalid_request_error") -> Behaviour:
    """Any OpenAI-shaped error answer."""
    return Behaviour("error", status=status, message=message, error_type=error_type)


def delay(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait ``seconds`` and then answer with ``then`` (default: the fake's default)."""
    return Behaviour("delay", seconds=seconds, then=then)


def truncated() -> Behaviour:
    """A completion cut off half-way: invalid JSON and ``finish_reason: "length"``."""
    return Behaviour("truncated")


def non_json(
    text: str = "Sure! Here is the analysis you asked for: the call went well.",
) -> Behaviour:
    """A 200 completion whose content is prose, not JSON."""
    return Behaviour("non_json", text=text)


def garbage(
    body: bytes = b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    content_type: str = "text/html",
) -> Behaviour:
    """A 200 whose HTTP body is not a completion at all (a proxy error page)."""
    return Behaviour("garbage", body=body, content_type=content_type)


def schema_unsupported() -> Behaviour:
    """400 like OpenAI's for a model without json_schema structured outputs."""
    return Behaviour(
        "schema_unsupported",
        status=400,
        message=SCHEMA_UNSUPPORTED_MESSAGE,
        error_type="invalid_request_error",
    )


def out_of_range() -> Behaviour:
    """A well-formed completion whose score (150) and one factor (-5) are out of range."""
    return Behaviour("out_of_range")


def refusal(text: str = "I'm sorry, but I can't help with that request.") -> Behaviour:
    return Behaviour("refusal", text=text)


def valid_result(factors: tuple[str, ...] = DEFAULT_FACTORS, score: int = 72) -> dict[str, Any]:
    """A valid analysis result with the given factor names, spread around ``score`` so the
    overall score agrees with them (the analyzer recomputes it from the factors)."""
    spread = (-12, -6, 0, 6, 12)
    return {
        "say_meter": {
            "score": score,
            "factors": {
                name: min(100, max(0, score + spread[i % len(spread)]))
                for i, name in enumerate(factors)
            },
            "reasoning": "Fake model: good rapport, discovery could go deeper.",
        },
        "suggestions": [
            {
                "type": "context_injection",
                "text": "Mention budget concerns",
                "priority": "medium",
                "label": None,
            },
            {
                "type": "curveball",
                "text": "CTO just emailed asking to delay the decision",
                "priority": "high",
                "label": "Timeline Shift",
            },
            {
                "type": "followup_question",
                "text": "Ask: What does success look like 90 days after implementation?",
                "priority": "high",
                "label": None,
            },
        ],
    }


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    authorized: bool

    @property
    def json(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def model(self) -> str | None:
        value = self.json.get("model")
        return value if isinstance(value, str) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        value = self.json.get("messages")
        return value if isinstance(value, list) else []

    @property
    def response_format(self) -> dict[str, Any]:
        value = self.json.get("response_format")
        return value if isinstance(value, dict) else {}

    @property
    def schema(self) -> dict[str, Any] | None:
        """The strict JSON schema sent, if the request used json_schema."""
        schema = self.response_format.get("json_schema", {}).get("schema")
        return schema if isinstance(schema, dict) else None


_PROMPT_FACTOR = re.compile(r"^\s+- ([a-z][a-z0-9_]*): ", re.MULTILINE)


def _factor_names(request: RecordedRequest) -> tuple[str, ...]:
    schema = request.schema
    if schema is not None:
        try:
            required = schema["properties"]["say_meter"]["properties"]["factors"]["required"]
            return tuple(str(name) for name in required)
        except (KeyError, TypeError):
            pass
    for message in request.messages:
        if message.get("role") == "system" and isinstance(message.get("content"), str):
            names = tuple(_PROMPT_FACTOR.findall(message["content"]))
            if names:
                return names
    return DEFAULT_FACTORS


class FakeOpenAI:
    """The fake server. ``await start()`` / ``await stop()``, or ``async with``."""

    def __init__(
        self,
        *,
        api_key: str = "test",
        default: Behaviour | None = None,
        latency: float = 0.0,
        supports_json_schema: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.default = default or ok()
        self.latency = latency
        self.supports_json_schema = supports_json_schema
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._ids = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it as ``AsyncOpenAI(base_url=...)``."""
        if self._runner is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://{self._host}:{self._port}/v1"

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # A short shutdown timeout: delayed answers must not hold up test teardown.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        # Bind the socket ourselves so the OS-chosen port is known without private API.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- scripting -------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests (FIFO)."""
        self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Scripted behaviours not yet used."""
        return len(self._queue)

    @property
    def completion_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    # -- HTTP ------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._error(404, f"Unknown path {request.path}", "invalid_request_error")

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        authorized = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            authorized=authorized,
        )
        self.requests.append(recorded)
        if not authorized:
            # Echo the presented key unmasked (worse than OpenAI, which masks most of
            # it), so tests can prove clients redact provider messages.
            presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
            return self._error(
                401,
                f"Incorrect API key provided: {presented}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        if not isinstance(body, dict) or "messages" not in body or "model" not in body:
            return self._error(400, "Invalid request body.", "invalid_request_error")
        if self.latency:
            await self._sleep(self.latency)
        if not self.supports_json_schema and recorded.response_format.get("type") == "json_schema":
            return await self._answer(schema_unsupported(), recorded)
        behaviour = self._queue.popleft() if self._queue else self.default
        return await self._answer(behaviour, recorded)

    async def _sleep(self, seconds: float) -> None:
        # Interruptible, so stop() does not wait for a slow scripted answer.
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _answer(self, b: Behaviour, req: RecordedRequest) -> web.StreamResponse:
        if b.kind == "delay":
            await self._sleep(b.seconds)
            return await self._answer(b.then or self.default, req)
        if b.kind in ("rate_limit", "error", "schema_unsupported"):
            param = "response_format" if b.kind == "schema_unsupported" else None
            code = "rate_limit_exceeded" if b.kind == "rate_limit" else None
            return self._error(
                b.status, b.message, b.error_type, param=param, code=code, headers=b.headers
            )
        if b.kind == "garbage":
            return web.Response(body=b.body, status=200, content_type=b.content_type)

        result = dict(b.result) if b.result is not None else valid_result(_factor_names(req))
        content: str | None = orjson.dumps(result).decode()
        finish, refused = "stop", None
        if b.kind == "truncated":
            content, finish = (content or "")[: len(content or "") // 2], "length"
        elif b.kind == "non_json":
            content = b.text
        elif b.kind == "out_of_range":
            broken = valid_result(_factor_names(req), score=150)
            first = next(iter(broken["say_meter"]["factors"]))
            broken["say_meter"]["factors"][first] = -5
            content = orjson.dumps(broken).decode()
        elif b.kind == "refusal":
            content, refused = None, b.text
        return self._completion(req, content, finish, refused)

    def _completion(
        self, req: RecordedRequest, content: str | None, finish: str, refused: str | None
    ) -> web.Response:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in req.messages)
        completion_tokens = len((content or refused or "").split())
        payload = {
            "id": f"chatcmpl-fake{next(self._ids):06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model or "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": refused,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        return web.Response(
            body=orjson.dumps(payload),
            content_type="application/json",
            headers={"x-request-id": f"req_fake{len(self.requests)}"},
        )

    @staticmethod
    def _error(
        status: int,
        message: str,
        error_type: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        payload = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        return web.Response(
            body=orjson.dumps(payload),
            status=status,
            content_type="application/json",
            headers=dict(headers or {}),
        )


@pytest_asyncio.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A started :class:`FakeOpenAI` (api key "test"), stopped after the test."""
    async with FakeOpenAI() as fake:
        yield fake
