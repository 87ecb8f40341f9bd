"""Runs the candidate client's Node unit tests (`node --test tests/node/`) inside pytest.

Without Node.js the test skips with a hint, except in CI (`CI=true`), where it must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_TESTS = ROOT / "tests" / "node"


def _node() -> str:
    node = shutil.which("node")
    if node is not None:
        return node
    message = "Node.js is not installed: run `apt-get install nodejs` for the client unit tests"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_candidate_client_node_tests() -> None:
    node = _node()
    files = sorted(str(p.relative_to(ROOT)) for p in NODE_TESTS.glob("*.test.mjs"))
    assert files, "no Node test files found in tests/node/"
    # Explicit files: Node 20 reads a directory argument, newer versions want globs.
    result = subprocess.run(
        [node, "--test", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"node --test failed (exit {result.returncode}):\n{output[-20000:]}")
    assert "# fail 0" in output, output[-5000:]
    assert "# pass 0" not in output, "node ran no test"
