"""The candidate page: `GET /candidate/{session_id}?token=...` and its static assets.

Plain HTML, CSS and one ES module (no build step, no CDN), checked like the candidate socket it
opens (the candidate token of this session, or admin) and served `no-store`, `no-referrer`,
with the panel's strict Content-Security-Policy. The only outside script it may load is the
ElevenLabs browser SDK from `ELEVENLABS_SDK_URL`, whose origin (and `blob:`, which the SDK's
audio worklets are loaded from) is then added to `script-src`; nothing is loaded by default.
"""

from __future__ import annotations

import hashlib
import html
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from gateway.auth import Role
from gateway.errors import NotFoundError
from gateway.settings import Settings
from handlers.http import parse_uuid, require
from handlers.keys import SESSIONS, SETTINGS
from handlers.panel_page import CSP

__all__ = ["CandidateAssets", "candidate_csp", "setup"]

STATIC = Path(__file__).resolve().parent / "static" / "candidate"
_TYPES = {"js": "text/javascript", "css": "text/css"}


def candidate_csp(settings: Settings) -> str:
    """The panel's policy, plus the SDK's origin when one is configured."""
    url = settings.elevenlabs_sdk_url
    if not url:
        return CSP
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    extra = " ".join(s for s in (origin, "blob:") if s)
    return CSP.replace("script-src 'self'", f"script-src 'self' {extra}") + (
        f"; worker-src 'self' {extra}; media-src 'self' blob:"
    )


@dataclass(frozen=True, slots=True)
class CandidateAssets:
    """The page template and its content-hashed assets, read once at start-up."""

    template: str
    assets: dict[str, tuple[bytes, str]]  # url name -> (body, content type)

    @classmethod
    def load(cls, directory: Path = STATIC) -> CandidateAssets:
        assets: dict[str, tuple[bytes, str]] = {}
        urls: dict[str, str] = {}
        for name in ("candidate.css", "candidate-page.js"):
            data = (directory / name).read_bytes()
            stem, suffix = name.rsplit(".", 1)
            url_name = f"{stem}.{hashlib.sha256(data).hexdigest()[:12]}.{suffix}"
            assets[url_name] = (data, _TYPES[suffix])
            urls[suffix] = f"/candidate-assets/{url_name}"
        template = (directory / "candidate.html").read_text(encoding="utf-8")
        template = template.replace("{{css}}", urls["css"]).replace("{{js}}", urls["js"])
        return cls(template, assets)

    def page(self, session_id: uuid.UUID, settings: Settings) -> str:
        return (
            self.template.replace("{{session_id}}", str(session_id))
            .replace("{{transcript_source}}", settings.voice_transcript_source)
            .replace("{{sdk_url}}", html.escape(settings.elevenlabs_sdk_url or "", quote=True))
        )


CANDIDATE_ASSETS = web.AppKey("candidate_assets", CandidateAssets)


async def candidate(request: web.Request) -> web.Response:
    session_id = parse_uuid(request.match_info["session_id"], "session")
    require(request, Role.CANDIDATE, session_id=session_id, allow_query=True)
    await request.app[SESSIONS].status(session_id)  # 404 for an unknown session
    settings = request.app[SETTINGS]
    return web.Response(
        text=request.app[CANDIDATE_ASSETS].page(session_id, settings),
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": candidate_csp(settings),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            # the call needs the microphone on this origin only
            "Permissions-Policy": "microphone=(self), camera=()",
        },
    )


async def asset(request: web.Request) -> web.Response:
    found = request.app[CANDIDATE_ASSETS].assets.get(request.match_info["name"])
    if found is None:
        raise NotFoundError("asset not found")
    data, content_type = found
    return web.Response(
        body=data,
        content_type=content_type,
        charset="utf-8",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


def setup(app: web.Application) -> None:
    app[CANDIDATE_ASSETS] = CandidateAssets.load()
    app.router.add_get("/candidate/{session_id}", candidate)
    app.router.add_get("/candidate-assets/{name}", asset)
