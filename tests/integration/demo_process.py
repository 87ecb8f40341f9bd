"""`interview-gateway demo` as a subprocess: its command, environment and printed lines (shared
by the demo and demo-page tests)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

__all__ = ["CLI", "Output", "demo_env"]

CLI = [sys.executable, "-m", "gateway"]


def demo_env(tmp_path: Path, dsn: str) -> dict[str, str]:
    ours = ("GATEWAY_", "OPENAI", "ELEVEN", "VOICE_AGENT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        DATABASE_URL=dsn, GATEWAY_DATA_DIR=str(tmp_path / "data"), GATEWAY_ANALYZER="offline"
    )
    return env


class Output:
    """Collects a subprocess's stdout lines; `wait_for(pattern)` returns the first match."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            async with self._changed:
                self.lines.append(line.decode().rstrip("\n"))
                self._changed.notify_all()

    async def wait_for(self, pattern: re.Pattern[str] | str) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found() -> re.Match[str] | None:
            return next((m for line in self.lines if (m := regex.search(line))), None)

        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: found() is not None or self._task.done())
        match = found()
        assert match is not None, f"{regex.pattern!r} never printed:\n" + "\n".join(self.lines)
        return match
