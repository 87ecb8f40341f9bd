"""LiveService on its own: a message and its corrections in one group-commit batch, in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.errors import ConflictError, NotFoundError
from gateway.settings import Settings
from services.live import LiveService, live_service
from tests.helpers import make_settings


@pytest.fixture
def settings(tmp_path: object) -> Settings:
    # A long batching delay: everything submitted together commits together.
    return make_settings(tmp_path, commit_max_delay_ms=50.0)  # type: ignore[arg-type]


@pytest.fixture
async def live(pool: asyncpg.Pool, db_dsn: str, settings: Settings) -> AsyncIterator[LiveService]:
    async with live_service(pool, db_dsn, settings) as service:
        yield service


async def test_message_and_corrections_in_one_batch_apply_in_order(
    live: LiveService, pool: asyncpg.Pool, session_id: uuid.UUID
) -> None:
    batches: list[int] = []
    original = live._store

    async def counting(batch: list[object]) -> list[object]:
        batches.append(len(batch))
        return await original(batch)  # type: ignore[arg-type]

    live.committer._flush = counting  # type: ignore[assignment]
    results = await asyncio.gather(
        live.store_message(session_id, 1, 1, "assistant", "Let me tell you about", None),
        live.correct_message(session_id, 1, 1, 1, "Let me"),
        live.store_message(session_id, 1, 2, "user", "Go on.", None),
        live.correct_message(session_id, 1, 1, 2, "Let me tell"),
        live.correct_message(session_id, 1, 7, 1, "nothing"),
        return_exceptions=True,
    )
    assert batches == [5]  # one transaction: the mixed path
    first, corrected, _, again, unknown = results
    assert not isinstance(first, BaseException) and not isinstance(corrected, BaseException)
    assert not isinstance(again, BaseException)
    assert corrected.previous_text == "Let me tell you about"
    assert again.previous_text == "Let me" and again.message_id == first.message_id
    assert isinstance(unknown, NotFoundError) and unknown.code == "unknown_message"
    rows = await pool.fetch("SELECT seq, text, revision FROM voice_transcripts ORDER BY seq")
    assert [tuple(r) for r in rows] == [(1, "Let me tell", 2), (2, "Go on.", 0)]
    state = live.hub.get(session_id)
    assert state is not None and [line.text for line in state.window] == ["Let me tell", "Go on."]
    assert state.message_count == 2

    with pytest.raises(ConflictError):
        await live.correct_message(session_id, 1, 1, 2, "other text")
