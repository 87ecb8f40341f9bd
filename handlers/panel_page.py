"""The interviewer panel: `GET /panel/{session_id}?token=...` and its static assets.

The page is plain HTML, CSS and one ES module shipped in the package (no build step, no CDN).
The token travels in the query string because the page's WebSocket cannot send headers, so the
page is checked like the socket it opens (interviewer for this session, or admin) and served
with `no-store` and `Referrer-Policy: no-referrer`: the URL must not be cached or leak onward.
Assets are served under content-hashed names with an immutable cache lifetime, so a new
release can never mix an old script with a new page. The Content-Security-Policy allows only
this origin (plus its WebSocket), which makes injected markup inert even if a bug let some in.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.auth import Role
from gateway.errors import NotFoundError
from handlers.http import json_response, parse_uuid, require
from handlers.keys import SESSIONS

__all__ = ["CSP", "PanelAssets", "setup"]

STATIC = Path(__file__).resolve().parent / "static"

CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}



@dataclass(frozen=True, slots=True)
class Asset:
    url_name: str  # e.g. panel.3f2a9c1b0d4e.js
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class PanelAssets:
    """The page template and its hashed assets, read once at start-up."""

    template: str
    assets: dict[str, Asset]  # by url_name

    @classmethod
    def load(cls, directory: Path = STATIC) -> PanelAssets:
        assets: dict[str, Asset] = {}
        urls: dict[str, str] = {}
        for name in ("panel.css", "panel.js"):
            body = (directory / name).read_bytes()
            stem, suffix = name.rsplit(".", 1)
            digest = hashlib.sha256(body).hexdigest()[:12]
            url_name = f"{stem}.{digest}.{suffix}"
            assets[url_name] = Asset(url_name, body, _ASSET_TYPES["." + suffix])
            urls[suffix] = f"/panel-assets/{url_name}"
        template = (directory / "panel.html").read_text(encoding="utf-8")
        template = template.replace("{{css}}", urls["css"]).replace("{{js}}", urls["js"])
        return cls(template=template, assets=assets)

    def page(self, session_id: uuid.UUID) -> str:
        # A UUID's text is hex and dashes: nothing in it needs HTML escaping.
        return self.template.replace("{{session_id}}", str(session_id))


PANEL_ASSETS = web.AppKey("panel_assets", PanelAssets)


async def _session_status(request: web.Request) -> tuple[uuid.UUID, str]:
    """Authenticate like `/ws/panel/{id}` does, then look the session up (404 if unknown)."""
    session_id = parse_uuid(request.match_info["session_id"], "session")
    require(request, Role.INTERVIEWER, session_id=session_id, allow_query=True)
    return session_id, await request.app[SESSIONS].status(session_id)


async def panel(request: web.Request) -> web.Response:
    session_id, _ = await _session_status(request)
    return web.Response(
        text=request.app[PANEL_ASSETS].page(session_id),
        content_type="text/html",
        charset="utf-8",
        headers=_PAGE_HEADERS,
    )


async def panel_status(request: web.Request) -> web.Response:
    """What the page asks when its socket keeps failing: refused token, gone, or ended?"""
    session_id, status = await _session_status(request)
    return json_response(
        {"session_id": str(session_id), "status": status},
        headers={"Cache-Control": "no-store"},
    )


async def asset(request: web.Request) -> web.Response:
    found = request.app[PANEL_ASSETS].assets.get(request.match_info["name"])
    if found is None:
        raise NotFoundError("asset not found")
    return web.Response(
        body=found.body,
        content_type=found.content_type,
        charset="utf-8",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


def setup(app: web.Application) -> None:
    app[PANEL_ASSETS] = PanelAssets.load()
    app.router.add_get("/panel/{session_id}", panel)
    app.router.add_get("/panel/{session_id}/status", panel_status)
    app.router.add_get("/panel-assets/{name}", asset)
