"""What the analyzer knows about the call besides its transcript: the persona and the scenario.

The OpenAI analyzer needs them to judge whether the candidate addressed *this* prospect's
pains and objections. The values come from the catalog (an admin typed them), so the prompt
treats them as data, exactly like the transcript. Frozen and made of tuples, so a context is
hashable and cheap to cache per session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CallContext", "OpenSuggestion", "PersonaContext", "ScenarioContext"]


def _texts(values: Iterable[object] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or () if str(v).strip())


@dataclass(frozen=True, slots=True)
class PersonaContext:
    """The AI persona the candidate talks to."""

    name: str
    role: str
    traits: tuple[str, ...] = ()
    objection_patterns: tuple[str, ...] = ()
    difficulty: int | None = None

    @classmethod
    def of(
        cls,
        name: str,
        role: str,
        traits: Iterable[object] | None = None,
        objection_patterns: Iterable[object] | None = None,
        difficulty: int | None = None,
    ) -> PersonaContext:
        return cls(name, role, _texts(traits), _texts(objection_patterns), difficulty)


@dataclass(frozen=True, slots=True)
class ScenarioContext:
    """The situation the call is set in."""

    name: str
    description: str
    pain_points: tuple[str, ...] = ()
    budget: str = ""
    timeline: str = ""

    @classmethod
    def of(
        cls,
        name: str,
        description: str,
        pain_points: Iterable[object] | None = None,
        budget: str | None = None,
        timeline: str | None = None,
    ) -> ScenarioContext:
        return cls(name, description, _texts(pain_points), budget or "", timeline or "")


@dataclass(frozen=True, slots=True)
class OpenSuggestion:
    """A suggestion the interviewer still has open: the model may report it resolved."""

    intent: str
    text: str


@dataclass(frozen=True, slots=True)
class CallContext:
    """Persona and scenario (fixed for a session) plus the open suggestions (per run)."""

    persona: PersonaContext | None = None
    scenario: ScenarioContext | None = None
    open_suggestions: tuple[OpenSuggestion, ...] = ()

    @property
    def empty(self) -> bool:
        return self.persona is None and self.scenario is None and not self.open_suggestions
