"""ElevenLabs Conversational AI adapter: create and delete agents over aiohttp's client.

Failures are classified once: 429, 5xx, timeouts and connection errors are retried with
exponential backoff and full jitter (a 429's `Retry-After` is honoured up to the cap); any other
answer is final. When retries run out the caller gets `UpstreamError` (502) with a plain
message, and the log gets ElevenLabs' own error text. The API key only ever travels in the
`xi-api-key` header; it is never logged or put in a message.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from gateway.errors import UnavailableError, UpstreamError

__all__ = ["MISSING_KEY_MESSAGE", "ElevenLabsClient", "RetryPolicy"]

log = logging.getLogger("gateway.elevenlabs")

MISSING_KEY_MESSAGE = (
    "ElevenLabs is not configured: set ELEVENLABS_API_KEY, "
    "or set VOICE_AGENT_PROVIDER=offline for local agents"
)
_VENDOR_TEXT_MAX = 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter backoff for the retry after `attempt` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


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
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    async def create_agent(
        self, *, name: str, prompt: str, first_message: str, language: str | None = None,
        llm: str = "gpt-4o",
    ) -> str:
        agent: dict[str, Any] = {
            "prompt": {"prompt": prompt, "llm": llm},
            "first_message": first_message,
        }
        if language:
            agent["language"] = language
        body = {"name": name, "conversation_config": {"agent": agent}}
        status, data = await self._call("POST", "/v1/convai/agents/create", body, "create agent")
        agent_id = data.get("agent_id") if isinstance(data, dict) else None
        if not isinstance(agent_id, str) or not agent_id.strip():
            log.error("ElevenLabs create agent: HTTP %d without an agent_id: %.200r", status, data)
            raise UpstreamError("ElevenLabs answered without an agent id")
        return agent_id

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent; one that is already gone (404) counts as deleted."""
        path = f"/v1/convai/agents/{quote(agent_id, safe='')}"
        await self._call("DELETE", path, None, "delete agent", ok_statuses=(404,))

    async def _call(
        self,
        method: str,
        path: str,
        body: Any,
        what: str,
        ok_statuses: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        if not self._api_key:
            raise UnavailableError(MISSING_KEY_MESSAGE)
        headers = {"xi-api-key": self._api_key, "Accept": "application/json"}
        data: bytes | None = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        url = self._base_url + path
        last = "no attempt made"
        for attempt in range(self.retry.attempts):
            try:
                return await self._once(method, url, headers, data, what, ok_statuses)
            except _Retryable as err:
                last = err.reason
                if attempt + 1 >= self.retry.attempts:
                    break
                delay = self.retry.delay(attempt, err.retry_after)
                log.warning(
                    "ElevenLabs %s: %s; retry %d/%d in %.2fs",
                    what, err.reason, attempt + 1, self.retry.attempts - 1, delay,
                )
                await self._sleep(delay)
        log.error("ElevenLabs %s failed after %d attempts: %s", what, self.retry.attempts, last)
        raise UpstreamError(
            f"ElevenLabs could not {what} after {self.retry.attempts} attempts ({last})"
        )

    async def _once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        what: str,
        ok_statuses: tuple[int, ...],
    ) -> tuple[int, Any]:
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=self._timeout
            ) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except TimeoutError:
            raise _Retryable("timed out") from None
        except aiohttp.ClientError as err:
            raise _Retryable(f"connection error: {type(err).__name__}") from None
        text = raw[:_VENDOR_TEXT_MAX].decode("utf-8", "replace")
        if status == 429 or status >= 500:
            log.warning("ElevenLabs %s: HTTP %d: %s", what, status, text)
            raise _Retryable(f"HTTP {status}", retry_after if status == 429 else None)
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
