"""`GATEWAY_EVENT_LOOP`: which loop the server runs on."""

from __future__ import annotations

import asyncio
import sys

import pytest

from gateway.settings import SettingsError
from handlers.eventloop import loop_factory, run


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_auto_and_uvloop_run_on_uvloop() -> None:
    pytest.importorskip("uvloop")
    assert loop_factory("auto")[0] == "uvloop"
    assert run(_loop_module(), "auto").startswith("uvloop")
    assert run(_loop_module(), "uvloop").startswith("uvloop")


def test_asyncio_runs_on_asyncio_loop() -> None:
    assert loop_factory("asyncio") == ("asyncio", None)
    assert run(_loop_module(), "asyncio").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    assert loop_factory("auto") == ("asyncio", None)
    with pytest.raises(SettingsError, match="GATEWAY_EVENT_LOOP"):
        loop_factory("uvloop")
