"""CLI subcommands. Each module has `add_parser(subparsers)` that sets `func` on its parser."""

from __future__ import annotations

from types import ModuleType

from handlers.commands import migrate, seed, serve, token

__all__ = ["COMMANDS"]

COMMANDS: list[ModuleType] = [serve, migrate, seed, token]
