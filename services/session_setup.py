"""Interview set-up rules that advise rather than refuse."""

from __future__ import annotations

__all__ = ["track_warnings"]


def track_warnings(persona_blueprint: str | None, scenario_blueprint: str | None) -> list[str]:
    """A persona from one track with a scenario written for another works, but is rarely meant:
    say so (the set-up page shows the same sentence before the interview is created)."""
    if persona_blueprint and scenario_blueprint and persona_blueprint != scenario_blueprint:
        return [
            f"This {persona_blueprint} persona meets a scenario written for "
            f"{scenario_blueprint}: the conversation may not fit the scenario"
        ]
    return []
