"""Render persona prompt templates: `{persona.*}`, `{scenario.*}` and `{difficulty_instructions}`.

One regex pass over the template: each placeholder is replaced by its value, and the values are
never scanned again, so a scenario text that contains `{persona.name}` stays literal. Lists
render as comma-separated text. Only `{name}` / `{name.name}` shapes count as placeholders, so
other braces (JSON examples in a prompt) are left alone; an unknown placeholder is an error
that `unknown_placeholders` reports at save time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from storage import personas, scenarios

__all__ = [
    "DIFFICULTY_INSTRUCTIONS",
    "PERSONA_FIELDS",
    "PLACEHOLDERS",
    "SCENARIO_FIELDS",
    "UnknownPlaceholderError",
    "difficulty_instructions",
    "render",
    "template_problems",
    "unknown_placeholders",
]

PERSONA_FIELDS = personas.DESCRIPTION
SCENARIO_FIELDS = scenarios.DESCRIPTION
PLACEHOLDERS: frozenset[str] = frozenset(
    [f"persona.{f}" for f in PERSONA_FIELDS]
    + [f"scenario.{f}" for f in SCENARIO_FIELDS]
    + ["difficulty_instructions"]
)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")

DIFFICULTY_INSTRUCTIONS: Mapping[int, str] = {
    1: (
        "Difficulty 1 (friendly): be warm and forthcoming. Share your pains, budget and timeline "
        "as soon as you are asked, raise at most one mild objection, and help the candidate "
        "succeed."
    ),
    2: (
        "Difficulty 2 (cooperative): be open but busy. Share details when asked open questions, "
        "raise one or two objections and let them go once they are acknowledged."
    ),
    3: (
        "Difficulty 3 (neutral): be professional and guarded. Reveal information only in "
        "response to good questions, raise several objections and expect each to be addressed "
        "before moving on."
    ),
    4: (
        "Difficulty 4 (challenging): be skeptical and short on time. Give brief answers to weak "
        "questions, challenge vague claims, press on price and risk, and agree to a next step "
        "only when clearly earned."
    ),
    5: (
        "Difficulty 5 (hostile): be impatient and hard to impress. Interrupt monologues, "
        "question every claim, bring up competitors and budget freezes, and end the call early "
        "if the candidate keeps pitching instead of listening."
    ),
}


class UnknownPlaceholderError(ValueError):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join("{" + n + "}" for n in names)
        super().__init__(f"unknown placeholder(s): {listed}")


def unknown_placeholders(template: str) -> list[str]:
    """Placeholders in `template` that rendering would not know, in order of first use."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name not in PLACEHOLDERS:
            seen.setdefault(name, None)
    return list(seen)


# A name rendering knows the root of: a brace around it missing or padded is a typo, never JSON.
_KNOWN = r"(?:persona|scenario)\.[A-Za-z_][A-Za-z0-9_]*|difficulty_instructions"
_SPACED = re.compile(r"\{[ \t]*(" + _KNOWN + r")[ \t]*\}")
_UNCLOSED = re.compile(r"\{[ \t]*(" + _KNOWN + r")(?![A-Za-z0-9_]|[ \t]*\})")
_UNOPENED = re.compile(r"(?<![A-Za-z0-9_.])(" + _KNOWN + r")[ \t]*\}")


def template_problems(template: str) -> list[str]:
    """Everything wrong with a template, as sentences for a person, in a stable order.

    Unknown placeholders, and braces around a known name that are padded (`{ persona.name }`),
    unclosed (`{persona.name`) or unopened (`persona.name}`). The same rules run in the admin
    page as the author types (`handlers/static/template_rules.js`)."""
    problems: list[str] = []
    unknown = unknown_placeholders(template)
    if unknown:
        problems.append("unknown placeholder(s): " + ", ".join("{" + n + "}" for n in unknown))
    for match in _SPACED.finditer(template):
        if match.group(0) != "{" + match.group(1) + "}":
            name = match.group(1)
            problems.append(f"remove the spaces inside {match.group(0)}: write {{{name}}}")
    for match in _UNCLOSED.finditer(template):
        problems.append(f"{match.group(0).strip()} is missing its closing }}")
    for match in _UNOPENED.finditer(template):
        if not template[: match.start()].rstrip(" \t").endswith("{"):
            problems.append(f"{match.group(0)} is missing its opening {{")
    return problems


def difficulty_instructions(difficulty: int) -> str:
    return DIFFICULTY_INSTRUCTIONS.get(difficulty, DIFFICULTY_INSTRUCTIONS[3])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def render(template: str, persona: Mapping[str, Any], scenario: Mapping[str, Any]) -> str:
    """Fill every placeholder in one pass; raise `UnknownPlaceholderError` for unknown ones."""
    unknown = unknown_placeholders(template)
    if unknown:
        raise UnknownPlaceholderError(unknown)
    values: dict[str, str] = {f"persona.{f}": _text(persona.get(f)) for f in PERSONA_FIELDS}
    values.update({f"scenario.{f}": _text(scenario.get(f)) for f in SCENARIO_FIELDS})
    values["difficulty_instructions"] = difficulty_instructions(int(persona.get("difficulty", 3)))
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
