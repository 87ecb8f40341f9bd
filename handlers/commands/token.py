"""`interview-gateway token`: print a signed bearer token the running server accepts."""

from __future__ import annotations

import argparse
import uuid

from gateway.auth import Role, issue_token
from gateway.settings import SettingsError, load_signing_settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "token",
        help="print a signed bearer token (JWT, HS256)",
        description="Print a token signed with GATEWAY_JWT_SECRET, else with the secret the "
        "server keeps in GATEWAY_DATA_DIR; never makes a secret up.",
    )
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument(
        "--session",
        help="interview session id (required for candidate; an interviewer token without one "
        "is account-level: it may set up interviews and watch any of them)",
    )
    p.add_argument(
        "--ttl", type=int, default=None, help="lifetime in seconds (default GATEWAY_TOKEN_TTL)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_signing_settings()
    session_id: uuid.UUID | None = None
    if args.session:
        try:
            session_id = uuid.UUID(args.session)
        except ValueError:
            raise SettingsError(f"--session: not a UUID: {args.session!r}") from None
    if args.role == Role.CANDIDATE and session_id is None:
        raise SettingsError(f"--session is required for a {args.role} token")
    ttl = args.ttl if args.ttl is not None else settings.token_ttl_s
    if ttl < 1:
        raise SettingsError("--ttl must be positive")
    print(issue_token(settings.secret(), args.role, session_id=session_id, ttl_s=ttl))
    return 0
