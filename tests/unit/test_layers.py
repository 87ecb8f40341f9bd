"""What import-linter cannot say: services may use aiohttp's HTTP client, never its server; and
the test suite's own structural rules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _server_imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names = {a.name for a in node.names}
            if node.module.startswith("aiohttp.web") or (
                node.module == "aiohttp" and "web" in names
            ):
                found.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.Import):
            found += [
                f"{path.name}:{node.lineno}"
                for a in node.names
                if a.name.startswith("aiohttp.web")
            ]
    return found


def test_services_never_import_aiohttp_web() -> None:
    modules = sorted((ROOT / "services").rglob("*.py"))
    assert modules, "services/ not found"
    offenders = [hit for path in modules for hit in _server_imports(path)]
    assert offenders == []


def test_the_check_sees_a_server_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import aiohttp\nfrom aiohttp import ClientSession, web\n")
    assert _server_imports(probe) == ["probe.py:2"]


def test_an_app_under_test_stops_before_its_database_is_dropped() -> None:
    """pytest tears fixtures down in reverse order: a test that asks for `aiohttp_client`
    before `db_dsn` or `pool` has its database dropped (WITH FORCE) while the app it started
    is still running, and the app's shutdown then fails now and then ("database does not
    exist"). The app's fixtures come after the database's."""
    tests = Path(__file__).resolve().parents[1]
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = [a.arg for a in node.args.args]
            if "aiohttp_client" not in args or node.name.startswith("_"):
                continue
            db = [args.index(name) for name in ("db_dsn", "pool") if name in args]
            if db and args.index("aiohttp_client") < min(db):
                wrong.append(f"{path.relative_to(tests)}::{node.name}")
    assert not wrong, wrong
