"""Interview sessions: create (with tokens scoped to it), read, end (and what follows an end).

Ending commits first, then runs the registered end hooks once, in order (tell connected
clients, nudge agent clean-up...). A failing hook is logged and never fails the end itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.auth import Role, issue_token
from gateway.errors import InvalidInputError, NotFoundError
from gateway.settings import Settings
from services.session_setup import track_warnings
from storage import sessions as store
from storage.pool import Pool
from storage.sessions import EndResult, SessionRow

__all__ = ["CreatedSession", "EndHook", "SessionDetail", "Sessions"]

log = logging.getLogger("gateway.sessions")

EndHook = Callable[[uuid.UUID], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session_id: uuid.UUID
    status: str
    round_number: int
    candidate_token: str
    interviewer_token: str
    warnings: list[str]  # advice that did not refuse the set-up (a persona/scenario mismatch)


@dataclass(frozen=True, slots=True)
class SessionDetail:
    session: SessionRow
    latest_meter: dict[str, Any] | None


class Sessions:
    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        # Awaited, in order, after an end commits (e.g. tell connected clients, nudge clean-up).
        self.end_hooks: list[EndHook] = []

    async def create(
        self,
        persona_id: uuid.UUID,
        scenario_id: uuid.UUID,
        round_number: int,
        candidate_name: str | None,
    ) -> CreatedSession:
        try:
            row = await store.create_session(
                self._pool, persona_id, scenario_id, round_number, candidate_name
            )
        except store.SetupRejected as err:
            raise InvalidInputError(
                err.message, details=[{"loc": err.field, "message": err.message, "type": "invalid"}]
            ) from None
        session_id: uuid.UUID = row["id"]
        return CreatedSession(
            session_id=session_id,
            status=row["status"],
            round_number=row["round_number"],
            candidate_token=self._token(Role.CANDIDATE, session_id),
            interviewer_token=self._token(Role.INTERVIEWER, session_id),
            warnings=track_warnings(row["persona_blueprint"], row["scenario_blueprint"]),
        )

    def _token(self, role: Role, session_id: uuid.UUID) -> str:
        settings = self._settings
        return issue_token(
            settings.secret(), role, session_id=session_id, ttl_s=settings.token_ttl_s
        )

    async def detail(self, session_id: uuid.UUID) -> SessionDetail:
        found = await store.get_session_detail(self._pool, session_id)
        if found is None:
            raise NotFoundError("session not found")
        return SessionDetail(*found)

    async def status(self, session_id: uuid.UUID) -> str:
        async with self._pool.acquire() as conn:
            row = await store.load_session_row(conn, session_id)
        if row is None:
            raise NotFoundError("session not found")
        return row.status

    async def end(self, session_id: uuid.UUID) -> EndResult:
        """Complete the round and keep its transcript; harmless when already ended."""
        result = await store.end_session(self._pool, session_id)
        if result is None:
            raise NotFoundError("session not found")
        if not result.already_ended:
            await self.ended(session_id)
        return result

    async def ended(self, session_id: uuid.UUID) -> None:
        """Run every end hook once, in order; one failing does not stop the others."""
        for hook in self.end_hooks:
            try:
                await hook(session_id)
            except Exception:
                log.exception("session-ended hook %r failed for %s", hook, session_id)
