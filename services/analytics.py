"""Reads over finished work: a session's Say Meter history and the suggestion feedback stats."""

from __future__ import annotations

import uuid
from datetime import datetime

from gateway.errors import NotFoundError
from storage import analysis as store
from storage.analysis import FeedbackRow
from storage.pool import Pool, Record

__all__ = ["Analytics", "FeedbackRow"]


class Analytics:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def score_history(
        self, session_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[Record], int]:
        """One page of the session's runs, newest first, and how many there are."""
        if not await store.session_exists(self._pool, session_id):
            raise NotFoundError("session not found")
        return await store.score_history(self._pool, session_id, limit, offset)

    async def suggestion_feedback(
        self,
        *,
        blueprint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[FeedbackRow]:
        return await store.suggestion_feedback(
            self._pool, blueprint=blueprint, since=since, until=until
        )
