"""Tiny labeled sets for the evaluation tests, written into a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

BAND = {"poor": "red", "mediocre": "yellow", "strong": "green"}


def conversation(
    blueprint: str = "sales", label: str = "poor", messages: int = 20, marker: str = ""
) -> dict[str, Any]:
    """A valid set file; every candidate line carries ``marker`` so a fake analyzer can
    tell conversations apart."""
    lines = [
        {
            "role": "assistant" if i % 2 == 0 else "user",
            "text": f"Line {i}: we're not sure it's a big problem. {marker}".strip(),
        }
        for i in range(messages)
    ]
    return {
        "title": f"{blueprint} {label}",
        "blueprint": blueprint,
        "label": label,
        "expected_band": BAND[label],
        "notes": "test conversation",
        "persona": {
            "name": "Test Persona",
            "role": "Director",
            "company_context": "A test company.",
            "personality_traits": ["direct"],
            "objection_patterns": ["Not this quarter."],
            "difficulty": 3,
        },
        "scenario": {
            "name": "Test Scenario",
            "description": "A test scenario.",
            "pain_points": ["slow process"],
        },
        "messages": lines,
    }


def write(root: Path, data: dict[str, Any], name: str | None = None) -> Path:
    path = root / str(data["blueprint"]) / (name or f"{data['label']}-01.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data))
    return path
