"""The fault tier (`-m faults`): real processes killed, databases restarted, frames fuzzed.
Each test prints its figures; together they stay under five minutes on the project machine."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)
