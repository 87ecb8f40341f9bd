"""Analysis workers exit when the gateway that started them dies.

The offline analyzer's workers are forked by multiprocessing's forkserver, so their parent is
the forkserver, not the gateway, and each holds both ends of its executor's call queue: after
a SIGKILL of the gateway no end-of-file ever reaches them, and they (and with them the
forkserver and the resource tracker, which live as long as someone holds their pipes) stayed
for minutes. Each worker therefore watches the gateway's pid from a daemon thread and leaves
the moment it is gone (or a zombie nobody reaped yet).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

__all__ = ["init_worker", "watch_parent"]

POLL_S = 0.25


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: not ours any more (pid reused)
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc: kill(0) said it exists


def watch_parent(pid: int, poll_s: float = POLL_S) -> threading.Thread:
    """Start a daemon thread that ends this process once `pid` is gone."""

    def watch() -> None:
        while _alive(pid):
            time.sleep(poll_s)
        os._exit(0)  # nothing to flush: a worker only computes and answers its parent

    thread = threading.Thread(target=watch, name=f"watch-{pid}", daemon=True)
    thread.start()
    return thread


def init_worker(gateway_pid: int) -> None:
    """Process-pool initializer: yield the CPU (`nice` 10) and watch the gateway."""
    with contextlib.suppress(OSError):
        os.nice(10)
    watch_parent(gateway_pid)
