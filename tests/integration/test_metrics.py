"""`/metrics` on prometheus_client: auth, HELP/TYPE, process collectors, OpenMetrics by Accept,
and one registry per app (many apps in one process, no duplicate registration)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from gateway.auth import Role
from handlers.app import create_app
from tests.helpers import make_settings
from tests.wsclient import open_ws, recv, send, transcript, ws_url

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


async def _scrape(client: TestClient[Any, Any], headers: dict[str, str]) -> tuple[str, str]:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.text(), resp.headers["Content-Type"]


async def test_metrics_needs_admin_unless_public(
    client: TestClient[Any, Any],
    token: Callable[..., str],
    tmp_path: Path,
    db_dsn: str, aiohttp_client: Callable[..., Any],
) -> None:
    assert (await client.get("/metrics")).status == 401
    bad = {"Authorization": f"Bearer {token(Role.INTERVIEWER, session_id=uuid.uuid4())}"}
    assert (await client.get("/metrics", headers=bad)).status == 403
    public = await aiohttp_client(create_app(make_settings(tmp_path, metrics_public=True), db_dsn))
    assert (await public.get("/metrics")).status == 200


async def test_text_exposition_has_help_type_and_process_collectors(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    await client.get("/healthz")
    text, content_type = await _scrape(client, admin_headers)
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds"):
        assert name in families, name
    assert families["process_resident_memory_bytes"].samples[0].value > 1_000_000
    assert "python_gc_objects_collected" in families
    assert "python_info" in families
    assert "# HELP gateway_ws_open open WebSocket connections" in text
    assert "# TYPE gateway_ws_open gauge" in text
    assert "# TYPE gateway_http_requests_total counter" in text
    assert "# TYPE gateway_fanout_seconds histogram" in text
    assert "# TYPE gateway_db_pool_in_use gauge" in text
    healthz = [
        s
        for s in families["gateway_http_requests"].samples
        if s.labels.get("route") == "/healthz"
    ]
    assert healthz and healthz[0].value == 1  # this app's own count, not the process's
    assert "_created" not in text


async def test_openmetrics_when_accept_asks_for_it(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    text, content_type = await _scrape(client, {**admin_headers, "Accept": OPENMETRICS})
    assert content_type.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
    names = {f.name for f in parse_om(text)}  # the strict parser: raises on a malformed line
    wanted = {"process_resident_memory_bytes", "gateway_transcript_frames", "gateway_ws_open"}
    assert wanted <= names


async def test_frames_acks_and_pool_show_up(
    server_url: str,
    session_id: uuid.UUID,
    token: Callable[..., str],
    admin_headers: dict[str, str],
) -> None:
    import aiohttp

    async def scrape() -> dict[str, float]:
        async with aiohttp.ClientSession() as http:
            async with http.get(server_url + "/metrics", headers=admin_headers) as resp:
                text = await resp.text()
        return {
            s.name + str(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    before = await scrape()
    url = ws_url(server_url, "candidate", session_id, token(Role.CANDIDATE, session_id))
    async with await open_ws(url) as ws:
        await recv(ws)
        for seq in range(1, 4):
            await send(ws, transcript(seq, f"line {seq}"))
            assert (await recv(ws))["type"] == "ack"
        during = await scrape()
    assert during["gateway_ws_open[]"] == 1
    acks = "gateway_ack_seconds_count[]"
    assert during[acks] - before.get(acks, 0) == 3
    stored = "gateway_transcript_frames_total[('outcome', 'stored')]"
    assert during[stored] - before.get(stored, 0) == 3
    assert during["gateway_db_pool_max[]"] == 10
    assert 1 <= during["gateway_db_pool_connections[]"] <= 10
