"""CLI subcommands. Each module has `add_parser(subparsers)` that sets `func` on its parser."""

from __future__ import annotations

from types import ModuleType

from handlers.commands import bench, demo, migrate, seed, serve, simulate, token
from handlers.commands import eval as eval_command

__all__ = ["COMMANDS"]

COMMANDS: list[ModuleType] = [serve, demo, simulate, migrate, seed, token, bench, eval_command]
