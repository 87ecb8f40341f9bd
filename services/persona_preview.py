"""The admin console's preview: a persona's templates rendered against a chosen scenario,
exactly as the voice agent would get them (unsaved edits included)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from services.voice.prompt_render import difficulty_instructions, render
from storage.pool import Pool
from storage.scenarios import get_scenario

__all__ = ["preview_persona"]


async def preview_persona(
    pool: Pool,
    persona: Mapping[str, Any],
    prompt_template: str,
    first_message_template: str | None,
    scenario_id: uuid.UUID,
) -> dict[str, Any] | None:
    """None when the scenario does not exist; templates are validated by the caller."""
    scenario = await get_scenario(pool, scenario_id)
    if scenario is None:
        return None
    difficulty = int(persona.get("difficulty") or 3)
    return {
        "scenario": {"id": scenario["id"], "name": scenario["name"]},
        "difficulty_instructions": difficulty_instructions(difficulty),
        "prompt": render(prompt_template, persona, scenario),
        "first_message": render(first_message_template, persona, scenario)
        if first_message_template
        else None,
    }
