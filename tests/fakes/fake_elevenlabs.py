"""A local stand-in for the ElevenLabs agents API, scriptable to fail, stall or talk nonsense.

    fake = FakeElevenLabs(api_key="xi-test")
    await fake.start()                  # 127.0.0.1, a free port; fake.base_url
    fake.script("create", Fail(429, retry_after=0), Fail(500), Garbage("not json"))
    ...
    fake.requests                       # every request: method, path, headers, json
    await fake.stop()

Scripted behaviours are consumed one per request (per endpoint: "create", "list", "delete" or
"signed_url");
with none left the fake answers like the real API. It checks the `xi-api-key` header (401), the
agents/create body shape and the list's query (422 `{"detail": ...}`). A `Delay` stalls and then
answers normally, even when the client has given up by then: a stalled create still creates the
agent, like a real vendor that timed out on the way back.

    GET /v1/convai/agents?search=&page_size=&cursor=&sort_by=&sort_direction=
    -> {"agents": [{"agent_id", "name", "tags", "created_at_unix_secs"}], "has_more",
        "next_cursor"}  (search: case-insensitive substring of the name; newest first unless
        sort_direction=asc)

    GET /v1/convai/conversation/get-signed-url?agent_id=
    -> {"signed_url":
        "<conversation_url>/v1/convai/conversation?agent_id=…&conversation_signature=…"}
       (404 for an unknown agent, 422 without agent_id). The signature is recorded in
       `signatures`, which the fake conversation server (fake_elevenlabs_conversation.py) redeems:
       single use, for that agent, within `SignatureBook.ttl_s`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

__all__ = ["Delay", "Fail", "FakeElevenLabs", "Garbage", "Recorded", "SignatureBook"]


@dataclass(frozen=True)
class Fail:
    status: int
    retry_after: float | None = None
    detail: str = "scripted failure"


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Garbage:
    body: bytes | str  # e.g. "not json" or '{"no_agent_id": true}'
    status: int = 200


Behaviour = Fail | Delay | Garbage


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class SignatureBook:
    """Conversation signatures of signed URLs: issued by the HTTP fake, redeemed by the fake
    conversation socket. Each is good once, for its agent, for `ttl_s` (ElevenLabs: 15 minutes).
    """

    ttl_s: float = 900.0
    clock: Callable[[], float] = time.time
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (agent, expiry)
    redeemed: list[str] = field(default_factory=list)

    def issue(self, agent_id: str) -> str:
        token = secrets.token_urlsafe(24)
        self.issued[token] = (agent_id, self.clock() + self.ttl_s)
        return token

    def redeem(self, token: str, agent_id: str) -> str | None:
        """Why `token` does not open a conversation with `agent_id` (None: it does, once)."""
        found = self.issued.get(token)
        if found is None:
            return "unknown or already used conversation_signature"
        owner, expiry = found
        if owner != agent_id:
            return "conversation_signature is for another agent"
        del self.issued[token]
        if self.clock() > expiry:
            return "conversation_signature expired"
        self.redeemed.append(token)
        return None


def _shape_error(body: Any) -> str | None:
    """Why an agents/create body is malformed (None when it is fine)."""
    if not isinstance(body, dict):
        return "body must be an object"
    if not isinstance(body.get("name"), str) or not body["name"]:
        return "name: a non-empty string is required"
    agent = (body.get("conversation_config") or {}).get("agent") if isinstance(
        body.get("conversation_config"), dict
    ) else None
    if not isinstance(agent, dict):
        return "conversation_config.agent: an object is required"
    prompt = agent.get("prompt")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("prompt"), str):
        return "conversation_config.agent.prompt.prompt: a string is required"
    if not isinstance(prompt.get("llm"), str):
        return "conversation_config.agent.prompt.llm: a string is required"
    if not isinstance(agent.get("first_message"), str):
        return "conversation_config.agent.first_message: a string is required"
    if "language" in agent and not isinstance(agent["language"], str):
        return "conversation_config.agent.language: a string is required"
    platform = body.get("platform_settings")
    if platform is not None:
        auth = platform.get("auth") if isinstance(platform, dict) else None
        if not isinstance(auth, dict) or not isinstance(auth.get("enable_auth", False), bool):
            return "platform_settings.auth.enable_auth: a boolean is required"
    return None


@dataclass
class FakeElevenLabs:
    api_key: str = "xi-test-key"
    requests: list[Recorded] = field(default_factory=list)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    base_url: str = ""
    clock: Callable[[], float] = time.time  # created_at_unix_secs of new agents
    signatures: SignatureBook = field(default_factory=SignatureBook)
    conversation_url: str = "wss://api.elevenlabs.io"  # where signed URLs point (a fake's ws_url)
    _scripts: dict[str, deque[Behaviour]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def script(self, endpoint: str, *behaviours: Behaviour) -> None:
        self._scripts.setdefault(endpoint, deque()).extend(behaviours)

    def calls(self, method: str, prefix: str = "/v1/convai/agents") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def create_calls(self) -> list[Recorded]:
        return self.calls("POST", "/v1/convai/agents/create")

    @property
    def list_calls(self) -> list[Recorded]:
        return [r for r in self.calls("GET") if r.path == "/v1/convai/agents"]

    @property
    def signed_url_calls(self) -> list[Recorded]:
        return self.calls("GET", "/v1/convai/conversation/get-signed-url")

    def add_agent(self, name: str, created_at: int | None = None) -> str:
        """An agent that exists at the vendor without the gateway having created it (now)."""
        agent_id = f"agent_{next(self._ids):04d}"
        stamp = int(self.clock()) if created_at is None else created_at
        self.agents[agent_id] = {"name": name, "created_at_unix_secs": stamp}
        return agent_id

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/convai/agents/create", self._create)
        app.router.add_get("/v1/convai/agents", self._list)
        app.router.add_delete("/v1/convai/agents/{agent_id}", self._delete)
        app.router.add_get("/v1/convai/conversation/get-signed-url", self._signed_url)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _record(self, request: web.Request) -> Recorded:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw
        rec = Recorded(request.method, request.path, dict(request.headers), body,
                       dict(request.query))
        self.requests.append(rec)
        return rec

    async def _scripted(self, endpoint: str) -> web.Response | None:
        queue = self._scripts.get(endpoint)
        if queue:
            behaviour = queue.popleft()
            if isinstance(behaviour, Delay):  # stall, then answer normally
                await asyncio.sleep(behaviour.seconds)
                return None
            if isinstance(behaviour, Fail):
                headers = {}
                if behaviour.retry_after is not None:
                    headers["Retry-After"] = str(behaviour.retry_after)
                return web.json_response(
                    {"detail": behaviour.detail}, status=behaviour.status, headers=headers
                )
            body = behaviour.body.encode() if isinstance(behaviour.body, str) else behaviour.body
            return web.Response(body=body, status=behaviour.status, content_type="text/plain")
        return None

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("xi-api-key") != self.api_key:
            return web.json_response({"detail": "Invalid API key"}, status=401)
        return None

    async def _admit(
        self, request: web.Request, endpoint: str
    ) -> tuple[Recorded, web.Response | None]:
        """Every endpoint's prologue: record the call, check the key, play a scripted answer."""
        rec = await self._record(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return rec, denied
        return rec, await self._scripted(endpoint)

    async def _create(self, request: web.Request) -> web.Response:
        rec, early = await self._admit(request, "create")
        if early is not None:
            return early
        problem = _shape_error(rec.json)
        if problem is not None:
            return web.json_response({"detail": problem}, status=422)
        agent_id = f"agent_{next(self._ids):04d}"
        self.agents[agent_id] = {**rec.json, "created_at_unix_secs": int(self.clock())}
        return web.json_response({"agent_id": agent_id})

    async def _list(self, request: web.Request) -> web.Response:
        rec, early = await self._admit(request, "list")
        if early is not None:
            return early
        query = rec.query
        try:
            page_size = int(query.get("page_size", "30"))
            offset = int(query["cursor"].removeprefix("cursor-")) if "cursor" in query else 0
        except ValueError:
            return web.json_response({"detail": "page_size and cursor must be valid"}, status=422)
        if not 1 <= page_size <= 100:
            return web.json_response({"detail": "page_size: 1 to 100"}, status=422)
        direction = query.get("sort_direction", "desc")
        sort_by = query.get("sort_by", "created_at")
        if direction not in ("asc", "desc") or sort_by not in ("created_at", "name"):
            return web.json_response({"detail": "sort_by or sort_direction invalid"}, status=422)
        search = query.get("search", "").lower()
        rows = [
            {"agent_id": agent_id, "name": agent["name"], "tags": [],
             "created_at_unix_secs": agent["created_at_unix_secs"]}
            for agent_id, agent in self.agents.items()  # creation order breaks ties
            if search in agent["name"].lower()
        ]
        if direction == "desc":
            rows.reverse()
        key = "created_at_unix_secs" if sort_by == "created_at" else "name"
        rows.sort(key=lambda r: r[key], reverse=direction == "desc")
        page = rows[offset:offset + page_size]
        has_more = offset + page_size < len(rows)
        return web.json_response({
            "agents": page,
            "has_more": has_more,
            "next_cursor": f"cursor-{offset + page_size}" if has_more else None,
        })

    async def _delete(self, request: web.Request) -> web.Response:
        _, early = await self._admit(request, "delete")
        if early is not None:
            return early
        agent_id = request.match_info["agent_id"]
        if self.agents.pop(agent_id, None) is None:
            return web.json_response({"detail": "agent not found"}, status=404)
        self.deleted.append(agent_id)
        return web.json_response({})

    async def _signed_url(self, request: web.Request) -> web.Response:
        rec, early = await self._admit(request, "signed_url")
        if early is not None:
            return early
        agent_id = rec.query.get("agent_id")
        if not agent_id:
            return web.json_response({"detail": "agent_id: field required"}, status=422)
        if agent_id not in self.agents:
            return web.json_response({"detail": "agent not found"}, status=404)
        query = urlencode(
            {"agent_id": agent_id, "conversation_signature": self.signatures.issue(agent_id)}
        )
        base = self.conversation_url.rstrip("/")
        return web.json_response({"signed_url": f"{base}/v1/convai/conversation?{query}"})
