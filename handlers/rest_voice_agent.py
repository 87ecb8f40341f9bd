"""`POST /api/voice/elevenlabs-session` and the background clean-up of ended sessions' agents.

The design's flow: reuse the session's agent when it has one; otherwise render the persona's
templates with the scenario, create an agent (ElevenLabs, or a deterministic local id with
VOICE_AGENT_PROVIDER=offline), store it and return it. Creation runs under a row lock on the
session's scope package, so a double click creates one agent, across processes too.

An ElevenLabs create that fails ambiguously (timeout, dropped connection, 5xx) may have created
the agent anyway. Within a request the client looks the agent's name up before retrying; across
requests a committed `voice_agent_attempts` row tells the next request to look first. The name
carries the session id, so an agent found under it is this session's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import asyncpg
from aiohttp import web

from gateway.api_models import VoiceAgentRequest, VoiceAgentResponse
from gateway.auth import Role
from gateway.elevenlabs import MISSING_KEY_MESSAGE, ElevenLabsClient
from gateway.errors import (
    ConflictError,
    ErrorCode,
    GatewayError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from gateway.prompt_render import UnknownPlaceholderError, render
from handlers.api import ApiRoutes, add_api_routes, model_response
from handlers.http import read_model, require
from handlers.keys import AGENT_SWEEPER, ELEVENLABS_RETRY, POOL, SETTINGS, VOICE_AGENTS
from storage import agents as store

__all__ = ["AgentSweeper", "offline_agent_id", "setup"]

log = logging.getLogger("gateway.voice_agent")

api = ApiRoutes()
OFFLINE = "offline"
ELEVENLABS = "elevenlabs"
_ENDED = ("completed", "cancelled")


def offline_agent_id(session_id: uuid.UUID, prompt: str, first_message: str) -> str:
    digest = hashlib.sha256(f"{session_id}\n{prompt}\n{first_message}".encode()).hexdigest()
    return f"offline-{digest[:20]}"


def _provider_of(stored: str | None, agent_id: str) -> str:
    if stored in (OFFLINE, ELEVENLABS):
        return stored
    return OFFLINE if agent_id.startswith("offline-") else ELEVENLABS


def _session_ended(status: str) -> ConflictError:
    message = f"session is {status}; no voice agent for it"
    return ConflictError(message, code=ErrorCode.SESSION_ENDED)


@api.post(
    "/api/voice/elevenlabs-session",
    summary="Create or reuse the session's voice agent",
    description="Returns the session's agent id, creating the agent on first use from the "
    "persona's rendered prompt, and a fresh signed conversation URL (agents are private: the "
    "ElevenLabs key never reaches the browser). Candidates may call it for their own session.",
    tags=("voice",), roles=(Role.CANDIDATE,), body=VoiceAgentRequest,
    responses={200: VoiceAgentResponse}, errors=(404, 409, 502, 503),
)
async def elevenlabs_session(request: web.Request) -> web.Response:
    data = await read_model(request, VoiceAgentRequest)
    session_id = data.session_id
    require(request, Role.CANDIDATE, session_id=session_id)
    agent_id, stored_provider, cached = await _session_agent(request.app, session_id)
    provider = OFFLINE if _provider_of(stored_provider, agent_id) == OFFLINE else ELEVENLABS
    # Outside the creation lock, and at every call: a signed URL is good for one conversation.
    signed_url = await _signed_url(request.app, agent_id, provider)
    return model_response(
        VoiceAgentResponse(
            agent_id=agent_id, cached=cached, provider=provider, signed_url=signed_url
        )
    )


async def _signed_url(app: web.Application, agent_id: str, provider: str) -> str | None:
    if provider == ELEVENLABS:
        return await app[VOICE_AGENTS].get_signed_url(agent_id)
    base = app[SETTINGS].elevenlabs_conversation_url
    if base is None:
        return None
    return f"{base.rstrip('/')}/v1/convai/conversation?agent_id={quote(agent_id, safe='')}"


async def _session_agent(
    app: web.Application, session_id: uuid.UUID
) -> tuple[str, str | None, bool]:
    """The session's agent as (id, stored provider, cached), created on first use."""
    pool = app[POOL]
    provider = app[SETTINGS].voice_agent_provider

    status = await store.session_status(pool, session_id)
    if status is None:
        raise NotFoundError("session not found")
    if status in _ENDED:
        raise _session_ended(status)
    cached = await store.cached_agent(pool, session_id)
    if cached is not None:
        return cached[0], cached[1], True

    client = app[VOICE_AGENTS]
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
            if setup_.status in _ENDED:
                raise _session_ended(setup_.status)
            if setup_.voice_agent_id is not None:  # the other click won the lock
                if provider == ELEVENLABS:
                    await store.forget_agent_attempt(conn, session_id)
                return setup_.voice_agent_id, setup_.voice_agent_provider, True
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
    return agent_id, provider, False


class AgentSweeper:
    """Deletes the voice agents of ended sessions; failures back off and are retried later.

    Runs every `interval_s` and whenever `nudge()` is called (a session just ended). Several
    processes may sweep at once: rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
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
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                log.warning("agent clean-up sweep failed: %s", err)
            except Exception:
                log.exception("agent clean-up sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)


async def _voice_agents_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    key = settings.elevenlabs_api_key.get_secret_value() if settings.elevenlabs_api_key else None
    async with aiohttp.ClientSession() as session:
        client = ElevenLabsClient(
            session,
            base_url=settings.elevenlabs_base_url,
            api_key=key,
            timeout_s=settings.elevenlabs_timeout_s,
            retry=app.get(ELEVENLABS_RETRY),
        )
        app[VOICE_AGENTS] = client
        sweeper = AgentSweeper(app[POOL], client, settings.agent_cleanup_interval_s)
        app[AGENT_SWEEPER] = sweeper
        task = asyncio.create_task(sweeper.run(), name="agent-sweeper")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def setup(app: web.Application) -> None:
    add_api_routes(app, api)
    app.cleanup_ctx.append(_voice_agents_ctx)
