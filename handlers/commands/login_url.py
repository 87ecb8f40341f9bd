"""`interview-gateway login-url`: print a short-lived sign-in link for the pages."""

from __future__ import annotations

import argparse

from gateway.login import DEFAULT_LINK_TTL_S, LOGIN_ROLES, issue_login_token, login_url
from gateway.settings import SettingsError, load_settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "login-url",
        help="print a sign-in link for the pages (works once, expires soon)",
        description="Print a link that signs a browser in to the gateway's pages. Open it "
        "within --ttl seconds; it works once, then the browser keeps a session cookie for "
        "GATEWAY_TOKEN_TTL seconds.",
    )
    p.add_argument(
        "--role", default="interviewer", choices=[r.value for r in LOGIN_ROLES],
        help="admin: personas and scenarios too; interviewer (default): set up and watch "
        "interviews",
    )
    p.add_argument(
        "--ttl", type=int, default=DEFAULT_LINK_TTL_S,
        help=f"seconds the link stays valid (default {DEFAULT_LINK_TTL_S})",
    )
    p.add_argument("--name", help="who the link is for (shown on the pages)")
    p.add_argument("--url", help="the gateway's address (default GATEWAY_PUBLIC_URL or host:port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.ttl < 1:
        raise SettingsError("--ttl must be positive")
    if args.name is not None and not (0 < len(args.name.strip()) <= 100):
        raise SettingsError("--name must be 1 to 100 characters")
    base = args.url or settings.public_url or f"http://{settings.host}:{settings.port}"
    token = issue_login_token(settings.secret(), args.role, ttl_s=args.ttl, name=args.name)
    print(login_url(base, token))
    return 0
