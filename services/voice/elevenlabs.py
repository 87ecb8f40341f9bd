"""ElevenLabs Conversational AI adapter: create, find and delete agents over aiohttp's client.

Failures are classified once: 429, 5xx, timeouts and connection errors are retried with
exponential backoff and full jitter (a 429's `Retry-After` is honoured up to the cap); any other
answer is final. When retries run out the caller gets `UpstreamError` (502) with a plain
message, and the log gets ElevenLabs' own error text. The API key only ever travels in the
`xi-api-key` header; it is never logged or put in a message.

Creating an agent is not idempotent, and a timeout, a dropped connection or a 5xx leaves it
unknown whether ElevenLabs created the agent anyway (a 429 means it did not). With
`adopt_existing`, the retry after such an ambiguous failure first looks the agent's name up and
adopts an agent of that name instead of creating a second one; the name must therefore be
unique to the caller's object (the gateway puts the session id in it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson

from analysis.retry import RetryPolicy, retry_after_seconds
from gateway.errors import GatewayError, UnavailableError, UpstreamError

__all__ = ["MISSING_KEY_MESSAGE", "ElevenLabsClient", "RetryPolicy"]

log = logging.getLogger("services.voice.elevenlabs")

MISSING_KEY_MESSAGE = (
    "ElevenLabs is not configured: set ELEVENLABS_API_KEY, "
    "or set VOICE_AGENT_PROVIDER=offline for local agents"
)
_VENDOR_TEXT_MAX = 500
_LIST_PAGE_SIZE = 100
_LIST_PAGES_MAX = 5  # an exact name matches a handful of agents; more pages means a bad search

T = TypeVar("T")


# Four attempts; full jitter (half to all of the exponential step); a 429's Retry-After honoured
# up to the cap.
DEFAULT_RETRY = RetryPolicy(
    max_attempts=4, base_delay=0.5, max_delay=8.0, max_retry_after=8.0, jitter=0.5
)


class _Retryable(Exception):
    """A failed attempt worth repeating.

    `ambiguous` is True when the vendor may have acted on the request (timeout, connection
    error, 5xx); a 429 is a refusal to process it.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, ambiguous: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.ambiguous = ambiguous


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    data: bytes | None
    params: Mapping[str, str] | None


class ElevenLabsClient:
    """One per process; `session` is the app's shared `aiohttp.ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str | None,
        timeout_s: float,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retry = retry or DEFAULT_RETRY
        self._rng = random.Random()
        self._sleep = sleep

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    async def create_agent(
        self, *, name: str, prompt: str, first_message: str, language: str | None = None,
        llm: str = "gpt-4o", adopt_existing: bool = False, look_first: bool = False,
    ) -> str:
        """Create an agent and return its id.

        `adopt_existing`: `name` is unique to the caller, so after an ambiguous failure an agent
        found under that name is one of ours and is returned instead of creating another.
        `look_first` (implies `adopt_existing`): an earlier request may have created it; look
        before the first attempt too.
        """
        agent: dict[str, Any] = {
            "prompt": {"prompt": prompt, "llm": llm},
            "first_message": first_message,
        }
        if language:
            agent["language"] = language
        body = {"name": name, "conversation_config": {"agent": agent}}
        request = self._request("POST", "/v1/convai/agents/create", body)
        what = "create agent"

        async def create() -> str:
            status, data = await self._once(request, what)
            agent_id = data.get("agent_id") if isinstance(data, dict) else None
            if not isinstance(agent_id, str) or not agent_id.strip():
                log.error("ElevenLabs %s: HTTP %d without an agent_id: %.200r", what, status, data)
                raise UpstreamError("ElevenLabs answered without an agent id")
            return agent_id

        adopt = functools.partial(self._adopt, name) if adopt_existing or look_first else None
        return await self._retrying(what, create, recover=adopt, recover_first=look_first)

    async def find_agents(self, name: str) -> list[str]:
        """Ids of the agents named exactly `name`, oldest first.

        ElevenLabs' `search` matches substrings, so the names are compared here. At most
        `_LIST_PAGES_MAX` pages are read: the oldest matches come first, and those are the ones
        a caller keeps.
        """
        found: list[tuple[float, str]] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGES_MAX):
            params = {
                "search": name,
                "page_size": str(_LIST_PAGE_SIZE),
                "sort_by": "created_at",
                "sort_direction": "asc",
            }
            if cursor is not None:
                params["cursor"] = cursor
            _status, data = await self._call("GET", "/v1/convai/agents", None, "list agents",
                                             params=params)
            agents, cursor = _agents_page(data)
            found.extend((created, agent_id) for agent_id, agent_name, created in agents
                         if agent_name == name)
            if cursor is None:
                break
        else:
            log.warning("ElevenLabs list agents: more than %d pages match %r; read the first",
                        _LIST_PAGES_MAX, name)
        found.sort(key=lambda item: item[0])  # stable: ElevenLabs' order breaks ties
        return [agent_id for _created, agent_id in found]

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent; one that is already gone (404) counts as deleted."""
        path = f"/v1/convai/agents/{quote(agent_id, safe='')}"
        await self._call("DELETE", path, None, "delete agent", ok_statuses=(404,))

    async def _adopt(self, name: str) -> str | None:
        """The oldest existing agent named `name`, with any younger duplicates deleted.

        None when there is none, or when the lookup failed: creating then risks a duplicate,
        which is better than failing a request the vendor may well serve.
        """
        try:
            found = await self.find_agents(name)
        except GatewayError as err:
            log.warning("ElevenLabs: could not look up agent %r before creating it: %s",
                        name, err.message)
            return None
        if not found:
            return None
        keep, *duplicates = found
        log.info("ElevenLabs: adopted existing agent %s named %r instead of creating another",
                 keep, name)
        for agent_id in duplicates:
            try:
                await self.delete_agent(agent_id)
            except GatewayError as err:
                log.warning("ElevenLabs: could not delete duplicate agent %s named %r: %s",
                            agent_id, name, err.message)
            else:
                log.info("ElevenLabs: deleted duplicate agent %s named %r", agent_id, name)
        return keep

    def _request(
        self, method: str, path: str, body: Any, params: Mapping[str, str] | None = None
    ) -> _Request:
        if not self._api_key:
            raise UnavailableError(MISSING_KEY_MESSAGE)
        headers = {"xi-api-key": self._api_key, "Accept": "application/json"}
        data: bytes | None = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        return _Request(method, self._base_url + path, headers, data, params)

    async def _call(
        self,
        method: str,
        path: str,
        body: Any,
        what: str,
        ok_statuses: tuple[int, ...] = (),
        *,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        request = self._request(method, path, body, params)

        async def attempt() -> tuple[int, Any]:
            return await self._once(request, what, ok_statuses)

        return await self._retrying(what, attempt)

    async def _retrying(
        self,
        what: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        recover: Callable[[], Awaitable[T | None]] | None = None,
        recover_first: bool = False,
    ) -> T:
        """Run `attempt` under the retry policy.

        `recover` is for requests that are not idempotent: it runs before an attempt that
        follows an ambiguous failure (and before the first one with `recover_first`), and a
        result other than None is returned instead of attempting again.
        """
        last = "no attempt made"
        check = recover_first
        for n in range(self.retry.max_attempts):
            if check and recover is not None:
                recovered = await recover()
                if recovered is not None:
                    return recovered
            try:
                return await attempt()
            except _Retryable as err:
                last, check = err.reason, err.ambiguous
                if n + 1 >= self.retry.max_attempts:
                    break
                delay = self.retry.delay(n + 1, err.retry_after, self._rng)
                log.warning(
                    "ElevenLabs %s: %s; retry %d/%d in %.2fs",
                    what, err.reason, n + 1, self.retry.max_attempts - 1, delay,
                )
                await self._sleep(delay)
        log.error("ElevenLabs %s failed after %d attempts: %s", what, self.retry.max_attempts, last)
        raise UpstreamError(
            f"ElevenLabs could not {what} after {self.retry.max_attempts} attempts ({last})"
        )

    async def _once(
        self, request: _Request, what: str, ok_statuses: tuple[int, ...] = ()
    ) -> tuple[int, Any]:
        try:
            async with self._session.request(
                request.method, request.url, params=request.params, data=request.data,
                headers=request.headers, timeout=self._timeout,
            ) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = retry_after_seconds(resp.headers)
        except TimeoutError:
            raise _Retryable("timed out") from None
        except aiohttp.ClientError as err:
            raise _Retryable(f"connection error: {type(err).__name__}") from None
        text = raw[:_VENDOR_TEXT_MAX].decode("utf-8", "replace")
        if status == 429:
            log.warning("ElevenLabs %s: HTTP %d: %s", what, status, text)
            raise _Retryable(f"HTTP {status}", retry_after, ambiguous=False)
        if status >= 500:
            log.warning("ElevenLabs %s: HTTP %d: %s", what, status, text)
            raise _Retryable(f"HTTP {status}")
        if status in ok_statuses:
            return status, None
        if status >= 400:
            log.error("ElevenLabs %s refused: HTTP %d: %s", what, status, text)
            raise UpstreamError(f"ElevenLabs refused to {what} (HTTP {status})")
        if not raw:
            return status, None
        try:
            return status, orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.error("ElevenLabs %s: HTTP %d with a non-JSON body: %s", what, status, text)
            raise UpstreamError(f"ElevenLabs answered {what} with a malformed body") from None


def _agents_page(data: Any) -> tuple[list[tuple[str, str, float]], str | None]:
    """One page of the agents list as (id, name, created_at) and the next cursor (None: last).

    Anything off the documented shape is an `UpstreamError`: a wrong guess here would adopt
    or delete someone else's agent.
    """
    if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
        raise _malformed_list(data, "no agents list")
    agents: list[tuple[str, str, float]] = []
    for item in data["agents"]:
        if not isinstance(item, dict):
            raise _malformed_list(data, "an agent is not an object")
        agent_id, name, created = (
            item.get("agent_id"), item.get("name"), item.get("created_at_unix_secs")
        )
        if not isinstance(agent_id, str) or not agent_id or not isinstance(name, str):
            raise _malformed_list(data, "an agent without agent_id or name")
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise _malformed_list(data, "an agent without created_at_unix_secs")
        agents.append((agent_id, name, float(created)))
    has_more, cursor = data.get("has_more"), data.get("next_cursor")
    if not isinstance(has_more, bool):
        raise _malformed_list(data, "no has_more flag")
    if not has_more:
        return agents, None
    if not isinstance(cursor, str) or not cursor:
        raise _malformed_list(data, "has_more without next_cursor")
    return agents, cursor


def _malformed_list(data: Any, why: str) -> UpstreamError:
    log.error("ElevenLabs list agents: malformed answer (%s): %.200r", why, data)
    return UpstreamError("ElevenLabs answered list agents with a malformed body")
