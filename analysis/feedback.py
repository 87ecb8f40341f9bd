"""The design's suggestion feedback loop: what interviewers did with earlier suggestions,
turned into guidance for the next prompt.

Interviewers applying most curveballs but dismissing most context injections is a success
pattern the model should follow; these numbers come from the gateway's own records and are
trusted (unlike the transcript). Too few observations say nothing, so small samples are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MIN_OFFERED", "SuggestionFeedback", "feedback_guidance"]

MIN_OFFERED = 10

_NAMES = {
    "context_injection": "context injections",
    "curveball": "curveballs",
    "followup_question": "follow-up questions",
}


@dataclass(frozen=True, slots=True)
class SuggestionFeedback:
    """How one suggestion type fared on a track: offered, applied and dismissed counts."""

    type: str
    offered: int
    applied: int
    dismissed: int

    @property
    def applied_rate(self) -> float:
        return self.applied / self.offered if self.offered else 0.0

    @property
    def dismissed_rate(self) -> float:
        return self.dismissed / self.offered if self.offered else 0.0


def feedback_guidance(
    stats: Sequence[SuggestionFeedback], min_offered: int = MIN_OFFERED
) -> str | None:
    """A short paragraph for the system prompt, or None when there is too little history."""
    known = sorted(
        (s for s in stats if s.type in _NAMES and s.offered >= min_offered),
        key=lambda s: (-s.applied_rate, s.type),
    )
    if not known:
        return None
    lines = [
        f"   - {_NAMES[s.type]}: offered {s.offered}, applied {s.applied_rate:.0%}, "
        f"dismissed {s.dismissed_rate:.0%}"
        for s in known
    ]
    best, worst = known[0], max(known, key=lambda s: (s.dismissed_rate, s.type))
    advice = [f"Interviewers on this track act most on {_NAMES[best.type]}."]
    if worst.dismissed_rate >= 0.5:
        advice.append(
            f"They dismiss most {_NAMES[worst.type]}: offer fewer of them, and only when they "
            "are specific to what was just said."
        )
    return (
        "What interviewers did with earlier suggestions on this track:\n"
        + "\n".join(lines)
        + "\n   "
        + " ".join(advice)
    )
