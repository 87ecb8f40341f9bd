"""Signals: the offline analyzer's 0-100 reading of a window, and how factors blend them.

Seven signals come from :class:`~analysis.features.CallFeatures`: the design's five sales
factors plus ``clarity`` and ``specificity``. Each is a share of good practice mapped to
20-100, minus penalties (pressure, dismissing concerns) that alone can push it to 0, and
shrunk towards 50 when the window holds too few candidate turns to judge.

Every rubric factor is a fixed blend of signals (:data:`FACTOR_SIGNALS`), so all tracks
are scored from the same evidence and a new track only needs a row per factor here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from analysis.features import CallFeatures
from analysis.rubrics import Rubric

__all__ = [
    "CONFIDENT_TURNS",
    "FACTOR_SIGNALS",
    "SIGNAL_NAMES",
    "blend_for",
    "factor_scores",
    "signals",
]

SIGNAL_NAMES = (
    "rapport",
    "discovery",
    "objection_handling",
    "value_articulation",
    "closing_momentum",
    "clarity",
    "specificity",
)

# How each rubric factor is read from the signals. Factors not listed (custom rubrics)
# use the mean of the five conversational signals.
FACTOR_SIGNALS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        # sales: the design's five factors are signals themselves
        "rapport": {"rapport": 1.0},
        "discovery": {"discovery": 1.0},
        "objection_handling": {"objection_handling": 1.0},
        "value_articulation": {"value_articulation": 1.0},
        "closing_momentum": {"closing_momentum": 1.0},
        # agentic_eng
        "problem_framing": {"discovery": 0.7, "clarity": 0.3},
        "system_design": {"specificity": 0.4, "clarity": 0.3, "value_articulation": 0.3},
        "tool_use_reasoning": {"objection_handling": 0.4, "specificity": 0.3, "clarity": 0.3},
        "evaluation_rigor": {"specificity": 0.6, "discovery": 0.4},
        "communication": {"clarity": 0.5, "rapport": 0.5},
        # fullstack
        "requirements_clarification": {"discovery": 0.8, "rapport": 0.2},
        "architecture": {"specificity": 0.4, "value_articulation": 0.3, "clarity": 0.3},
        "implementation_depth": {"specificity": 0.6, "clarity": 0.4},
        "debugging_and_testing": {
            "specificity": 0.4,
            "objection_handling": 0.3,
            "discovery": 0.3,
        },
        # marketing
        "audience_insight": {"discovery": 0.7, "rapport": 0.3},
        "positioning": {"value_articulation": 0.7, "clarity": 0.3},
        "channel_strategy": {"value_articulation": 0.4, "specificity": 0.3, "discovery": 0.3},
        "measurement": {"specificity": 0.7, "value_articulation": 0.3},
        "storytelling": {"clarity": 0.5, "rapport": 0.5},
        # implementation
        "customer_rapport": {"rapport": 1.0},
        "requirements_discovery": {"discovery": 1.0},
        "solution_planning": {"value_articulation": 0.5, "specificity": 0.5},
        "risk_handling": {"objection_handling": 1.0},
        "next_steps_ownership": {"closing_momentum": 1.0},
        # HR
        "empathy": {"rapport": 0.7, "objection_handling": 0.3},
        "active_listening": {"rapport": 0.6, "clarity": 0.4},
        "probing_questions": {"discovery": 1.0},
        "fairness_and_policy": {"objection_handling": 0.7, "rapport": 0.3},
        "resolution_planning": {"closing_momentum": 1.0},
        # security
        "threat_modeling": {"discovery": 0.6, "specificity": 0.4},
        "technical_depth": {"specificity": 0.6, "clarity": 0.4},
        "risk_communication": {"value_articulation": 0.5, "clarity": 0.5},
        "incident_reasoning": {"objection_handling": 0.6, "clarity": 0.4},
        "stakeholder_alignment": {"closing_momentum": 0.6, "rapport": 0.4},
    }
)
_DEFAULT_BLEND = {name: 0.2 for name in SIGNAL_NAMES[:5]}

# Below this many candidate turns the evidence is thin: signals are pulled towards 50.
CONFIDENT_TURNS = 4


def _ramp(value: float, zero_at: float, full_at: float) -> float:
    """0 at ``zero_at``, 1 at ``full_at``, linear in between (either direction)."""
    t = (value - zero_at) / (full_at - zero_at)
    return min(1.0, max(0.0, t))


def _ratio(count: float, per: float) -> float:
    return min(1.0, count / per) if per > 0 else 0.0


def _credit(share: float) -> float:
    """Map a 0-1 share of good practice to 20-100 before penalties.

    Taking part in a conversation earns the floor; only the penalties (pressure,
    dismissing concerns) push a signal towards 0, so "adequate" calls land in the
    design's yellow band rather than red.
    """
    return 20 + 80 * share


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def signals(f: CallFeatures) -> dict[str, float]:
    """The seven 0-100 signals for one window's features (see the module docstring)."""
    turns = max(1, f.candidate_turns)
    balance = _ramp(f.talk_share, 0.85, 0.5)  # full marks up to 50% of the words
    empathy = _ratio(f.acknowledge_turns + f.reflections, max(2.0, 0.4 * turns))
    mood = (f.persona_positive + 1) / (f.persona_positive + f.persona_negative + 2)
    rapport = _credit(0.35 * balance + 0.35 * empathy + 0.30 * mood)
    rapport -= min(45, 8 * f.dismissive + 4 * f.pressure)

    asking = _ramp(f.question_turn_rate, 0.1, 0.6)
    open_ = _ratio(f.open_questions, max(1.5, 0.35 * turns))
    pain = _ratio(f.pain_explored, max(1.5, 0.3 * turns))
    discovery = _credit(0.4 * asking + 0.35 * open_ + 0.25 * pain)

    if f.objection_responses:
        handled = (
            f.explored_objections + 0.5 * f.questioned_objections + 0.4 * f.acknowledged_objections
        ) / f.objection_responses
    else:
        handled = 0.6  # nothing raised yet: neither good nor bad
    objection = _credit(min(1.0, handled / 0.7))
    objection -= min(60, 12 * f.dismissive + 6 * f.pressure)

    grounded = _ratio(f.grounded_value_turns, max(1.5, 0.2 * turns))
    quantified = _ratio(f.quantified_turns, max(1.0, 0.3 * turns))
    value = _credit(0.5 * grounded + 0.3 * _ratio(f.value_terms, 3) + 0.2 * quantified)
    value -= 20 * _ramp(f.longest_monologue, 80, 160) + 20 * _ramp(f.talk_share, 0.6, 0.9)
    value -= 2 * f.pressure

    closing = _credit(
        0.25 * _ratio(f.qualification_questions, 2)
        + 0.2 * _ratio(f.next_steps, 2)
        + 0.3 * _ratio(f.concrete_next_steps, 1)
        + 0.25 * _ratio(f.next_step_questions, 1)
    )
    closing -= min(30, 8 * f.vague_next_steps) + min(50, 5 * f.pressure)

    concise = _ramp(f.longest_monologue, 160, 60)
    clarity = 100 * (0.5 * concise + 0.5 * balance) - 10 * f.monologue_turns
    specificity = 100 * (0.5 * quantified + 0.5 * grounded)

    raw = {
        "rapport": rapport,
        "discovery": discovery,
        "objection_handling": objection,
        "value_articulation": value,
        "closing_momentum": closing,
        "clarity": clarity,
        "specificity": specificity,
    }
    confidence = min(1.0, f.candidate_turns / CONFIDENT_TURNS)
    return {name: _clamp(50 + (v - 50) * confidence) for name, v in raw.items()}


def blend_for(factor: str) -> Mapping[str, float]:
    """The signal blend of ``factor`` (custom factors: the five conversational signals)."""
    return FACTOR_SIGNALS.get(factor, _DEFAULT_BLEND)


def factor_scores(signal_values: Mapping[str, float], rubric: Rubric) -> dict[str, int]:
    """Each rubric factor's 0-100 score as a blend of signals."""
    scores: dict[str, int] = {}
    for factor in rubric.factors:
        blend = blend_for(factor.name)
        value = sum(w * signal_values[s] for s, w in blend.items()) / sum(blend.values())
        scores[factor.name] = int(_clamp(value) + 0.5)
    return scores
