"""The analysis contract: transcript lines in, Say Meter and suggestions out.

``AnalysisResult`` mirrors the result JSON of the design's "Real-Time Analytics Engine"
section. The output models validate *untrusted* model answers, so they forbid unknown
keys and range-check every number: a bad answer must fail the attempt, not reach an
interviewer's screen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from analysis.rubrics import Rubric

__all__ = [
    "MAX_INTENT_CHARS",
    "MAX_LABEL_CHARS",
    "MAX_REASONING_CHARS",
    "MAX_RESPONDS_TO_CHARS",
    "MAX_SUGGESTIONS",
    "MAX_SUGGESTION_CHARS",
    "AnalysisResult",
    "Band",
    "Priority",
    "Role",
    "SayMeter",
    "Suggestion",
    "SuggestionType",
    "TranscriptLine",
    "analysis_json_schema",
    "band_for",
]

Role = Literal["user", "assistant"]
Band = Literal["green", "yellow", "red"]
SuggestionType = Literal["context_injection", "curveball", "followup_question"]
Priority = Literal["low", "medium", "high", "critical"]

MAX_REASONING_CHARS = 2000
MAX_SUGGESTION_CHARS = 1000
MAX_LABEL_CHARS = 80
MAX_SUGGESTIONS = 12
MAX_RESPONDS_TO_CHARS = 200
MAX_INTENT_CHARS = 80

Score = Annotated[int, Field(ge=0, le=100)]


class TranscriptLine(BaseModel):
    """One utterance. ``user`` is the CANDIDATE; ``assistant`` is the AI persona.

    (The names come from the voice provider's transcript events, where the human is the
    "user" of the AI agent.) Unknown keys are ignored: callers build these from stored
    rows and request bodies that carry extra columns.
    """

    model_config = ConfigDict(frozen=True)

    role: Role
    text: str
    seq: int | None = None
    timestamp: datetime | None = None


def band_for(score: int) -> Band:
    """Colour band of a Say Meter score: green 80-100, yellow 50-79, red 0-49."""
    if score >= 80:
        return "green"
    if score >= 50:
        return "yellow"
    return "red"


class SayMeter(BaseModel):
    """Overall call health (0-100) with a per-factor breakdown and the why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: Score
    factors: dict[str, Score]
    reasoning: str = Field(max_length=MAX_REASONING_CHARS)

    # A plain property, not a computed_field: computed fields are dumped, and a dumped
    # result must validate again under extra="forbid" (storage round-trips it).
    @property
    def band(self) -> Band:
        return band_for(self.score)


class Suggestion(BaseModel):
    """A hint for the AI persona (context_injection, curveball) or for the candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: SuggestionType
    text: str = Field(min_length=1, max_length=MAX_SUGGESTION_CHARS)
    priority: Priority
    label: str | None = Field(default=None, max_length=MAX_LABEL_CHARS)
    # What in the call this answers (a short quote or the concern), and a stable key of
    # kind + concern so a session can deduplicate by intent rather than by wording.
    # Optional: the OpenAI schema does not ask for them (yet).
    responds_to: str | None = Field(default=None, max_length=MAX_RESPONDS_TO_CHARS)
    intent: str | None = Field(default=None, max_length=MAX_INTENT_CHARS)


class AnalysisResult(BaseModel):
    """One analysis of a transcript window: the design's result JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    say_meter: SayMeter
    suggestions: list[Suggestion] = Field(max_length=MAX_SUGGESTIONS)

    def missing_factors(self, rubric: Rubric) -> list[str]:
        """Rubric factors absent from ``say_meter.factors`` (a model answer must have all)."""
        return [name for name in rubric.factor_names if name not in self.say_meter.factors]

    def unknown_factors(self, rubric: Rubric) -> list[str]:
        """Factors that are not in the rubric (a model answer must not invent any)."""
        known = set(rubric.factor_names)
        return sorted(name for name in self.say_meter.factors if name not in known)


def analysis_json_schema(rubric: Rubric) -> dict[str, Any]:
    """The JSON schema sent to OpenAI as strict structured output for ``rubric``.

    Written by hand rather than from ``model_json_schema()``: strict mode needs
    ``additionalProperties: false`` and *every* property required everywhere, optional
    values expressed as nullable types, and ``factors`` as a closed object whose keys
    are the rubric's factor names (a free-form dict is not allowed in strict mode).
    String length limits are left to our own validation (and the prompt), because
    strict mode does not accept them.
    """
    score = {"type": "integer", "minimum": 0, "maximum": 100}
    factors = {
        "type": "object",
        "properties": {
            f.name: {**score, "description": f"{f.label}: {f.description}"} for f in rubric.factors
        },
        "required": list(rubric.factor_names),
        "additionalProperties": False,
    }
    suggestion = {
        "type": "object",
        "properties": {
            "type": {
                "type": "string",
                "enum": ["context_injection", "curveball", "followup_question"],
            },
            "text": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
            "label": {"type": ["string", "null"]},
        },
        "required": ["type", "text", "priority", "label"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "say_meter": {
                "type": "object",
                "properties": {
                    "score": score,
                    "factors": factors,
                    "reasoning": {"type": "string"},
                },
                "required": ["score", "factors", "reasoning"],
                "additionalProperties": False,
            },
            "suggestions": {
                "type": "array",
                "items": suggestion,
                "maxItems": MAX_SUGGESTIONS,
            },
        },
        "required": ["say_meter", "suggestions"],
        "additionalProperties": False,
    }
