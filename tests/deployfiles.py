"""The deploy/ files, loaded the way an operator uses them: `deploy/render.py` fills the nginx
templates, and `Nginx` runs the result (the fault tests put it in front of gateways)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
)


def require_nginx() -> str:
    """nginx's path; without it the test skips with a hint, except in CI (`CI=true`): fails."""
    if NGINX is not None:
        return NGINX
    message = "nginx is not installed: run `apt-get install nginx` for the balancer tests"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_render", DEPLOY / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_nginx_config(root: Path, listen_port: int, upstreams: list[str]) -> Path:
    """Render deploy/nginx/ for a private nginx under `root`; returns the main file."""
    render = render_module()
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (root / sub).mkdir(exist_ok=True)
        (root / sub).chmod(0o777)  # nginx workers drop root privileges
    site = root / "site.conf"
    site.write_text(
        render.render_site(
            upstreams,
            listen=f"127.0.0.1:{listen_port}",
            server_name="localhost",
            access_log=str(root / "access.log"),
            error_log=str(root / "site-error.log"),
        )
    )
    main = root / "nginx.conf"
    main.write_text(render.render_main(str(root), str(site)))
    return main


def check_config(main: Path) -> subprocess.CompletedProcess[str]:
    assert NGINX is not None
    return subprocess.run(
        [NGINX, "-t", "-p", str(main.parent), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
    )


class Nginx:
    """nginx in the foreground from a rendered config; stopped (SIGQUIT, graceful) on exit."""

    def __init__(self, main: Path, port: int) -> None:
        self.main, self.port = main, port
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        assert NGINX is not None
        log = (self.main.parent / "stderr.log").open("wb")
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.main.parent), "-c", str(self.main), "-g", "daemon off;"],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.errors()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port}: {self.errors()}")

    def errors(self) -> str:
        out = []
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                out.append((self.main.parent / name).read_text(errors="replace"))
        return "\n".join(out)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
