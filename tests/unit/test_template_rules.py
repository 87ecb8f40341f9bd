"""Template rules: unknown placeholders and stray braces around known names are refused, other
braces (JSON in a prompt) are left alone. The same table drives the browser check of the admin
console's copy of these rules (tests/browser/test_admin_console.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.voice.prompt_render import render, template_problems

CASES = json.loads((Path(__file__).parents[1] / "template_cases.json").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["template"][:30] for c in CASES])
def test_problems_match_the_table(case: dict[str, object]) -> None:
    assert template_problems(str(case["template"])) == case["problems"]


def test_a_template_without_problems_renders_completely() -> None:
    for case in CASES:
        if not case["problems"] and "persona.name" in case["template"]:
            out = render(case["template"], {"name": "Ada", "role": "CTO"}, {"name": "S"})
            assert "{persona." not in out
