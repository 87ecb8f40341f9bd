"""Which event loop the server runs on (`GATEWAY_EVENT_LOOP`).

uvloop (libuv, in C) runs the same asyncio code with cheaper callbacks, transports and
system-call handling; `docs/benchmarks.md` has both loops side by side. asyncio's own loop stays
a setting, for platforms without uvloop and for comparison.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from gateway.settings import SettingsError

__all__ = ["loop_factory", "run"]

T = TypeVar("T")
LoopChoice = Literal["auto", "uvloop", "asyncio"]


def loop_factory(choice: LoopChoice) -> tuple[str, Callable[[], asyncio.AbstractEventLoop] | None]:
    """The loop's name and a factory for `asyncio.Runner` (None: asyncio's default loop)."""
    if choice == "asyncio":
        return "asyncio", None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise SettingsError("GATEWAY_EVENT_LOOP: uvloop is not installed") from None
        return "asyncio", None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return "uvloop", factory


def run(main: Coroutine[Any, Any, T], choice: LoopChoice) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    _, factory = loop_factory(choice)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
