"""`interview-gateway simulate`: replay a transcript as a candidate client would.

The reference candidate client of docs/protocol.md, runnable against any gateway: it prints
every ack, every command it receives and the ElevenLabs `contextual_update` it would inject.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

from client.simulator import Simulator, SimulatorError, load_transcript

__all__ = ["DEFAULT_TRANSCRIPT", "add_parser", "run"]

# Seeds live at the repository root next to the package (an editable install, as `make` does).
DEFAULT_TRANSCRIPT = Path(__file__).resolve().parents[2] / "seeds" / "transcripts" / "strong.json"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a transcript over /ws/candidate/{id} as a candidate client",
        description=(
            "Replay a transcript as transcript frames (seq 1..N), resend unacked frames after "
            "a reconnect, print acks and commands, and ack the commands. Exit 0 when the "
            "transcript is delivered (or the session ended), 1 on an unrecoverable error."
        ),
    )
    p.add_argument("--session", required=True, help="interview session id")
    p.add_argument("--token", required=True, help="candidate (or admin) token for the session")
    p.add_argument(
        "--transcript",
        type=Path,
        default=DEFAULT_TRANSCRIPT,
        help="transcript JSON (default seeds/transcripts/strong.json)",
    )
    p.add_argument("--rate", type=float, default=2.0, help="messages per second (default 2)")
    p.add_argument(
        "--url", default="ws://127.0.0.1:8080", help="gateway base URL (default ws://127.0.0.1:8080)"
    )
    p.add_argument(
        "--linger",
        type=float,
        default=5.0,
        help="seconds to stay connected for commands after the last ack (default 5; -1 = forever)",
    )
    p.add_argument(
        "--reconnect-for",
        type=float,
        default=60.0,
        help="seconds to keep reconnecting (capped exponential backoff with jitter) before "
        "giving up (default 60)",
    )
    p.set_defaults(func=run)


def _out(line: str) -> None:
    print(line, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        uuid.UUID(args.session)
    except ValueError:
        print(f"interview-gateway: error: --session: not a UUID: {args.session!r}", file=sys.stderr)
        return 2
    if args.rate <= 0:
        print("interview-gateway: error: --rate must be positive", file=sys.stderr)
        return 2
    try:
        messages = load_transcript(args.transcript)
    except SimulatorError as err:
        print(f"interview-gateway: error: {err}", file=sys.stderr)
        return 1
    simulator = Simulator(
        args.url,
        args.session,
        args.token,
        messages,
        rate=args.rate,
        linger=None if args.linger < 0 else args.linger,
        reconnect_for=args.reconnect_for,
        out=_out,
    )
    result = asyncio.run(simulator.run())
    if result.exit_code:
        print(f"interview-gateway: error: {result.reason}", file=sys.stderr)
    else:
        _out(
            f"done: {result.reason}; {result.acked}/{len(messages)} frame(s) acked, "
            f"{len(result.commands)} command(s) injected"
        )
    return result.exit_code
