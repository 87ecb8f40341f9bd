"""Static assets of the pages: every `.css` and `.js` in `handlers/static/`, served under
content-hashed names with an immutable cache lifetime (`/assets/<stem>.<hash>.<ext>`).

ES modules import each other by relative name (`import { api } from "./common.js"`); at load
time each import is rewritten to the hashed URL of its target, leaves first, so a module's hash
covers what it imports and a release can never mix an old module with a new one. Page
templates name assets as `{{asset:panel.css}}`.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.errors import NotFoundError

__all__ = ["ASSETS", "CSP", "PAGE_HEADERS", "Asset", "StaticAssets", "serve_asset"]

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/assets/"

CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_TYPES = {"js": "text/javascript", "css": "text/css"}
_IMPORT = re.compile(r"""((?:\bfrom|\bimport)\s*\(?\s*)(["'])\./([A-Za-z0-9_-]+\.js)\2""")
_ASSET_REF = re.compile(r"\{\{asset:([A-Za-z0-9_.-]+)\}\}")


@dataclass(frozen=True, slots=True)
class Asset:
    url_name: str  # e.g. panel.3f2a9c1b0d4e.js
    body: bytes
    content_type: str


class StaticAssets:
    """The hashed assets and the page templates, read once at start-up."""

    def __init__(self, directory: Path = STATIC) -> None:
        self.directory = directory
        self.by_url: dict[str, Asset] = {}
        self.url_of: dict[str, str] = {}  # source name -> /assets/<hashed>
        self._sources = {
            p.name: p.read_text(encoding="utf-8")
            for p in sorted(directory.iterdir())
            if p.suffix in (".js", ".css")
        }
        for name in self._sources:
            self._resolve(name, ())
        self.templates = {
            p.stem: self._fill(p.read_text(encoding="utf-8"))
            for p in sorted(directory.glob("*.html"))
        }

    def _resolve(self, name: str, chain: tuple[str, ...]) -> str:
        if name in self.url_of:
            return self.url_of[name]
        if name in chain:
            raise ValueError(f"import cycle: {' -> '.join((*chain, name))}")
        if name not in self._sources:
            raise ValueError(f"{chain[-1] if chain else '?'} imports missing {name}")
        text = self._sources[name]
        if name.endswith(".js"):
            text = _IMPORT.sub(
                lambda m: f"{m.group(1)}{m.group(2)}{self._resolve(m.group(3), (*chain, name))}"
                f"{m.group(2)}",
                text,
            )
        body = text.encode("utf-8")
        stem, ext = name.rsplit(".", 1)
        url_name = f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{ext}"
        self.by_url[url_name] = Asset(url_name, body, _TYPES[ext])
        self.url_of[name] = PREFIX + url_name
        return self.url_of[name]

    def _fill(self, template: str) -> str:
        def url(m: re.Match[str]) -> str:
            if m.group(1) not in self.url_of:
                raise ValueError(f"template names a missing asset: {m.group(1)}")
            return self.url_of[m.group(1)]

        return _ASSET_REF.sub(url, template)

    def page(self, name: str, **values: str) -> str:
        """A page with `{{key}}` placeholders filled, each value HTML-escaped."""
        text = self.templates[name]
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
        return text


ASSETS = web.AppKey("static_assets", StaticAssets)


async def serve_asset(request: web.Request) -> web.Response:
    found = request.app[ASSETS].by_url.get(request.match_info["name"])
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
