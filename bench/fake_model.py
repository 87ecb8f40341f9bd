"""A slow OpenAI-compatible model in its own process: the tests' `FakeOpenAI(latency=...)`.

    python -m bench.fake_model --port 8091 --latency 1.0

Run from the repository (the fake lives in `tests/fakes/`, which is not installed), with the
repository root on `PYTHONPATH` (the bench sets it). Serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal

__all__ = ["main"]


async def _serve(port: int, latency: float) -> None:
    fakes = importlib.import_module("tests.fakes.fake_openai")
    fake = fakes.FakeOpenAI(latency=latency, port=port)
    await fake.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="a slow fake OpenAI chat completions server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.latency))


if __name__ == "__main__":
    main()
