"""The machine's own floor for one event to many sockets, measured beside the gateway.

One process writes the same bytes to every one of `sockets` loopback TCP connections, once per
round; `readers` forked processes read them with a bare `epoll` loop and `recv`, without any
WebSocket parsing, and note when each round's bytes were complete on each socket. The time
from the first write to the last socket's arrival is what this machine's kernel and cores need
for the fan-out alone: the gateway's figure (send, commit, fan-out, a `websockets` client per
panel) can only sit above it, and it moves with the machine's speed during the run.

Run as `python -m bench.floor --sockets 1000 --readers 2 --rounds 150 --gap 0.12 --size 420`;
prints one JSON object with the times in seconds.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import sys
import time

import orjson

from bench.procs import raise_nofile_limit
from bench.stats import summarize

__all__ = ["main"]


def _reader(port: int, count: int, size: int, rounds: int, out: int) -> None:
    """Connect `count` sockets, record per round the latest completion, report, exit."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    os.write(out, b"c")  # connected
    poller = select.epoll()
    received: dict[int, int] = {}
    by_fd: dict[int, socket.socket] = {}
    for s in socks:
        s.setblocking(False)
        poller.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = s
        received[s.fileno()] = 0
    last = [0] * rounds
    open_fds = len(by_fd)
    while open_fds:
        for fd, _ in poller.poll():
            data = by_fd[fd].recv(65536)
            now = time.monotonic_ns()
            if not data:
                poller.unregister(fd)
                open_fds -= 1
                continue
            before = received[fd] // size
            received[fd] += len(data)
            for r in range(before, min(received[fd] // size, rounds)):
                last[r] = max(last[r], now)
    os.write(out, orjson.dumps(last))
    os.close(out)
    os._exit(0)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def measure(sockets: int, readers: int, rounds: int, gap_s: float, size: int) -> dict[str, float]:
    raise_nofile_limit()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(sockets)
    port = server.getsockname()[1]
    pipes: list[int] = []
    pids: list[int] = []
    share = [sockets // readers + (i < sockets % readers) for i in range(readers)]
    for count in share:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(rfd)
            server.close()
            try:
                _reader(port, count, size, rounds, wfd)
            finally:
                os._exit(1)
        os.close(wfd)
        pipes.append(rfd)
        pids.append(pid)
    conns = [server.accept()[0] for _ in range(sockets)]
    for fd in pipes:
        os.read(fd, 1)  # every reader has all its sockets before the first round
    starts: list[int] = []
    for r in range(rounds):
        payload = r.to_bytes(4, "big") * (size // 4) + b"x" * (size % 4)
        time.sleep(gap_s)
        starts.append(time.monotonic_ns())
        for c in conns:
            c.sendall(payload)
    for c in conns:
        c.close()
    server.close()
    last = [0] * rounds
    for fd in pipes:
        for r, t in enumerate(orjson.loads(_read_all(fd))):
            last[r] = max(last[r], t)
        os.close(fd)
    for pid in pids:
        os.waitpid(pid, 0)
    times = [(end - start) / 1e9 for start, end in zip(starts, last, strict=True) if end]
    summary = summarize(times)
    return {"p50": summary.p50, "p99": summary.p99, "max": summary.max, "rounds": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--gap", type=float, default=0.12, help="seconds between rounds")
    parser.add_argument("--size", type=int, default=420, help="bytes written per socket per round")
    args = parser.parse_args(argv)
    result = measure(args.sockets, args.readers, args.rounds, args.gap, args.size)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
