"""Transcript corrections end to end: the candidate frame, the REST route, panels, the log."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import aiohttp
import asyncpg

from gateway.auth import Role
from tests.wsclient import open_ws, recv, recv_until, send, transcript, ws_url


def _correction(seq: int, text: str, revision: int = 1, **extra: object) -> dict[str, object]:
    return {"type": "transcript_correction", "seq": seq, "revision": revision, "text": text,
            **extra}


async def test_correction_replaces_the_row_keeps_history_and_reaches_panels(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    cand = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    panel_url = ws_url(server_url, "panel", session_id, token(Role.INTERVIEWER, session_id))
    async with await open_ws(panel_url) as panel, await open_ws(cand) as ws:
        await recv_until(panel, "snapshot")
        await recv(ws)
        await send(ws, transcript(1, "Tell me about your pipeline.", role="assistant"))
        # Sent straight behind its message, unacked: the correction waits for that commit.
        await send(ws, _correction(1, "Tell me"))
        first = await recv_until(ws, "ack")
        assert first["seq"] == 1 and "revision" not in first
        ack = await recv_until(ws, "ack")
        assert ack == {"type": "ack", "seq": 1, "revision": 1,
                       "message_id": first["message_id"], "duplicate": False}
        await send(ws, _correction(1, "Tell me"))  # a resend: acked again, stored once
        again = await recv_until(ws, "ack")
        assert again["duplicate"] is True and again["revision"] == 1
        await send(ws, _correction(1, "Tell"))  # same revision, other text
        err = await recv_until(ws, "error")
        assert err["code"] == "seq_conflict" and err["ref"] == "c1.1"
        await send(ws, _correction(9, "nothing here", ref="x"))
        err = await recv_until(ws, "error")
        assert err["code"] == "unknown_message" and err["ref"] == "x"
        await send(ws, _correction(1, "Tell me about", revision=2))
        assert (await recv_until(ws, "ack"))["revision"] == 2
        await send(ws, transcript(1, "Tell me about your pipeline.", role="assistant"))
        resent = await recv_until(ws, "ack")  # the original text is still a duplicate
        assert resent["duplicate"] is True

        live = [await recv_until(panel, "transcript")]
        live.append(await recv_until(panel, "transcript_updated"))
        live.append(await recv_until(panel, "transcript_updated"))
    assert live[1]["text"] == "Tell me" and live[1]["previous_text"] == live[0]["text"]
    assert live[1]["event_id"] == live[0]["event_id"] + 1
    assert live[2]["revision"] == 2 and live[2]["previous_text"] == "Tell me"
    assert live[2]["word_count"] == 3 and live[2]["role"] == "assistant"

    row = await pool.fetchrow(
        "SELECT text, revision, word_count FROM voice_transcripts WHERE session_id = $1",
        session_id,
    )
    assert row is not None and tuple(row) == ("Tell me about", 2, 3)
    history = await pool.fetch(
        "SELECT revision, previous_text, text FROM voice_transcript_revisions ORDER BY revision"
    )
    assert [tuple(r) for r in history] == [
        (1, "Tell me about your pipeline.", "Tell me"),
        (2, "Tell me", "Tell me about"),
    ]
    count = await pool.fetchval(
        "SELECT message_count FROM session_counters WHERE session_id = $1", session_id
    )
    assert count == 1  # a correction is not a new message

    # A panel resuming from the start replays the corrected text and both updates; a new
    # panel's snapshot shows the corrected text.
    async with await open_ws(panel_url + "&after=0") as resumed:
        replay: list[dict[str, object]] = []
        while len(replay) < 3:
            event = await recv(resumed)
            if event["type"] != "presence":
                replay.append(event)
    assert [e["type"] for e in replay] == ["transcript", "transcript_updated",
                                           "transcript_updated"]
    assert replay[0]["text"] == "Tell me about"
    assert replay[2]["text"] == "Tell me about"
    async with await open_ws(panel_url) as fresh:
        snap = await recv_until(fresh, "snapshot")
    assert [(t["text"], t["revision"]) for t in snap["transcript"]] == [("Tell me about", 2)]


async def test_older_revision_after_newer_is_a_conflict(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str]
) -> None:
    cand = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(cand) as ws:
        await recv(ws)
        await send(ws, transcript(1, "one two three", role="assistant"))
        await recv_until(ws, "ack")
        await send(ws, _correction(1, "one two", revision=3))
        assert (await recv_until(ws, "ack"))["revision"] == 3
        await send(ws, _correction(1, "one", revision=2))
        err = await recv_until(ws, "error")
        assert err["code"] == "seq_conflict" and "older" in err["message"]


async def test_rest_correction(
    server_url: str, session_id: uuid.UUID, token: Callable[..., str], pool: asyncpg.Pool
) -> None:
    headers = {"Authorization": f"Bearer {token(Role.CANDIDATE, session_id)}"}
    sid = str(session_id)
    async with aiohttp.ClientSession(server_url, headers=headers) as http:
        async with http.post("/api/voice/transcript", json={
            "session_id": sid, "seq": 4, "role": "assistant", "text": "So what do you think"
        }) as r:
            assert r.status == 201
        body = {"session_id": sid, "seq": 4, "text": "So"}
        async with http.post("/api/voice/transcript/correction", json=body) as r:
            assert r.status == 201
            stored = await r.json()
        assert stored["previous_text"] == "So what do you think"
        assert stored["revision"] == 1 and stored["duplicate"] is False
        async with http.post("/api/voice/transcript/correction", json=body) as r:
            assert r.status == 200 and (await r.json())["duplicate"] is True
        async with http.post("/api/voice/transcript/correction",
                             json={**body, "text": "Other"}) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "seq_conflict"
        async with http.post("/api/voice/transcript/correction",
                             json={**body, "seq": 5}) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_message"
        async with http.post("/api/voice/transcript/correction",
                             json={**body, "revision": 0}) as r:
            assert r.status == 422
    assert await pool.fetchval("SELECT text FROM voice_transcripts") == "So"
    assert await pool.fetchval(
        "SELECT message_count FROM session_counters WHERE session_id = $1", session_id
    ) == 1
