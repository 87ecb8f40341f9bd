"""The embedded server stops when its last user leaves, even after a user was killed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from storage.embedded import HANDLES, EmbeddedPostgres, forget_dead_handles


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        subprocess.run(["kill", "-0", str(pid)], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return False
    return True


def test_a_killed_user_does_not_keep_the_server_running(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    first = EmbeddedPostgres(pgdata)
    first.start()
    # A process that joined the server and was killed before it could leave.
    handles = pgdata / HANDLES
    stale = _dead_pid()
    handles.write_text(json.dumps([*json.loads(handles.read_text()), stale]))
    first.stop()
    deadline = time.monotonic() + 10
    while _postmaster_running(pgdata) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _postmaster_running(pgdata), "the server outlived its last live user"
    assert stale not in json.loads(handles.read_text())


def test_forget_dead_handles_keeps_live_ones(tmp_path: Path) -> None:
    handles = tmp_path / HANDLES
    dead = _dead_pid()
    handles.write_text(json.dumps([dead, 1]))  # pid 1 always runs
    assert forget_dead_handles(tmp_path) == [dead]
    assert json.loads(handles.read_text()) == [1]
    assert forget_dead_handles(tmp_path / "missing") == []
