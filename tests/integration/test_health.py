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
    assert "0004_gateway_realtime" in body["reason"]


async def test_metrics_needs_admin(client: TestClient[Any, Any], token: Callable[..., str]) -> None:
    assert (await client.get("/metrics")).status == 401
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token(Role.ADMIN)}"})
    assert resp.status == 200
    assert "gateway_http_requests_total" in await resp.text()


async def test_unknown_route_is_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/nope")
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "not_found"
