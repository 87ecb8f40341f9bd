"""The CLI as a user runs it: real subprocesses against the test's PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.auth import Role, verify_token
from gateway.settings import load_settings

CLI = [sys.executable, "-m", "gateway"]


async def run_cli(*args: str, env: dict[str, str], limit_s: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI", "ELEVEN"))
    }
    env.pop("DATABASE_URL", None)
    env["GATEWAY_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


async def test_help_lists_commands(tmp_path: Path) -> None:
    code, out, _ = await run_cli("--help", env=base_env(tmp_path))
    assert code == 0
    for command in ("serve", "migrate", "seed", "token"):
        assert command in out
    code, out, _ = await run_cli("token", "--help", env=base_env(tmp_path))
    assert code == 0 and "--role" in out


async def test_token_is_signed_with_the_kept_secret(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    load_settings(data_dir=tmp_path / "data")  # what `serve` does first: keep a secret
    code, out, _ = await run_cli("token", "--role", "admin", env=env)
    assert code == 0
    secret = (tmp_path / "data" / "jwt_secret").read_text().strip()
    assert verify_token(secret, out.strip()).role is Role.ADMIN
    code, _, err = await run_cli("token", "--role", "candidate", env=env)
    assert code != 0 and "--session" in err


async def test_token_outside_the_data_dir_never_creates_a_secret(tmp_path: Path) -> None:
    """A token signed with a made-up secret is one the server rejects: fail, say where."""
    env = base_env(tmp_path)
    code, out, err = await run_cli("token", "--role", "admin", env=env)
    assert code == 2 and out == ""
    assert str((tmp_path / "data" / "jwt_secret").resolve()) in err, err
    assert "GATEWAY_JWT_SECRET" in err
    assert not (tmp_path / "data").exists()
    secret = "s" * 40
    env["GATEWAY_JWT_SECRET"] = secret
    code, out, _ = await run_cli("token", "--role", "admin", env=env)
    assert code == 0 and verify_token(secret, out.strip()).role is Role.ADMIN
    assert not (tmp_path / "data").exists()


async def test_unreachable_database_is_one_line_error(tmp_path: Path) -> None:
    env = base_env(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    code, _, err = await run_cli("serve", env=env)
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("interview-gateway: error: cannot connect to the database")
    assert "Traceback" not in err


async def test_bad_setting_is_one_line_error(tmp_path: Path) -> None:
    code, _, err = await run_cli("serve", env=base_env(tmp_path, GATEWAY_PORT="http"))
    assert code == 2
    assert err.strip() == (
        "interview-gateway: error: GATEWAY_PORT: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


async def test_migrate_twice_then_serve_and_stop(tmp_path: Path, empty_db_dsn: str) -> None:
    env = base_env(tmp_path, DATABASE_URL=empty_db_dsn)
    code, out, _ = await run_cli("migrate", env=env)
    assert code == 0 and "applied 0001_base_schema" in out
    code, out, _ = await run_cli("migrate", env=env)
    assert code == 0 and "nothing to apply" in out
    code, out, _ = await run_cli("seed", env=env)
    assert code == 0 and "personas" in out

    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", "0", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        url = None
        while url is None:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "server exited early"
            if m := re.search(r"listening on (http://\S+)", line):
                url = m.group(1)
        async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("after_line", ["embedded PostgreSQL ready", "listening on"])
async def test_sigterm_at_any_point_stops_the_embedded_database(
    tmp_path: Path, after_line: str
) -> None:
    """During start-up (migrations, seeds) or while serving: the embedded server goes too."""
    env = base_env(tmp_path, GATEWAY_PORT="0")
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--seed", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(90):
        while after_line not in (line := (await proc.stderr.readline()).decode()):
            if not line:
                pytest.fail(f"the gateway exited before {after_line!r}: {''.join(seen)}")
            seen.append(line)
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        await proc.stderr.read()
        await proc.wait()
    pid_file = tmp_path / "data" / "pgdata" / "postmaster.pid"
    for _ in range(100):  # PostgreSQL removes it when it has shut down
        if not pid_file.exists():
            break
        await asyncio.sleep(0.1)
    assert not pid_file.exists(), "the embedded PostgreSQL outlived the gateway"
