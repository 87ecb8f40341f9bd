"""Probes and metrics: what an orchestrator and a scraper see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.auth import Role


async def test_healthz(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_when_migrated(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["status"] == "ready"
    assert body["analysis"] in ("warming", "ready")  # the offline pool warms in the background


async def test_readyz_reports_pending_migration(client: TestClient[Any, Any], db_dsn: str) -> None:
    from storage.pool import connect

    conn = await connect(db_dsn)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = '0004'")
    finally:
        await conn.close()
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "unavailable"
    assert body["reason"] == "migrations pending: 0004_gateway_realtime"


async def test_metrics_needs_admin(client: TestClient[Any, Any], token: Callable[..., str]) -> None:
    assert (await client.get("/metrics")).status == 401
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token(Role.ADMIN)}"})
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    assert "# TYPE gateway_http_requests_total counter" in text
    assert "gateway_ws_open" in text and "gateway_event_loop_lag_seconds_bucket" in text


async def test_unknown_route_is_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "not_found"
