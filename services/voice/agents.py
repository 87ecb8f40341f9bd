"""Voice agents: one per session, created on first use from the persona's rendered prompt.

The design's flow: reuse the session's agent when it has one; otherwise render the persona's
templates with the scenario, create an agent (ElevenLabs, or a deterministic local id with
VOICE_AGENT_PROVIDER=offline), store it and return it. Creation runs under a row lock on the
session's scope package, so a double click creates one agent, across processes too.

An ElevenLabs create that fails ambiguously (timeout, dropped connection, 5xx) may have created
the agent anyway. Within a request the client looks the agent's name up before retrying; across
requests a committed `voice_agent_attempts` row tells the next request to look first. The name
carries the session id, so an agent found under it is this session's.

Agents of ended sessions are deleted by `AgentSweeper` in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from analysis.retry import RetryPolicy
from gateway.errors import (
    ConflictError,
    ErrorCode,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from gateway.ports import SessionStatus
from gateway.settings import Settings
from services.voice.elevenlabs import MISSING_KEY_MESSAGE, ElevenLabsClient
from services.voice.prompt_render import UnknownPlaceholderError, render
from storage import agents as store
from storage.errors import DB_ERRORS
from storage.pool import Pool

__all__ = ["AgentSweeper", "SessionAgent", "VoiceAgents", "offline_agent_id", "voice_agents"]

log = logging.getLogger("gateway.voice_agent")

OFFLINE = "offline"
ELEVENLABS = "elevenlabs"


def offline_agent_id(session_id: uuid.UUID, prompt: str, first_message: str) -> str:
    digest = hashlib.sha256(f"{session_id}\n{prompt}\n{first_message}".encode()).hexdigest()
    return f"offline-{digest[:20]}"


def _provider_of(stored: str | None, agent_id: str) -> str:
    if stored in (OFFLINE, ELEVENLABS):
        return stored
    return OFFLINE if agent_id.startswith("offline-") else ELEVENLABS


def _ended(status: str) -> bool:
    return SessionStatus(status).ended


def _session_ended(status: str) -> ConflictError:
    message = f"session is {status}; no voice agent for it"
    return ConflictError(message, code=ErrorCode.SESSION_ENDED)


@dataclass(frozen=True, slots=True)
class SessionAgent:
    agent_id: str
    provider: str  # OFFLINE or ELEVENLABS
    cached: bool


def _agent(agent_id: str, provider: str | None, *, cached: bool) -> SessionAgent:
    return SessionAgent(agent_id, _provider_of(provider, agent_id), cached)


class VoiceAgents:
    """Get-or-create of a session's agent."""

    def __init__(self, pool: Pool, client: ElevenLabsClient, provider: str) -> None:
        self._pool = pool
        self.client = client
        self.provider = provider

    async def session_agent(self, session_id: uuid.UUID) -> SessionAgent:
        pool, client, provider = self._pool, self.client, self.provider
        status = await store.session_status(pool, session_id)
        if status is None:
            raise NotFoundError("session not found")
        if _ended(status):
            raise _session_ended(status)
        cached = await store.cached_agent(pool, session_id)
        if cached is not None:
            return _agent(cached[0], cached[1], cached=True)

        if provider == ELEVENLABS and not client.configured:
            raise UnavailableError(MISSING_KEY_MESSAGE)
        async with pool.acquire() as conn, store.agent_creation_lock(conn, session_id):
            # Committed before the row lock and the vendor call, so that a failed request leaves it.
            earlier_attempt = False
            if provider == ELEVENLABS:
                earlier_attempt = await store.note_agent_attempt(conn, session_id)
            async with conn.transaction():
                setup_ = await store.lock_agent_setup(conn, session_id)
                if setup_ is None:
                    raise ConflictError("session has no scope package (persona and scenario)")
                if _ended(setup_.status):
                    raise _session_ended(setup_.status)
                if setup_.voice_agent_id is not None:  # the other click won the lock
                    if provider == ELEVENLABS:
                        await store.forget_agent_attempt(conn, session_id)
                    return _agent(setup_.voice_agent_id, setup_.voice_agent_provider, cached=True)
                if setup_.persona is None or setup_.scenario is None:
                    raise ConflictError("session has no persona or scenario selected")
                persona, scenario = setup_.persona, setup_.scenario
                try:
                    prompt = render(persona["prompt_template"], persona, scenario)
                    first = render(persona["first_message_template"], persona, scenario)
                except UnknownPlaceholderError as err:
                    raise InvalidInputError(
                        f"the persona's template cannot be rendered: {err}",
                        details=[
                            {"loc": "persona.prompt_template", "message": str(err), "type": "value"}
                        ],
                    ) from None
                if provider == OFFLINE:
                    agent_id = offline_agent_id(session_id, prompt, first)
                else:
                    agent_id = await client.create_agent(
                        name=f"{persona['name']} (Session {session_id})",
                        prompt=prompt,
                        first_message=first,
                        language=persona.get("language"),
                        adopt_existing=True,
                        look_first=earlier_attempt,
                    )
                await store.store_agent(conn, session_id, agent_id, provider, prompt, first)
        log.info("voice agent %s (%s) stored for session %s", agent_id, provider, session_id)
        return _agent(agent_id, provider, cached=False)


class AgentSweeper:
    """Deletes the voice agents of ended sessions; failures back off and are retried later.

    Runs every `interval_s` and whenever `nudge()` is called (a session just ended). Several
    processes may sweep at once: rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease.
    """

    def __init__(
        self,
        pool: Pool,
        client: ElevenLabsClient,
        interval_s: float,
        *,
        batch: int = 20,
        lease_s: float = 300.0,
        max_backoff_s: float = 6 * 3600.0,
    ) -> None:
        self._pool = pool
        self._client = client
        self.interval_s = interval_s
        self._batch = batch
        self._lease_s = lease_s
        self._max_backoff_s = max_backoff_s
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        return float(min(self._max_backoff_s, self.interval_s * (2 ** min(attempts, 20))))

    async def sweep_once(self) -> int:
        """One pass; returns how many agents were marked deleted."""
        deleted = 0
        for job in await store.claim_cleanups(self._pool, self._batch, self._lease_s):
            if _provider_of(job.provider, job.agent_id) == OFFLINE:
                await store.mark_agent_deleted(self._pool, job.session_id, job.agent_id)
                deleted += 1
                continue
            try:
                await self._client.delete_agent(job.agent_id)
            except GatewayError as err:
                retry_in = self.backoff(job.attempts)
                log.warning(
                    "could not delete voice agent %s of session %s (attempt %d): %s; "
                    "retrying in %.0fs",
                    job.agent_id, job.session_id, job.attempts + 1, err.message, retry_in,
                )
                await store.mark_cleanup_failed(self._pool, job.session_id, job.agent_id, retry_in)
                continue
            await store.mark_agent_deleted(self._pool, job.session_id, job.agent_id)
            log.info("deleted voice agent %s of session %s", job.agent_id, job.session_id)
            deleted += 1
        return deleted

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.sweep_once()
            except DB_ERRORS as err:
                log.warning("agent clean-up sweep failed: %s", err)
            except Exception:
                log.exception("agent clean-up sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)


@contextlib.asynccontextmanager
async def voice_agents(
    settings: Settings, pool: Pool, retry: RetryPolicy | None = None
) -> AsyncIterator[tuple[VoiceAgents, AgentSweeper]]:
    """The ElevenLabs client (one HTTP session), the get-or-create service and the sweeper
    task, for as long as the context is open."""
    key = settings.elevenlabs_api_key.get_secret_value() if settings.elevenlabs_api_key else None
    async with aiohttp.ClientSession() as session:
        client = ElevenLabsClient(
            session,
            base_url=settings.elevenlabs_base_url,
            api_key=key,
            timeout_s=settings.elevenlabs_timeout_s,
            retry=retry,
        )
        sweeper = AgentSweeper(pool, client, settings.agent_cleanup_interval_s)
        task = asyncio.create_task(sweeper.run(), name="agent-sweeper")
        try:
            yield VoiceAgents(pool, client, settings.voice_agent_provider), sweeper
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
