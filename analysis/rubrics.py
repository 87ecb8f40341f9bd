"""Track-specific rubrics: which factors the Say Meter breaks down into, per blueprint.

The design's prompt hard-codes the five sales factors. Engineering or HR interviews are
judged on different things, so the factor list (and its weights) is data: a
:class:`Rubric` per blueprint. The prompt, the strict JSON schema and the offline analyzer
are all generated from the rubric, so adding a track means adding one entry here.

Weights are relative (they are normalised by their sum) and can be overridden per job
profile with :func:`rubric_for`'s ``weight_overrides``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

__all__ = [
    "BLUEPRINTS",
    "DEFAULT_BLUEPRINT",
    "RUBRICS",
    "Factor",
    "Rubric",
    "canonical_blueprint",
    "rubric_for",
    "rubric_payload",
]

# Factor names become JSON object keys in the strict schema and in stored meter_factors.
_FACTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True, slots=True)
class Factor:
    """One scored dimension of a call (0-100), e.g. ``discovery``."""

    name: str
    label: str
    description: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Rubric:
    """How calls of one blueprint are scored, and how the prompt talks about them.

    ``coach``/``call``/``persona_label`` only shape wording: "You are an expert {coach}
    analyzing {call}", and the speaker label of the AI persona in the transcript.
    """

    blueprint: str
    title: str
    factors: tuple[Factor, ...]
    coach: str = "interview coach"
    call: str = "a live interview"
    persona_label: str = "Interviewer"
    excellent: str = "Excellent - clear, structured, well-reasoned answers"
    poor: str = "Poor - major red flags, losing the interviewer"

    def __post_init__(self) -> None:
        if not self.factors:
            raise ValueError(f"rubric {self.blueprint!r} has no factors")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise ValueError(f"rubric {self.blueprint!r} has duplicate factor names")
        for factor in self.factors:
            if not _FACTOR_NAME.match(factor.name):
                raise ValueError(f"invalid factor name {factor.name!r}")
            _check_weight(factor.name, factor.weight)
        if sum(f.weight for f in self.factors) <= 0:
            raise ValueError(f"rubric {self.blueprint!r} weights sum to zero")

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    def weighted_score(self, factors: Mapping[str, int]) -> int:
        """Combine per-factor scores (0-100) into one 0-100 score with this rubric's weights.

        Every rubric factor must be present; extra keys are ignored. Rounds half up so
        the result is stable across platforms (no banker's rounding surprises at x.5).
        """
        missing = [f.name for f in self.factors if f.name not in factors]
        if missing:
            raise ValueError(f"missing factor scores: {', '.join(missing)}")
        total_weight = sum(f.weight for f in self.factors)
        raw = sum(f.weight * _clamp(factors[f.name]) for f in self.factors) / total_weight
        return int(_clamp(math.floor(raw + 0.5)))

    def with_weights(self, weights: Mapping[str, float]) -> Rubric:
        """Return a copy with the named factors' weights replaced (unknown names raise)."""
        known = set(self.factor_names)
        unknown = sorted(set(weights) - known)
        if unknown:
            raise ValueError(
                f"unknown factor(s) for blueprint {self.blueprint!r}: {', '.join(unknown)}"
            )
        for name, weight in weights.items():
            _check_weight(name, weight)
        factors = tuple(
            replace(f, weight=float(weights[f.name])) if f.name in weights else f
            for f in self.factors
        )
        return replace(self, factors=factors)


def _check_weight(name: str, weight: float) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ValueError(f"weight for {name!r} must be a number")
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"weight for {name!r} must be a finite number >= 0")


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, float(value)))


_INTERVIEW = "interview coach"

_SALES = Rubric(
    blueprint="sales",
    title="Sales discovery call",
    coach="sales coach",
    call="a live discovery call",
    persona_label="Prospect",
    excellent="Excellent - strong rapport, great discovery, handling objections well",
    poor="Poor - major red flags, losing the prospect",
    factors=(
        Factor("rapport", "Rapport", "Relationship building, active listening, empathy"),
        Factor("discovery", "Discovery", "Asking good questions, uncovering pain points"),
        Factor("objection_handling", "Objection Handling", "Addressing concerns effectively"),
        Factor(
            "value_articulation",
            "Value Articulation",
            "Clearly communicating value proposition",
        ),
        Factor("closing_momentum", "Closing Momentum", "Moving toward next steps"),
    ),
)

_AGENTIC_ENG = Rubric(
    blueprint="agentic_eng",
    title="Agentic engineering interview",
    coach=_INTERVIEW,
    call="a live agentic engineering interview",
    excellent="Excellent - frames the problem, designs a sound agent system, reasons about "
    "tools and evaluation",
    factors=(
        Factor(
            "problem_framing",
            "Problem Framing",
            "Clarifying goals, constraints and success criteria before building",
            1.0,
        ),
        Factor(
            "system_design",
            "System Design",
            "Sound architecture for agents: state, memory, orchestration, failure modes",
            1.25,
        ),
        Factor(
            "tool_use_reasoning",
            "Tool Use Reasoning",
            "When and how the agent calls tools, guards side effects, handles errors",
            1.0,
        ),
        Factor(
            "evaluation_rigor",
            "Evaluation Rigor",
            "Measuring quality: evals, metrics, test sets, regression checks",
            1.0,
        ),
        Factor(
            "communication",
            "Communication",
            "Concise, structured explanations; listens and adapts to the interviewer",
            0.75,
        ),
    ),
)

_FULLSTACK = Rubric(
    blueprint="fullstack",
    title="Full-stack engineering interview",
    coach=_INTERVIEW,
    call="a live full-stack engineering interview",
    factors=(
        Factor(
            "requirements_clarification",
            "Requirements Clarification",
            "Asking about users, scale and constraints before designing",
        ),
        Factor(
            "architecture",
            "Architecture",
            "Coherent frontend/backend/data design with justified trade-offs",
            1.25,
        ),
        Factor(
            "implementation_depth",
            "Implementation Depth",
            "Concrete, correct detail: APIs, data models, performance, security",
            1.25,
        ),
        Factor(
            "debugging_and_testing",
            "Debugging & Testing",
            "Testing strategy, observability, systematic debugging",
        ),
        Factor(
            "communication",
            "Communication",
            "Clear, concise explanations; checks understanding",
            0.75,
        ),
    ),
)

_MARKETING = Rubric(
    blueprint="marketing",
    title="Marketing interview",
    coach="marketing interview coach",
    call="a live marketing interview",
    factors=(
        Factor(
            "audience_insight",
            "Audience Insight",
            "Understanding the customer, segments and their pains",
        ),
        Factor(
            "positioning",
            "Positioning",
            "A crisp value proposition and differentiation",
            1.25,
        ),
        Factor(
            "channel_strategy",
            "Channel Strategy",
            "Choosing channels and plans that fit audience and budget",
        ),
        Factor(
            "measurement",
            "Measurement",
            "Goals, KPIs and attribution; learning from data",
        ),
        Factor(
            "storytelling",
            "Storytelling",
            "Engaging, concise communication that adapts to the listener",
        ),
    ),
)

_IMPLEMENTATION = Rubric(
    blueprint="implementation",
    title="Implementation / onboarding consultant interview",
    coach="customer implementation coach",
    call="a live customer implementation call",
    persona_label="Customer",
    poor="Poor - major red flags, losing the customer's confidence",
    factors=(
        Factor(
            "customer_rapport",
            "Customer Rapport",
            "Trust, empathy and active listening with the customer",
        ),
        Factor(
            "requirements_discovery",
            "Requirements Discovery",
            "Uncovering current process, systems, constraints and goals",
            1.25,
        ),
        Factor(
            "solution_planning",
            "Solution Planning",
            "A concrete, phased plan that maps to the customer's outcomes",
        ),
        Factor(
            "risk_handling",
            "Risk Handling",
            "Surfacing and addressing concerns, risks and blockers",
        ),
        Factor(
            "next_steps_ownership",
            "Next-Steps Ownership",
            "Clear owners, dates and follow-ups",
        ),
    ),
)

_HR = Rubric(
    blueprint="HR",
    title="HR interview",
    coach="HR interview coach",
    call="a live HR conversation",
    persona_label="Employee",
    poor="Poor - major red flags, losing the employee's trust",
    factors=(
        Factor("empathy", "Empathy", "Acknowledging feelings, building trust"),
        Factor(
            "active_listening",
            "Active Listening",
            "Letting the other person talk, reflecting back what was said",
        ),
        Factor(
            "probing_questions",
            "Probing Questions",
            "Open questions that uncover the real issue",
        ),
        Factor(
            "fairness_and_policy",
            "Fairness & Policy",
            "Balanced, policy-aware handling of concerns without dismissing them",
        ),
        Factor(
            "resolution_planning",
            "Resolution Planning",
            "Agreeing concrete next steps and follow-up",
        ),
    ),
)

_SECURITY = Rubric(
    blueprint="security",
    title="Security engineering interview",
    coach="security interview coach",
    call="a live security engineering interview",
    factors=(
        Factor(
            "threat_modeling",
            "Threat Modeling",
            "Identifying assets, attackers and attack surface before solutions",
            1.25,
        ),
        Factor(
            "technical_depth",
            "Technical Depth",
            "Correct, specific controls and mitigations",
            1.25,
        ),
        Factor(
            "risk_communication",
            "Risk Communication",
            "Explaining impact and trade-offs to non-specialists",
        ),
        Factor(
            "incident_reasoning",
            "Incident Reasoning",
            "Handling pushback and incidents calmly and systematically",
        ),
        Factor(
            "stakeholder_alignment",
            "Stakeholder Alignment",
            "Driving to agreed remediation steps and owners",
        ),
    ),
)

RUBRICS: Mapping[str, Rubric] = MappingProxyType(
    {
        r.blueprint: r
        for r in (_SALES, _AGENTIC_ENG, _FULLSTACK, _MARKETING, _IMPLEMENTATION, _HR, _SECURITY)
    }
)
"""The built-in rubric of each blueprint (the personas table's blueprint values)."""

BLUEPRINTS: tuple[str, ...] = tuple(RUBRICS)
DEFAULT_BLUEPRINT = "sales"

_BY_LOWER = {name.lower(): name for name in RUBRICS}


def _resolve(blueprint: str) -> str | None:
    return _BY_LOWER.get(blueprint.strip().lower())


def canonical_blueprint(blueprint: str) -> str:
    """The one spelling of a blueprint named in any case; ValueError for an unknown one."""
    name = _resolve(blueprint)
    if name is None:
        raise ValueError(f"unknown blueprint; one of: {', '.join(BLUEPRINTS)}")
    return name


def rubric_payload(rubric: Rubric) -> dict[str, object]:
    """The rubric as panels show it (the snapshot's `session.rubric`, the `analysis` event)."""
    return {
        "blueprint": rubric.blueprint,
        "title": rubric.title,
        "factors": [{"name": f.name, "label": f.label, "weight": f.weight} for f in rubric.factors],
    }


def rubric_for(
    blueprint: str,
    weight_overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> Rubric:
    """The rubric for ``blueprint`` (case-insensitive), with optional weight overrides.

    An unknown blueprint falls back to sales: the design's original behaviour, and a live
    call should still get a meter rather than an error. ``weight_overrides`` maps
    blueprint -> {factor: weight}; *every* entry is validated (not only the one used) so a
    typo in configuration fails at startup instead of silently on one track.
    """
    if weight_overrides:
        for key, weights in weight_overrides.items():
            resolved_key = _resolve(key)
            if resolved_key is None:
                raise ValueError(f"weight override for unknown blueprint {key!r}")
            RUBRICS[resolved_key].with_weights(weights)

    name = _resolve(blueprint) or DEFAULT_BLUEPRINT
    rubric = RUBRICS[name]
    if weight_overrides:
        for key, weights in weight_overrides.items():
            if _resolve(key) == name:
                rubric = rubric.with_weights(weights)
    return rubric
