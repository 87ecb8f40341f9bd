"""Who the client is and which origin is ours, behind a load balancer or not.

`Forwarded` / `X-Forwarded-For` / `-Proto` / `-Host` are honoured only when the TCP peer is one
of `GATEWAY_TRUSTED_PROXIES` (addresses or networks); from anyone else they are ignored, so a
client cannot pick its own address (for the per-address limits) or origin. Our own origin is
`GATEWAY_PUBLIC_URL`'s when that is set (behind a TLS balancer the Host header says `http`);
otherwise it is what a trusted proxy says, else the request's scheme and Host.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from gateway.settings import Settings

__all__ = ["client_address", "own_origin"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str | None, settings: Settings) -> bool:
    if not address or not settings.trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(settings.trusted_proxies)))


def _peer(request: web.BaseRequest) -> str | None:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return request.remote


def _forwarded_pairs(request: web.BaseRequest) -> list[dict[str, str]]:
    """`Forwarded` elements, nearest proxy last (RFC 7239), as lower-case key -> value."""
    elements: list[dict[str, str]] = []
    for header in request.headers.getall("Forwarded", []):
        for element in header.split(","):
            pairs: dict[str, str] = {}
            for pair in element.split(";"):
                key, _, value = pair.strip().partition("=")
                if key:
                    pairs[key.lower()] = value.strip().strip('"')
            if pairs:
                elements.append(pairs)
    return elements


def _strip_port(node: str) -> str:
    if node.startswith("["):  # [v6]:port
        return node[1:].split("]", 1)[0]
    if node.count(":") == 1:  # v4:port
        return node.split(":", 1)[0]
    return node


def client_address(request: web.BaseRequest, settings: Settings) -> str:
    """The client's address: the peer, or, through trusted proxies, the nearest hop that is
    not one of them."""
    peer = _peer(request) or "unknown"
    if not _trusted(peer, settings):
        return peer
    hops = [_strip_port(e["for"]) for e in _forwarded_pairs(request) if "for" in e]
    if not hops:
        for header in request.headers.getall("X-Forwarded-For", []):
            hops += [h.strip() for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, settings):
            return hop
    return hops[0] if hops else peer


def own_origin(request: web.BaseRequest, settings: Settings) -> str:
    """The origin our own pages are served from (compared with a browser's `Origin`)."""
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()
    scheme, host = request.scheme, request.host
    if _trusted(_peer(request), settings):
        forwarded = _forwarded_pairs(request)
        nearest = forwarded[-1] if forwarded else {}
        scheme = nearest.get("proto") or _first(request, "X-Forwarded-Proto") or scheme
        host = nearest.get("host") or _first(request, "X-Forwarded-Host") or host
    return f"{scheme}://{host}".lower()


def _first(request: web.BaseRequest, name: str) -> str | None:
    value = request.headers.get(name)
    return value.split(",")[0].strip() if value else None
