"""`interview-gateway demo`: the whole loop on one machine, in one command.

Starts the gateway in-process (embedded PostgreSQL unless `DATABASE_URL` is set, seed data
loaded), creates an interview for the seeded persona and scenario the transcript was written
for through the REST API, prints the interviewer panel URL and the candidate page URL, and
replays the transcript with the reference candidate client. With `--page` nothing is replayed:
the candidate page (`/candidate/{id}`) plays the call against a local scripted ElevenLabs
conversation server (started here for the offline voice provider, ELEVENLABS_CONVERSATION_URL
pointed at it), so the whole loop runs in a browser: candidate page, fake ElevenLabs, gateway,
panel, and Apply back into the conversation. A person watches the Say Meter move, presses
Apply, and sees the command arrive in the candidate output below. Ctrl-C stops the client,
then the gateway, then the database, without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from client.interviews import InterviewSetupError, create_interview
from client.simulator import Simulator, SimulatorError, load_transcript
from gateway import logs
from gateway.auth import Role, issue_token
from gateway.login import issue_login_token, login_url
from gateway.settings import Settings, SettingsError, load_settings
from handlers.commands.simulate import DEFAULT_TRANSCRIPT
from handlers.scripted_conversation import FakeConversationServer, load_script
from handlers.server import run_server
from storage.database import database

__all__ = ["DemoError", "add_parser", "run"]

log = logging.getLogger("gateway.demo")


class DemoError(Exception):
    """The demo cannot go on (port busy, seed data missing...): one line, exit 1."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="start the gateway, create a session, print the panel URL, replay a transcript",
        description=(
            "Run the gateway with seed data, create an interview for a seeded sales persona and "
            "scenario, print the interviewer panel URL, and replay a transcript as the "
            "candidate. Open the URL, watch the Say Meter, press Apply. Ctrl-C stops."
        ),
    )
    p.add_argument(
        "--transcript",
        type=Path,
        default=DEFAULT_TRANSCRIPT,
        help="transcript JSON (default seeds/transcripts/strong.json)",
    )
    p.add_argument("--rate", type=float, default=1.0, help="messages per second (default 1)")
    p.add_argument("--port", type=int, default=None, help="port (default GATEWAY_PORT or 8080)")
    p.add_argument("--host", default=None, help="interface (default GATEWAY_HOST or 127.0.0.1)")
    p.add_argument(
        "--page",
        action="store_true",
        help="no replay: open the candidate page URL and press Start call (the local "
        "conversation server plays the transcript)",
    )
    p.set_defaults(func=run)


def _transcript_cast(path: Path) -> tuple[str, str]:
    """The persona and scenario a seed transcript was written for (defaults: the sales pair)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        data = {}
    meta = data if isinstance(data, dict) else {}
    return (
        str(meta.get("persona_name") or "Sarah Chen"),
        str(meta.get("scenario_name") or "Regional Logistics Dispatch Overhaul"),
    )


def _say(line: str = "") -> None:
    print(line, flush=True)


def _banner(
    created: dict[str, Any],
    transcript: Path,
    rate: float,
    candidate_url: str | None,
    page: bool,
    sign_in: str | None = None,
) -> None:
    rule = "=" * 78
    _say(rule)
    _say(" Interview Gateway demo")
    _say(f" Session  {created['session_id']}")
    _say(f" Persona  {created.get('persona_name')}  ·  Scenario  {created.get('scenario_name')}")
    _say("")
    _say(" Open the interviewer panel in a browser:")
    _say("")
    _say(f"   {created['panel_url']}")
    _say("")
    if sign_in:
        _say(" Or sign in to every page (admin console, interviews, reports; works once):")
        _say("")
        _say(f"   {sign_in}")
        _say("")
    if candidate_url is not None:
        _say(" The candidate page (press Start call: a local scripted ElevenLabs plays the call):")
        _say("")
        _say(f"   {candidate_url}")
        _say("")
    if page:
        _say(f" The candidate page plays {transcript} at {rate:g} message(s)/s.")
        _say(" The Say Meter updates every 10 messages; press Apply on a suggestion and watch it")
        _say(" arrive on the candidate page as steering. Ctrl-C stops.")
        _say(rule)
        return
    _say(f" Replaying {transcript} at {rate:g} message(s)/s as the candidate.")
    _say(" The Say Meter updates every 10 messages; press Apply on a suggestion and watch")
    _say(" the command arrive below as an ElevenLabs contextual_update. Ctrl-C stops.")
    _say(rule)


async def _demo(
    settings: Settings, dsn: str, transcript: Path, rate: float, page: bool = False
) -> int:
    conversations: FakeConversationServer | None = None
    if settings.voice_agent_provider == "offline" and not settings.elevenlabs_conversation_url:
        conversations = FakeConversationServer(load_script(transcript), interval_s=1 / rate)
        await conversations.start()
        settings = settings.model_copy(
            update={"elevenlabs_conversation_url": conversations.ws_url}
        )
    try:
        return await _run_demo(settings, dsn, transcript, rate, page)
    finally:
        if conversations is not None:
            await conversations.stop()


async def _run_demo(settings: Settings, dsn: str, transcript: Path, rate: float, page: bool) -> int:
    messages = load_transcript(transcript)
    persona_name, scenario_name = _transcript_cast(transcript)
    stop = asyncio.Event()  # run_server sets it on SIGINT/SIGTERM
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[str] = loop.create_future()
    server = asyncio.create_task(
        run_server(settings, dsn, seed=True, stop=stop, on_ready=ready.set_result),
        name="demo-gateway",
    )
    simulation: asyncio.Task[Any] | None = None
    try:
        pending: set[asyncio.Future[Any]] = {server, ready}
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            server.result()  # raises why the gateway could not start
            raise DemoError("the gateway stopped before it was ready")
        base = ready.result()
        admin = issue_token(settings.secret(), Role.ADMIN, ttl_s=3600)
        async with aiohttp.ClientSession() as http:
            created = await create_interview(
                http, base, admin, persona_name=persona_name, scenario_name=scenario_name
            )
        link = login_url(
            settings.public_url or base, issue_login_token(settings.secret(), Role.ADMIN)
        )
        sid, candidate_token = created["session_id"], created["candidate_token"]
        candidate_url = f"{base}/candidate/{sid}?token={candidate_token}"
        _banner(
            created, transcript, rate,
            candidate_url if settings.elevenlabs_conversation_url else None, page, link,
        )
        if page:
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({server, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if server.done():
                server.result()
            _say("stopping: gateway, conversation server, database")
            return 0
        simulator = Simulator(
            "ws" + base.removeprefix("http"),
            str(created["session_id"]),
            str(created["candidate_token"]),
            messages,
            rate=rate,
            linger=None,  # stay on the call so Apply still reaches us after the last line
            out=lambda line: _say(f"[candidate] {line}"),
        )
        simulation = asyncio.create_task(simulator.run(), name="demo-candidate")
        stopping = asyncio.create_task(stop.wait())
        watched: set[asyncio.Future[Any]] = {server, simulation, stopping}
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if simulation.done() and not stop.is_set():
            result = simulation.result()
            if result.exit_code:
                raise DemoError(f"candidate client: {result.reason}")
            _say(f"[candidate] {result.reason}; the panel stays up. Ctrl-C stops.")
            await stop.wait()
        if server.done():
            server.result()
        _say("stopping: candidate client, gateway, database")
        return 0
    finally:
        if simulation is not None and not simulation.done():
            simulation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await simulation
        stop.set()
        if not server.done():
            with contextlib.suppress(Exception):
                await server
        elif not server.cancelled():
            server.exception()  # retrieved: a failure is reported by the caller's except


def run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.host:
        overrides["host"] = args.host
    if "VOICE_AGENT_PROVIDER" not in os.environ:
        # A demo must not need an ElevenLabs account: agents get deterministic local ids.
        overrides["voice_agent_provider"] = "offline"
    if args.rate <= 0:
        raise SettingsError("--rate must be positive")
    settings = load_settings(**overrides)
    logs.configure(settings.log_format, settings.log_level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # keep the demo output legible
    try:
        load_transcript(args.transcript)  # fail before starting a database
        with database(settings.database_url, settings.pgdata) as dsn:
            return asyncio.run(_demo(settings, dsn, args.transcript, args.rate, args.page))
    except (DemoError, InterviewSetupError, SimulatorError) as err:
        print(f"interview-gateway: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        if err.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            print(
                f"interview-gateway: error: port {settings.port} is in use; "
                "try `interview-gateway demo --port 0` (any free port)",
                file=sys.stderr,
            )
            return 1
        raise
