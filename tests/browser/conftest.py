"""Browser fixtures: Debian's Chromium driven by Playwright (async API), never a downloaded one.

Chromium comes from the system package (`apt-get install chromium`, as `.ci/run` does). Without
it the browser tests skip with that hint, except in CI (`CI=true`), where they must run. Each
page collects its JavaScript errors and console errors (a CSP violation is one), and a test
fails if any appeared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
DESKTOP = {"width": 1280, "height": 800}


def chromium_path() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    found = shutil.which("chromium")
    if found:
        return found
    message = "Chromium is not installed: run `apt-get install chromium` for the browser tests"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageErrors:
    """JavaScript exceptions and console errors seen by the pages of one test."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.messages.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and not _expected_console_error(msg.text)
            else None,
        )


def _expected_console_error(text: str) -> bool:
    # Chromium logs every WebSocket closed or refused on purpose (the tests cut sockets).
    return "WebSocket" in text


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    path = chromium_path()
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
async def open_page(
    browser: Any, page_errors: PageErrors
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """open_page(url, viewport=DESKTOP, setup=None): a page in its own context, error-watched.

    `setup(page)` runs before navigation (e.g. to route the page's WebSocket).
    """
    contexts: list[Any] = []

    async def open_(
        url: str,
        viewport: dict[str, int] | None = None,
        setup: Callable[[Any], Awaitable[None]] | None = None,
    ) -> Any:
        context = await browser.new_context(viewport=viewport or DESKTOP)
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(10_000)
        page_errors.watch(page)
        if setup is not None:
            await setup(page)
        await page.goto(url)
        return page

    yield open_
    for context in contexts:
        await context.close()
    assert page_errors.messages == [], page_errors.messages


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


class Candidate:
    """A minimal candidate client for tests that need to say one line at a time.

    A background reader resolves each `say()` on its ack and acks every command it receives
    (keeping them in `commands`), as the real client does.
    """

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.commands: list[dict[str, Any]] = []
        self.command_arrived = asyncio.Event()
        self.ended = asyncio.Event()  # the gateway sent `session_ended`
        self._acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, server_url: str, session_id: str, token: str) -> Candidate:
        from websockets.asyncio.client import connect

        url = f"{server_url.replace('http', 'ws', 1)}/ws/candidate/{session_id}?token={token}"
        ws = await connect(url, open_timeout=5, compression=None)
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello", hello
        return cls(ws)

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame["type"] == "ack":
                future = self._acks.pop(frame["seq"], None)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif frame["type"] == "session_ended":
                self.ended.set()
            elif frame["type"] == "command":
                self.commands.append(frame)
                self.command_arrived.set()
                ack = {"type": "command_ack", "command_id": frame["command_id"]}
                await self.ws.send(orjson.dumps(ack).decode())  # text: binary frames get 1003

    async def say(self, seq: int, text: str, role: str = "user") -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[seq] = future
        frame = {"type": "transcript", "seq": seq, "role": role, "text": text}
        await self.ws.send(orjson.dumps(frame).decode())
        return await asyncio.wait_for(future, 5)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


@pytest.fixture
async def gateway(
    aiohttp_server: Callable[..., Awaitable[Any]], settings: Any, db_dsn: str
) -> Any:
    """The real app on a real port (127.0.0.1) over this test's database: an aiohttp TestServer.

    `gateway.app` reaches the live service, for tests that publish events themselves.
    """
    from handlers.app import create_app

    return await aiohttp_server(create_app(settings, db_dsn))


@pytest.fixture
async def interview(gateway: Any, token: Callable[..., str]) -> dict[str, Any]:
    """A session created like a user does: seeded persona and scenario, `POST /api/sessions`."""
    from gateway.auth import Role
    from handlers.commands.demo import create_session

    server_url = f"http://127.0.0.1:{gateway.port}"
    async with aiohttp.ClientSession() as http:
        created = await create_session(
            http,
            server_url,
            token(Role.ADMIN),
            persona_name="Sarah Chen",
            scenario_name="Regional Logistics Dispatch Overhaul",
        )
    created["server_url"] = server_url
    return created


@pytest.fixture
async def candidate(interview: dict[str, Any]) -> AsyncIterator[Candidate]:
    client = await Candidate.connect(
        interview["server_url"], interview["session_id"], interview["candidate_token"]
    )
    yield client
    await client.close()
