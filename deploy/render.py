#!/usr/bin/env python3
"""Fill the double-brace placeholders of the nginx files in deploy/nginx/ (stdlib only).

    python3 deploy/render.py --upstream 127.0.0.1:8081 --upstream 127.0.0.1:8082 \\
        --listen 80 --server-name gateway.example.com \\
        > /etc/nginx/conf.d/interview-gateway.conf

The fault tests call `render_site`/`render_main` with their own ports and paths, so the files
that are deployed are the files that are tested. A placeholder left unfilled is an error.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE = HERE / "nginx" / "interview-gateway.conf"
MAIN = HERE / "nginx" / "nginx.conf"
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def render(template: str, values: Mapping[str, str]) -> str:
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def upstream_lines(servers: Sequence[str], max_fails: int = 3, fail_timeout_s: int = 2) -> str:
    if not servers:
        raise ValueError("at least one upstream server")
    return "\n".join(
        f"    server {s} max_fails={max_fails} fail_timeout={fail_timeout_s}s;" for s in servers
    )


def render_site(
    servers: Sequence[str],
    *,
    listen: str = "80",
    server_name: str = "_",
    access_log: str = "/var/log/nginx/interview-gateway.access.log",
    error_log: str = "/var/log/nginx/interview-gateway.error.log",
) -> str:
    return render(
        SITE.read_text(),
        {
            "LISTEN": listen,
            "SERVER_NAME": server_name,
            "UPSTREAM_SERVERS": upstream_lines(servers),
            "ACCESS_LOG": access_log,
            "ERROR_LOG": error_log,
        },
    )


def render_main(prefix: str, site: str) -> str:
    return render(MAIN.read_text(), {"PREFIX": prefix, "SITE": site})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--upstream", action="append", required=True, help="host:port, repeatable")
    p.add_argument("--listen", default="80")
    p.add_argument("--server-name", default="_")
    p.add_argument("--access-log", default="/var/log/nginx/interview-gateway.access.log")
    p.add_argument("--error-log", default="/var/log/nginx/interview-gateway.error.log")
    args = p.parse_args(argv)
    sys.stdout.write(
        render_site(
            args.upstream,
            listen=args.listen,
            server_name=args.server_name,
            access_log=args.access_log,
            error_log=args.error_log,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
