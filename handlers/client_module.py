"""The browser candidate client, served as one ES module: `GET /client/candidate.js`.

The stable path always serves the current module with `no-cache` and an ETag (a page picks up a
new release on its next load); `/client/candidate.<VERSION>.js` serves the same bytes, immutable,
for pages that pin a version. A module script is fetched in CORS mode, so any web app may import
it from another origin (`Access-Control-Allow-Origin: *`: public code, no credentials).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.errors import NotFoundError

__all__ = ["CandidateModule", "setup"]

MODULE = Path(__file__).resolve().parent / "static" / "client" / "candidate.js"
_VERSION = re.compile(rb'^export const VERSION = "(\d+\.\d+\.\d+)";$', re.MULTILINE)
_COMMON = {
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


@dataclass(frozen=True, slots=True)
class CandidateModule:
    body: bytes
    version: str
    etag: str

    @classmethod
    def load(cls, path: Path = MODULE) -> CandidateModule:
        body = path.read_bytes()
        found = _VERSION.search(body)
        if found is None:
            raise RuntimeError(f"{path} exports no VERSION constant")
        return cls(body, found.group(1).decode(), f'"{hashlib.sha256(body).hexdigest()[:16]}"')


CANDIDATE_MODULE = web.AppKey("candidate_module", CandidateModule)


def _answer(request: web.Request, module: CandidateModule, cache: str) -> web.Response:
    headers = {**_COMMON, "Cache-Control": cache, "ETag": module.etag}
    if request.headers.get("If-None-Match") == module.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=module.body, content_type="text/javascript", charset="utf-8", headers=headers
    )


async def current(request: web.Request) -> web.Response:
    return _answer(request, request.app[CANDIDATE_MODULE], "no-cache")


async def pinned(request: web.Request) -> web.Response:
    module = request.app[CANDIDATE_MODULE]
    if request.match_info["version"] != module.version:
        raise NotFoundError(f"this gateway serves candidate.js {module.version}")
    return _answer(request, module, "public, max-age=31536000, immutable")


def setup(app: web.Application) -> None:
    app[CANDIDATE_MODULE] = CandidateModule.load()
    app.router.add_get("/client/candidate.js", current)
    app.router.add_get(r"/client/candidate.{version:\d+\.\d+\.\d+}.js", pinned)
