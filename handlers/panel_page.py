"""The interviewer panel: `GET /panel/{session_id}` (with the sign-in cookie or `?token=...`).

The page is plain HTML, CSS and ES modules shipped in the package (no build step, no CDN; see
`handlers/assets.py`). A token may travel in the query string because the page's WebSocket
cannot send headers, so the page is checked like the socket it opens (interviewer for this
session, an account-level interviewer, or admin) and served with `no-store` and
`Referrer-Policy: no-referrer`: the URL must not be cached or leak onward. The
Content-Security-Policy allows only this origin (plus its WebSocket), which makes injected
markup inert even if a bug let some in. A browser with a bad or expired link gets a page saying
so; other clients get the JSON error. An ended session opens read-only (`data-status`).
"""

from __future__ import annotations

import uuid

from aiohttp import web

from gateway.auth import Role
from gateway.errors import GatewayError
from handlers.assets import CSP
from handlers.http import json_response, parse_uuid, require
from handlers.keys import SESSIONS
from handlers.pages import human_error, page_response, wants_html

__all__ = ["CSP", "setup"]



async def _session_status(request: web.Request) -> tuple[uuid.UUID, str]:
    """Authenticate like `/ws/panel/{id}` does, then look the session up (404 if unknown)."""
    session_id = parse_uuid(request.match_info["session_id"], "session")
    require(request, Role.INTERVIEWER, session_id=session_id, allow_query=True)
    return session_id, await request.app[SESSIONS].status(session_id)


async def panel(request: web.Request) -> web.Response:
    try:
        session_id, status = await _session_status(request)
    except GatewayError as err:
        if wants_html(request):
            return human_error(request, err, "panel link")
        raise
    return page_response(request, "panel", session_id=str(session_id), status=status)


async def panel_status(request: web.Request) -> web.Response:
    """What the page asks when its socket keeps failing: refused token, gone, or ended?"""
    session_id, status = await _session_status(request)
    return json_response(
        {"session_id": str(session_id), "status": status},
        headers={"Cache-Control": "no-store"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/panel/{session_id}", panel)
    app.router.add_get("/panel/{session_id}/status", panel_status)
