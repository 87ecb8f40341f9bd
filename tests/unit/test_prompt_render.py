from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.voice.prompt_render import (
    DIFFICULTY_INSTRUCTIONS,
    PLACEHOLDERS,
    UnknownPlaceholderError,
    render,
    unknown_placeholders,
)

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

PERSONA: dict[str, Any] = {
    "name": "Sarah Chen", "role": "VP", "blueprint": "sales", "difficulty": 2,
    "company_context": "ctx", "personality_traits": ["pragmatic", "data-driven"],
    "communication_style": "brisk", "objection_patterns": ["too pricey", "bad timing"],
    "language": "en",
}
SCENARIO: dict[str, Any] = {
    "name": "Q2", "description": "Cut costs", "industry": "logistics",
    "company_size": "a 400-person",
    "pain_points": ["slow", "manual"], "budget_range": "$80k", "decision_timeline": "6 weeks",
}


def test_placeholder_set_is_exact() -> None:
    assert len(PLACEHOLDERS) == 17
    assert "persona.language" in PLACEHOLDERS and "difficulty_instructions" in PLACEHOLDERS


def test_renders_every_placeholder_and_lists_as_text() -> None:
    template = " | ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
    out = render(template, PERSONA, SCENARIO)
    assert "{" not in out
    assert "pragmatic, data-driven" in out and "slow, manual" in out
    assert DIFFICULTY_INSTRUCTIONS[2] in out


def test_values_are_not_expanded_again() -> None:
    scenario = {**SCENARIO, "description": "say {persona.name} and {difficulty_instructions}"}
    out = render("{scenario.description} / {persona.name}", PERSONA, scenario)
    assert out == "say {persona.name} and {difficulty_instructions} / Sarah Chen"


def test_other_braces_are_left_alone() -> None:
    template = 'Reply as JSON: {"ok": true} {  } {persona.name}'
    assert unknown_placeholders(template) == []
    assert render(template, PERSONA, SCENARIO) == 'Reply as JSON: {"ok": true} {  } Sarah Chen'


def test_unknown_placeholders_are_named_once_in_order() -> None:
    assert unknown_placeholders("{b} {persona.nick} {b} {persona.name}") == ["b", "persona.nick"]
    with pytest.raises(UnknownPlaceholderError, match=r"\{persona\.nick\}"):
        render("{persona.nick}", PERSONA, SCENARIO)


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_each_difficulty_has_instructions(difficulty: int) -> None:
    out = render("{difficulty_instructions}", {**PERSONA, "difficulty": difficulty}, SCENARIO)
    assert out == DIFFICULTY_INSTRUCTIONS[difficulty] and out


def test_every_seed_persona_renders_with_every_seed_scenario() -> None:
    personas = orjson.loads((SEEDS / "personas.json").read_bytes())
    scenarios = orjson.loads((SEEDS / "scenarios.json").read_bytes())
    for p in personas:
        for template in (p["prompt_template"], p["first_message_template"]):
            assert unknown_placeholders(template) == [], p["name"]
            for s in scenarios:
                out = render(template, p, s)
                assert "{persona." not in out and "{scenario." not in out
