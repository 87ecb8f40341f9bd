"""Suggestions of the offline analyzer, worded from what the features showed.

Three kinds, as in the design: hints for the AI persona (``context_injection``), a
difficulty raise when the call goes well (``curveball``, with a label) and questions for
the candidate (``followup_question``, "Ask: ..."). Priorities follow severity: the worse
the factor a suggestion targets, the higher its priority.
"""

from __future__ import annotations

from collections.abc import Mapping

from analysis.features import CallFeatures
from analysis.models import Priority, Suggestion
from analysis.rubrics import Rubric
from analysis.signals import blend_for

__all__ = ["priority_for", "suggest"]

# signal -> (persona hint, question for the candidate); sales wording, then interview wording.
_SALES_TEXT: Mapping[str, tuple[str, str]] = {
    "rapport": (
        "Mention that your team is stretched thin and see whether the candidate picks up "
        "on it before pitching.",
        "Ask: How is this affecting you and your team day to day?",
    ),
    "discovery": (
        "Hold back detail: only reveal your biggest pain, and what it costs, if the "
        "candidate asks an open question about it.",
        "Ask: What is this problem costing you today, in time or money?",
    ),
    "objection_handling": (
        "Raise a concern about implementation risk after a past tool that failed, and see "
        "whether the candidate explores it or brushes it off.",
        "Ask: Help me understand what's behind that concern?",
    ),
    "value_articulation": (
        "Ask the candidate how exactly this would pay for itself in your situation.",
        "Ask: If we fixed that, what would it be worth to you over the next year?",
    ),
    "closing_momentum": (
        "Mention that you are meeting another vendor next week and see whether the "
        "candidate proposes a concrete next step.",
        "Ask: Would it make sense to schedule a working session with your team next week?",
    ),
    "clarity": (
        "Interrupt politely and ask for the short version.",
        "Ask: Can I give you the short version first, then go deeper where it's useful?",
    ),
    "specificity": (
        "Ask for a concrete example with numbers from a similar customer.",
        "Ask: Can I walk you through a similar customer's numbers?",
    ),
}
_INTERVIEW_TEXT: Mapping[str, tuple[str, str]] = {
    "rapport": (
        "Share a small frustration with the current approach and see whether the candidate "
        "listens and adapts.",
        "Ask: Is this the level of detail you want, or should I go deeper somewhere?",
    ),
    "discovery": (
        "Leave a key constraint unstated: reveal it only if the candidate asks about "
        "requirements or success criteria.",
        "Ask: Before I go further, which constraints and success criteria matter most?",
    ),
    "objection_handling": (
        "Push back on the candidate's last answer and ask them to defend the trade-off.",
        "Ask: Which part of my approach worries you most?",
    ),
    "value_articulation": (
        "Ask the candidate why their approach is better than the simplest alternative.",
        "Ask: Which outcome or metric would tell us this approach is working?",
    ),
    "closing_momentum": (
        "Ask the candidate what they would do first tomorrow morning.",
        "Ask: Shall I summarise the plan and the first step I would take?",
    ),
    "clarity": (
        "Interrupt politely and ask for a two-sentence summary.",
        "Ask: Can I give you the short version first, then go deeper where it's useful?",
    ),
    "specificity": (
        "Ask for a concrete example with numbers: latency, cost, error rates or volume.",
        "Ask: Can I walk through a concrete example with real numbers?",
    ),
}
_EARN_NEXT_STEP = {
    True: "Ask: What would you need to see before we talk about next steps?",
    False: "Ask: What would you want me to clarify before we agree on a plan?",
}
_CURVEBALLS_SALES: Mapping[str, tuple[str, str]] = {
    "closing_momentum": (
        "Timeline Shift",
        "Say your CFO just asked to push any new spend to next quarter.",
    ),
    "objection_handling": (
        "Competitive Pressure",
        "Say a competitor just offered a similar solution for 20% less.",
    ),
    "default": (
        "New Stakeholder",
        "Say your head of IT will join and has doubts about security and integration.",
    ),
}
_CURVEBALLS_INTERVIEW: Mapping[str, tuple[str, str]] = {
    "specificity": (
        "Scale Shock",
        "Say the requirements just changed: the system must handle 10x the load.",
    ),
    "objection_handling": (
        "Failure Scenario",
        "Ask what happens when a key dependency fails in production at peak time.",
    ),
    "default": (
        "Changing Constraints",
        "Say the budget was just halved and ask what the candidate would cut.",
    ),
}


def priority_for(score: float) -> Priority:
    """Severity of a 0-100 factor score: <35 critical, <50 high, <70 medium, else low."""
    if score < 35:
        return "critical"
    if score < 50:
        return "high"
    if score < 70:
        return "medium"
    return "low"


def _evidence(signal: str, f: CallFeatures, persona: str) -> str:
    if signal == "rapport":
        return f"the candidate has {round(100 * f.talk_share)}% of the talk time"
    if signal == "discovery":
        return f"{f.open_questions} open questions in {f.candidate_turns} candidate turns"
    if signal == "objection_handling":
        return (
            f"{f.explored_objections + f.questioned_objections} of {f.objection_responses} "
            f"concerns explored, {f.dismissive} dismissive and {f.pressure} pushy turns"
        )
    if signal == "value_articulation":
        points = f.grounded_value_turns
        return f"{points} quantified value point{'s' * (points != 1)} tied to the {persona}'s words"
    if signal == "closing_momentum":
        if f.pressure:
            return f"{f.pressure} pushy turn{'s' * (f.pressure != 1)} so far"
        if f.concrete_next_steps:
            return f"{f.concrete_next_steps} concrete next step(s) so far"
        return "no concrete next step yet"
    if signal == "clarity":
        return f"longest candidate turn {f.longest_monologue} words"
    return f"{f.quantified_turns} candidate turns with numbers"


def _targets(signals: Mapping[str, float], factors: Mapping[str, int]) -> list[str]:
    """Signals behind the weakest factors, weakest first, without repeats."""
    out: list[str] = []
    for name, _score in sorted(factors.items(), key=lambda kv: (kv[1], kv[0])):
        blend = blend_for(name)
        signal = min(blend, key=lambda s: (signals[s], s))  # its weakest ingredient
        if signal not in out:
            out.append(signal)
    return out


def _soften(sales: bool, score: int) -> Suggestion:
    text = (
        "Soften slightly: restate your main concern plainly and give the candidate room to "
        "ask about it, so they have a clear opening to recover."
        if sales
        else "Soften slightly: offer a hint about the key constraint and give the candidate "
        "room to ask about it, so they can recover."
    )
    return Suggestion(
        type="context_injection", text=text, priority="critical" if score < 30 else "high"
    )


def _curveball(sales: bool, score: int, signals: Mapping[str, float]) -> Suggestion:
    curveballs = _CURVEBALLS_SALES if sales else _CURVEBALLS_INTERVIEW
    # Aim the challenge at what the candidate does best: that is where there is headroom
    # for a harder test without derailing the call.
    strongest = max(signals, key=lambda s: (signals[s], s))
    label, text = curveballs.get(strongest, curveballs["default"])
    rise: Priority = "high" if score >= 90 else "medium" if score >= 80 else "low"
    return Suggestion(type="curveball", text=text, priority=rise, label=label)


def suggest(
    f: CallFeatures,
    signals: Mapping[str, float],
    factors: Mapping[str, int],
    score: int,
    rubric: Rubric,
) -> list[Suggestion]:
    """2-4 suggestions for the interviewer, targeted at the weakest factors.

    Always one hint for the persona: a softer one when the call is red (help the
    candidate recover), otherwise one that probes the weakest area; plus a labelled
    curveball from 70 up (raise the difficulty), and one or two "Ask: ..." questions for
    the candidate aimed at the weakest factors.
    """
    sales = rubric.blueprint == "sales"
    persona = rubric.persona_label.lower()
    if f.candidate_turns == 0:
        return [
            Suggestion(
                type="context_injection",
                text="Invite the candidate in: ask what they would like to cover today.",
                priority="low",
            ),
            Suggestion(
                type="followup_question",
                text=(
                    "Ask: What prompted you to take this call today?"
                    if sales
                    else "Ask: What does success look like for this problem?"
                ),
                priority="medium",
            ),
        ]

    texts = _SALES_TEXT if sales else _INTERVIEW_TEXT
    targets = _targets(signals, factors)
    weakest = targets[0]
    out: list[Suggestion] = []
    if score < 50:
        out.append(_soften(sales, score))
    else:
        out.append(
            Suggestion(
                type="context_injection",
                text=texts[weakest][0],
                priority=priority_for(signals[weakest]),
            )
        )
        if score >= 70:
            out.append(_curveball(sales, score, signals))

    for i, signal in enumerate(targets[:2]):
        value = signals[signal]
        if i > 0 and value >= 70:
            break  # a second question only when that area needs it too
        question = texts[signal][1]
        if signal == "closing_momentum" and f.pressure:
            # Low momentum from pushing too hard: the fix is to earn the step, not to push.
            question = _EARN_NEXT_STEP[sales]
        out.append(
            Suggestion(
                type="followup_question",
                text=f"{question} ({_evidence(signal, f, persona)})",
                priority=priority_for(value),
            )
        )
    return out
