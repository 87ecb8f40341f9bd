"""From perceived messages to rubric factors: the semantic analyzer's arithmetic.

Every factor is a recipe in its blueprint's JSON file: weighted *components* (0-1 each:
"concerns handled", "an accepted next step", "open questions", "the persona's mood", or a
behaviour such as "technical depth" counted against a target) minus *penalties* (points per
occurrence of pitching, dismissing, pressure, leading or rapid-fire questions...).

The rules a coach would insist on are here, in code:

* a next step earns credit only when the persona accepts it; proposing again right after a
  refusal is pushing;
* a concern counts as handled only when the reply acknowledges it, explores it, or answers
  its substance (and does not dismiss, argue or pressure); an unanswered one counts zero;
* talk share is judged against the blueprint's norm (an interview is not a sales call).

Pure arithmetic over :class:`~analysis.perception.Perceived`; cheap enough to re-run with one
message left out, which is how the reasoning finds the moments that moved the score most.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from analysis.perception import HARMFUL, Blueprint, Perceived, acknowledges
from analysis.rubrics import Rubric

__all__ = ["Concern", "Evaluation", "NextStep", "evaluate"]

CONFIDENT_TURNS = 4
# Behaviours that do not answer a concern by themselves.
_NOT_AN_ANSWER = frozenset({"empathy", "reflect", "next_step", "neutral"})
_NEUTRAL_CONCERNS = 0.55  # no concern raised yet: neither good nor bad
_NO_NEXT_STEP = 0.2
_MAX_PENALTY = 45.0


def _ramp(value: float, zero_at: float, full_at: float) -> float:
    t = (value - zero_at) / (full_at - zero_at)
    return min(1.0, max(0.0, t))


def _cos(a: Perceived, b: Perceived) -> float:
    if not len(a.vectors) or not len(b.vectors):
        return 0.0
    return float(np.max(a.vectors @ b.vectors.T))


@dataclass(frozen=True, slots=True)
class Concern:
    """A concern the persona raised, and how well the next candidate turn dealt with it."""

    persona: int  # message index
    reply: int | None
    handled: float  # 0-1; 0 when unanswered or brushed off


@dataclass(frozen=True, slots=True)
class NextStep:
    """A next step the candidate proposed and what the persona said to it."""

    proposal: int
    answer: int | None
    outcome: str  # accepted, refused, unclear, pending
    dated: bool
    weight: float = 1.0  # how clearly the message proposed a step (0-1)


@dataclass(slots=True)
class Evaluation:
    """Factor scores plus the facts behind them (for the reasoning and the suggestions)."""

    factors: dict[str, int]
    components: dict[str, float]
    penalties: dict[str, float]
    concerns: list[Concern] = field(default_factory=list)
    next_steps: list[NextStep] = field(default_factory=list)
    talk_share: float = 0.5
    longest_turn: int = 0
    candidate_turns: int = 0
    persona_turns: int = 0


def _strength(m: Perceived, name: str) -> float:
    return m.strengths.get(name, 0.0)


def _harm(m: Perceived) -> float:
    return max((_strength(m, name) for name in HARMFUL), default=0.0)


def _next(messages: Sequence[Perceived], start: int, role: str) -> Perceived | None:
    for m in messages[start + 1 :]:
        if m.role == role:
            return m
    return None


def _is_concern(m: Perceived) -> bool:
    return max(_strength(m, "concern"), 0.7 * _strength(m, "disengages")) >= 0.5


def _handled(concern: Perceived, reply: Perceived, after: Perceived | None) -> float:
    acknowledged = max(_strength(reply, "empathy"), _strength(reply, "reflect"))
    explored = 1.0 if any(k == "open" for k in reply.questions) else 0.0
    if "closed" in reply.questions or "offer" in reply.questions:
        explored = max(explored, 0.5)
    # Answering the substance: close in meaning to the concern, or a concrete, relevant move
    # of the track (value tied to their situation, a specific control, a phased plan...).
    substance = _ramp(_cos(concern, reply), 0.2, 0.45)
    concrete = max(
        (v for k, v in reply.strengths.items() if k not in HARMFUL and k not in _NOT_AN_ANSWER),
        default=0.0,
    )
    substance = max(substance, 0.8 * concrete)
    if _strength(concern, "disengages") >= 0.5 and _strength(concern, "concern") < 0.5:
        substance = 0.0  # someone leaving is not answered by more content
    base = min(1.0, 0.35 * acknowledged + 0.25 * explored + 0.5 * substance)
    bad = max(
        _strength(reply, "dismiss"),
        _strength(reply, "argue"),
        _strength(reply, "pressure"),
        _strength(reply, "deflect"),
        0.6 * _strength(reply, "pitch"),
        0.6 * _strength(reply, "blame"),
    )
    handled = base * (1.0 - bad)
    if after is not None:
        warmed = max(_strength(after, "positive"), _strength(after, "accepts"))
        cooled = max(_strength(after, "disengages"), _strength(after, "refuses") - warmed)
        if _is_concern(after) and _cos(after, concern) > 0.5:
            cooled = max(cooled, 0.7)  # the same concern again: it was not answered
        handled += 0.25 * warmed - 0.3 * cooled
    return min(1.0, max(0.0, handled))


def _concerns(messages: Sequence[Perceived]) -> list[Concern]:
    out: list[Concern] = []
    for m in messages:
        if m.role != "assistant" or not _is_concern(m):
            continue
        reply = _next(messages, m.index, "user")
        if reply is None:
            continue  # pending: the candidate has not answered yet
        after = _next(messages, reply.index, "assistant")
        out.append(Concern(m.index, reply.index, _handled(m, reply, after)))
    return out


def _proposal(m: Perceived) -> float:
    """How clearly ``m`` proposes a next step, 0-1 (soft, so a borderline wording moves the
    score a little rather than flipping closing credit on or off)."""
    step = _strength(m, "next_step") + 0.5 * _strength(m, "ownership")
    return _ramp(step + (0.25 if m.dated else 0.0), 0.35, 0.75)


def _next_steps(messages: Sequence[Perceived]) -> tuple[list[NextStep], int]:
    steps: list[NextStep] = []
    pushed = 0
    refused_last = False
    for m in messages:
        if m.role == "assistant":
            # The persona proposing a dated step itself ("let's meet Thursday") also counts.
            if m.dated and _strength(m, "accepts") >= 0.6 and not steps:
                steps.append(NextStep(m.index, m.index, "accepted", True))
            continue
        weight = _proposal(m)
        if weight < 0.1:
            if _strength(m, "pressure") >= 0.5 and refused_last:
                pushed += 1
            continue
        if refused_last and weight >= 0.5:
            pushed += 1
        answer = _next(messages, m.index, "assistant")
        if answer is None:
            steps.append(NextStep(m.index, None, "pending", m.dated, weight))
            continue
        yes = _strength(answer, "accepts") + 0.3 * _strength(answer, "positive")
        no = max(_strength(answer, "refuses"), _strength(answer, "disengages"))
        if answer.dated and no < 0.4:
            yes = max(yes, 0.7)  # naming a time without a "no" is taking the step
        elif acknowledges(answer) and no < 0.4:
            yes = max(yes, 0.5)  # "Okay. And the rota thing?" goes along with it
        outcome = "accepted" if yes >= 0.45 and yes >= no else "refused" if no >= 0.4 else "unclear"
        refused_last = outcome == "refused" and weight >= 0.5
        steps.append(NextStep(m.index, answer.index, outcome, m.dated or answer.dated, weight))
    return steps, pushed


def _next_step_credit(steps: Sequence[NextStep]) -> float:
    credit = {"accepted": 0.8, "unclear": 0.3, "pending": 0.35, "refused": 0.0}
    best = _NO_NEXT_STEP
    for s in steps:
        value = credit[s.outcome] + (0.2 if s.dated and s.outcome == "accepted" else 0.0)
        best = max(best, _NO_NEXT_STEP + s.weight * (value - _NO_NEXT_STEP))
    if steps and steps[-1].outcome == "refused" and steps[-1].weight >= 0.5:
        best = min(best, 0.15)  # the call ended on a "no"
    return best


def _mood(messages: Sequence[Perceived], persona: Sequence[Perceived], answers: set[int]) -> float:
    """The persona's reactions, later ones weighing more. A "no" counts as declining only when
    it answers a proposal ("we can't add a datastore" is a constraint, not a rebuff)."""
    if not persona:
        return 0.5
    good = bad = 0.0
    n = len(messages)
    for m in persona:
        weight = 0.6 + 0.8 * (m.index + 1) / n  # how the call ends matters more
        declined = _strength(m, "refuses") if m.index in answers else 0.0
        before = messages[m.index - 1] if m.index > 0 else None
        # Agreeing with a leading question ("That's a big win for you, right?" "I suppose")
        # is the candidate's words in the persona's mouth, not buy-in.
        led = 0.4 if before is not None and "leading" in before.questions else 1.0
        good += weight * led * max(_strength(m, "positive"), _strength(m, "accepts"))
        bad += weight * max(
            _strength(m, "disengages"),
            0.8 * declined,
            0.35 * _strength(m, "concern"),
        )
    return _ramp((good + 0.5) / (good + bad + 1.0), 0.2, 0.8)


def _talk_fit(share: float, norm: Mapping[str, float]) -> float:
    if share < norm["ideal_low"]:
        return _ramp(share, norm["low"], norm["ideal_low"])
    return _ramp(share, norm["high"], norm["ideal_high"])


def evaluate(messages: Sequence[Perceived], blueprint: Blueprint, rubric: Rubric) -> Evaluation:
    """Score ``messages`` (one window) with ``blueprint``'s recipes for ``rubric``'s factors."""
    candidate = [m for m in messages if m.role == "user"]
    persona = [m for m in messages if m.role == "assistant"]
    cand_words = sum(m.words for m in candidate)
    all_words = cand_words + sum(m.words for m in persona)
    share = cand_words / all_words if all_words else 0.5
    longest = max((m.words for m in candidate), default=0)
    turns = len(candidate)

    concerns = _concerns(messages)
    steps, pushed = _next_steps(messages)
    mono = blueprint.monologue_words

    # Questions: credit open ones (at most two per turn), count leading and rapid-fire turns.
    open_q = sum(min(2, m.questions.count("open")) for m in candidate)
    leading = sum(m.questions.count("leading") for m in candidate)
    rapid = sum(1 for m in candidate if len(m.questions) >= 3)
    open_target = max(2.0, 0.3 * turns)

    # Answering what was asked: each persona question against the reply that follows it.
    answered: list[float] = []
    for m in persona:
        if m.text.rstrip().endswith("?"):
            reply = _next(messages, m.index, "user")
            if reply is not None:
                # Close in meaning, or concrete on the track's subject: a terse precise
                # answer ("a unique key on the idempotency token") shares few words with
                # the question but answers it.
                answered.append(max(_ramp(_cos(m, reply), 0.15, 0.5), reply.specific))
    components: dict[str, float] = {
        "answers": sum(answered) / len(answered) if answered else 0.5,
        # Concrete content in most turns, not one good answer among vague ones.
        "specific": min(1.0, sum(m.specific for m in candidate) / max(3.0, 0.7 * turns)),
        "listening": _talk_fit(share, blueprint.talk_share)
        * (1 - 0.5 * _ramp(longest, mono, 2 * mono)),
        "concise": 1.0 - _ramp(longest, 0.7 * mono, 1.6 * mono),
        "open_questions": min(1.0, open_q / open_target),
        "concerns_handled": (
            sum(c.handled for c in concerns) / len(concerns) if concerns else _NEUTRAL_CONCERNS
        ),
        "next_step": _next_step_credit(steps),
        "mood": _mood(
            messages, persona, {s.answer for s in steps if s.answer is not None and s.weight >= 0.3}
        ),
    }
    behaviour_totals: dict[str, float] = {}
    targets = {b.name: b.target for b in blueprint.candidate.behaviours}
    for name in targets:
        # Weak hints do not add up to a behaviour: only clear evidence counts; and warm words
        # wrapped around a brush-off in the same turn are not empathy.
        behaviour_totals[name] = sum(
            min(1.0, max(0.0, _strength(m, name) - 0.15) / 0.6)
            * (1.0 - _harm(m) if name in ("empathy", "reflect") else 1.0)
            for m in candidate
        )
    components["empathy"] = min(
        1.0, (behaviour_totals.get("empathy", 0) + behaviour_totals.get("reflect", 0)) / 2.0
    )
    components["reflect"] = min(1.0, behaviour_totals.get("reflect", 0) / 1.5)
    for name, total in behaviour_totals.items():
        components.setdefault(name, min(1.0, total / targets[name]))

    # Harmful behaviours count only when clearly there: a polite proposal sits near "pressure".
    penalties: dict[str, float] = {
        name: sum(_ramp(_strength(m, name), 0.4, 0.9) for m in candidate)
        for name in ("dismiss", "pressure", "argue", "deflect", "pitch", "handwave", "blame",
                     "buzzwords", "overpromise")
    }  # fmt: skip
    penalties["leading"] = float(leading)
    penalties["rapid_fire"] = float(rapid)
    penalties["monologue"] = sum(_ramp(m.words, mono, 1.6 * mono) for m in candidate)
    penalties["pushed_after_refusal"] = float(pushed)

    confidence = min(1.0, turns / CONFIDENT_TURNS)
    factors: dict[str, int] = {}
    for factor in rubric.factors:
        recipe = blueprint.factors.get(factor.name) or _default_recipe()
        parts: Mapping[str, float] = recipe["components"]
        total = sum(parts.values())
        value = 100 * sum(w * components.get(c, 0.0) for c, w in parts.items()) / total
        # Diminishing: the third dismissal hurts less than the first (it is already counted).
        penalty = sum(
            0.6 * p * penalties.get(n, 0.0) ** 0.7 for n, p in recipe.get("penalties", {}).items()
        )
        value -= min(_MAX_PENALTY, penalty)
        value = _calibrate(min(100.0, max(0.0, value)))
        value = 50 + (value - 50) * confidence
        factors[factor.name] = int(min(100.0, max(0.0, value)) + 0.5)
    return Evaluation(
        factors=factors,
        components=components,
        penalties=penalties,
        concerns=concerns,
        next_steps=steps,
        talk_share=share,
        longest_turn=longest,
        candidate_turns=turns,
        persona_turns=len(persona),
    )


# The recipes' raw 0-100 is compressed (few windows show every good behaviour, or none);
# this monotonic curve spreads it onto the meter's bands (red < 50 <= yellow < 80 <= green).
# It never changes the order of two calls; its knots were set once on the development set.
_CURVE = ((0.0, 0.0), (30.0, 23.0), (40.0, 58.0), (52.0, 86.0), (75.0, 97.0), (100.0, 100.0))


def _calibrate(raw: float) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(_CURVE):
        if raw <= x1:
            return y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    return 100.0


def _default_recipe() -> dict[str, dict[str, float]]:
    """A custom factor without a recipe: the general conversational signals."""
    return {
        "components": {"mood": 1.0, "listening": 0.6, "concerns_handled": 0.8, "empathy": 0.4},
        "penalties": {"dismiss": 10, "argue": 10, "pressure": 6},
    }
