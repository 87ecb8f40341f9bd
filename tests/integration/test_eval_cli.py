"""`interview-gateway eval` as a user runs it: a subprocess on a small set built in tmp_path,
with the offline analyzer and with the OpenAI one against the local fake model server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from analysis.evaluation import EvalReport
from analysis.perturbations import PERTURBATIONS
from tests.evalset_builder import conversation, write
from tests.fakes.fake_openai import FakeOpenAI

CLI = [sys.executable, "-m", "gateway", "eval"]


async def run_eval(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OPENAI", "ELEVEN"))
    }
    env["GATEWAY_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def small_set(root: Path) -> Path:
    for blueprint in ("sales", "HR"):
        for label in ("poor", "mediocre", "strong"):
            write(root, conversation(blueprint, label, messages=22))
    return root


async def test_offline_eval_prints_a_table(tmp_path: Path) -> None:
    code, out, err = await run_eval(
        "--set", str(small_set(tmp_path / "set")), env=clean_env(tmp_path)
    )
    assert code == 0, err
    lines = out.splitlines()
    assert "with the offline analyzer" in lines[0]
    for name in ("HR", "sales", "overall"):
        row = next(line for line in lines if line.startswith(name))
        assert "/3" in row or "/6" in row or "/9" in row  # pairs and bands columns
    assert any(line.startswith("overall") and " 6 " in line for line in lines)
    assert "Targets (issue 14):" in out


async def test_offline_eval_json_is_the_report(tmp_path: Path) -> None:
    code, out, err = await run_eval(
        "--set", str(small_set(tmp_path / "set")), "--json", env=clean_env(tmp_path)
    )
    assert code == 0, err
    report = EvalReport.model_validate_json(out)
    assert report.analyzer == "offline" and report.window == 20
    assert len(report.conversations) == 6
    assert report.perturbations == list(PERTURBATIONS)
    assert all(set(c.perturbed) == set(PERTURBATIONS) for c in report.conversations)
    # Pairs exist only within a blueprint: 3 per blueprint, 6 overall.
    assert [g.pairs for g in report.blueprints] == [3, 3] and report.overall.pairs == 6


async def test_a_bad_set_file_is_one_line_naming_it(tmp_path: Path) -> None:
    root = small_set(tmp_path / "set")
    bad = conversation("sales", "strong")
    bad["expected_band"] = "red"
    path = write(root, bad, "strong-02.json")
    code, out, err = await run_eval("--set", str(root), env=clean_env(tmp_path))
    assert code == 1 and out == ""
    assert str(path) in err and "does not match label" in err
    assert "Traceback" not in err


async def test_openai_eval_against_the_fake_model(tmp_path: Path) -> None:
    root = small_set(tmp_path / "set")
    async with FakeOpenAI() as fake:
        env = clean_env(tmp_path, OPENAI_API_KEY="test", OPENAI_BASE_URL=fake.base_url)
        code, out, err = await run_eval(
            "--set", str(root), "--analyzer", "openai", "--json", "--no-robustness", env=env
        )
        assert code == 0, err
        report = EvalReport.model_validate_json(out)
        assert report.analyzer == "openai:gpt-4o" and report.perturbations == []
        # The fake answers 72 to everything: every pair is a tie, worth half.
        assert {c.score for c in report.conversations} == {72}
        assert report.overall.ties == 6 and report.overall.pairs_ordered_share == 0.5
        requests = fake.completion_requests
        assert len(requests) == 6
        schemas = {r.response_format["json_schema"]["name"] for r in requests}
        assert len(schemas) == 1

        code, out, err = await run_eval("--set", str(root), "--analyzer", "openai", env=env)
        assert code == 0, err
        assert len(fake.completion_requests) == 6 + 6 * (1 + len(PERTURBATIONS))
        assert "openai:gpt-4o analyzer" in out.splitlines()[0]


async def test_openai_eval_needs_a_key(tmp_path: Path) -> None:
    code, _, err = await run_eval(
        "--set", str(small_set(tmp_path / "set")), "--analyzer", "openai", env=clean_env(tmp_path)
    )
    assert code == 2 and "OPENAI_API_KEY" in err


async def test_a_failing_model_stops_the_eval_with_one_line(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = clean_env(tmp_path, OPENAI_API_KEY="wrong-key", OPENAI_BASE_URL=fake.base_url)
        code, out, err = await run_eval(
            "--set", str(small_set(tmp_path / "set")), "--analyzer", "openai", env=env
        )
    assert code == 1 and out == ""
    assert "analysis failed" in err and "wrong-key" not in err and "Traceback" not in err
