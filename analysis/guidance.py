"""Suggestions of the semantic analyzer: each answers something that happened in this call.

Every suggestion carries ``responds_to`` (the concern or line it answers, quoted briefly)
and ``intent``, a stable key of kind + what it answers (``followup:concern:<words>``), so a
session can drop a suggestion it already offered for the same moment however it is worded.

Priorities are honest: ``critical`` only when the call is being lost right now (the persona
is disengaging or was pushed after saying no, and the score is red), at most one per
analysis; an open concern or a refused next step is ``high``; a weak area is ``medium``;
curveballs for a call that goes well are ``low``/``medium``. Each track has its own
persona hints and curveballs (an HR conversation never gets a production outage).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from analysis.behaviour_score import Evaluation
from analysis.models import MAX_RESPONDS_TO_CHARS, Priority, Suggestion
from analysis.perception import Blueprint, Perceived
from analysis.rubrics import Rubric

__all__ = ["CURVEBALLS", "FACTOR_QUESTIONS", "suggest"]

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "i i'm im a an the and or but so to of in on for with it its this that is are was be we "
    "you your our my me they them do does did not no just really very about what how why "
    "would could can will have has had there here then than if as at by from".split()
)

# Track -> curveballs (label, text): a harder test once the call goes well.
CURVEBALLS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "sales": (
        (
            "Budget Freeze",
            "Say finance just froze new spend until next quarter; see whether the "
            "candidate finds a smaller first step.",
        ),
        (
            "Competitor Offer",
            "Say a competitor offered something similar for 20% less and ask "
            "why you should pay more.",
        ),
        (
            "New Stakeholder",
            "Say your head of IT will join the decision and has doubts about "
            "security and integration.",
        ),
    ),
    "agentic_eng": (
        (
            "Tool Outage",
            "Say the payments tool the agent calls starts timing out for a third of "
            "requests; ask what the agent should do.",
        ),
        (
            "Prompt Injection",
            "Say a retrieved document contains instructions to email customer "
            "data; ask how the design stops it.",
        ),
        ("Cost Cap", "Say the budget is now one cent per task; ask what changes in the design."),
    ),
    "fullstack": (
        (
            "Traffic Spike",
            "Say a launch brings ten times the usual traffic tomorrow; ask what "
            "breaks first and what they would change.",
        ),
        (
            "Flaky Dependency",
            "Say the third-party payment API fails one request in twenty; ask "
            "how the checkout stays correct.",
        ),
        (
            "Mobile First",
            "Say most users are now on slow mobile connections; ask what they would "
            "change in the frontend.",
        ),
    ),
    "security": (
        (
            "Active Breach",
            "Say an attacker is in the admin panel right now; ask for the first "
            "three things they would do.",
        ),
        (
            "Insider Signal",
            "Say the suspicious logins come from an employee's account; ask how "
            "they proceed fairly and safely.",
        ),
        (
            "Audit Deadline",
            "Say an auditor needs evidence of the fix by Friday; ask how they prioritise.",
        ),
    ),
    "HR": (
        (
            "Second Complaint",
            "Mention that a colleague has raised a similar complaint about the "
            "same manager; see how the candidate handles fairness to both sides.",
        ),
        (
            "Anonymity Request",
            "Ask that nothing you said be shared with your manager; see "
            "whether the candidate is honest about what can stay confidential.",
        ),
        (
            "Considering Leaving",
            "Mention you have an offer from another company; see whether the "
            "candidate explores what would make you stay without pressure.",
        ),
    ),
    "marketing": (
        (
            "Budget Halved",
            "Say the marketing budget was just halved; ask what they would cut and why.",
        ),
        (
            "Competitor Launch",
            "Say a competitor launched a cheaper product with the same "
            "message yesterday; ask how the positioning changes.",
        ),
        (
            "Campaign Flop",
            "Say the first campaign brought clicks but no sign-ups; ask how they "
            "would find out why.",
        ),
    ),
    "implementation": (
        (
            "Dirty Data",
            "Say the test import showed a third of the customer records are "
            "duplicates; see how the candidate adjusts the plan.",
        ),
        (
            "Key User Leaves",
            "Say the person who knows the old system is leaving next month; see "
            "how the candidate protects the rollout.",
        ),
        (
            "Deadline Moved",
            "Say leadership moved go-live two weeks earlier; ask what the "
            "candidate would cut or phase.",
        ),
    ),
}

# Track -> persona hint when the candidate is not exploring enough (the persona holds back).
_WITHHOLD: Mapping[str, str] = {
    "sales": "Hold back what the problem costs you; reveal it only if the candidate asks an open "
    "question about impact.",
    "HR": "Hold back the part that upsets you most; share it only if the candidate asks an open, "
    "non-judgemental question.",
    "implementation": "Keep quiet about the legacy system everyone works around; mention it only "
    "if asked how things work today.",
    "marketing": "Do not volunteer who the customer is; reveal it only if the candidate asks.",
    "security": "Do not volunteer which data is most sensitive; reveal it only if the candidate "
    "asks what is at stake.",
    "agentic_eng": "Do not volunteer the latency budget; reveal it only if the candidate asks "
    "about constraints.",
    "fullstack": "Do not volunteer the expected traffic; reveal it only if the candidate asks "
    "about scale.",
}

# Factor -> question for the candidate to ask or answer next (no counts, no templates).
FACTOR_QUESTIONS: Mapping[str, str] = {
    "rapport": "Ask: How is this landing on you and your team day to day?",
    "discovery": "Ask: What is this costing you today, in time or money?",
    "objection_handling": "Ask: What would you need to see to feel comfortable with that?",
    "value_articulation": "Ask: If we fixed that, what would it be worth to you this year?",
    "closing_momentum": "Ask: Would it help to agree on a short next step and a date for it?",
    "problem_framing": "Ask: Before I design, what does success look like and what are the "
    "hard constraints?",
    "system_design": "Ask: Shall I walk through the main components and where they could fail?",
    "tool_use_reasoning": "Ask: Which tools may the agent call on its own, and which need a "
    "confirmation?",
    "evaluation_rigor": "Ask: How would we know this works before real users see it?",
    "communication": "Ask: Is this the level of detail you want, or should I go deeper somewhere?",
    "requirements_clarification": "Ask: Who are the users and how much traffic do we expect?",
    "architecture": "Ask: Shall I compare two designs and say which trade-off I'd pick?",
    "implementation_depth": "Ask: Shall I go one level deeper on the data model and the API?",
    "debugging_and_testing": "Ask: Shall I describe how I'd test this and what I'd monitor?",
    "audience_insight": "Ask: Who exactly is the buyer, and what do they struggle with?",
    "positioning": "Ask: What should customers say we do better than anyone else?",
    "channel_strategy": "Ask: Which channels reach this audience within the budget?",
    "measurement": "Ask: Which number would tell us in six weeks that this is working?",
    "storytelling": "Ask: Can I tell you about one customer this would have helped?",
    "customer_rapport": "Ask: What worries you most about this rollout?",
    "requirements_discovery": "Ask: Can you walk me through how this works today?",
    "solution_planning": "Ask: Shall we agree on what goes live first and what comes later?",
    "risk_handling": "Ask: What could get in the way, and what would we do if it did?",
    "next_steps_ownership": "Ask: Who owns each next step on your side, and by when?",
    "empathy": "Ask: How has this been affecting you?",
    "active_listening": "Ask: Let me check I've understood; can I summarise what you said?",
    "probing_questions": "Ask: Can you tell me more about what happened?",
    "fairness_and_policy": "Ask: Would it help if I explained how the process works and what "
    "stays confidential?",
    "resolution_planning": "Ask: Shall we agree on what happens next and when we talk again?",
    "threat_modeling": "Ask: What are we protecting, and from whom?",
    "technical_depth": "Ask: Which specific control would you put in first, and why?",
    "risk_communication": "Ask: How would you explain this risk to someone outside security?",
    "incident_reasoning": "Ask: What are the first three things you would do, in order?",
    "stakeholder_alignment": "Ask: Who owns each fix, and by when?",
}
_GENERIC_QUESTION = "Ask: What matters most to you in what we have discussed so far?"


def _short(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "\u2026"


def _key(text: str, words: int = 4) -> str:
    """A stable few-word key of what a suggestion answers (for dedup by intent)."""
    found = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
    return "-".join(found[:words]) or "general"


def _track(blueprint: str) -> str:
    return blueprint if blueprint in CURVEBALLS else "sales"


def _pick(options: Sequence[tuple[str, str]], seed: str) -> tuple[str, str]:
    """A deterministic choice that changes with what the call is about."""
    return options[sum(map(ord, seed)) % len(options)]


def suggest(
    messages: Sequence[Perceived],
    ev: Evaluation,
    blueprint: Blueprint,
    rubric: Rubric,
    score: int,
    factors: Mapping[str, int],
) -> list[Suggestion]:
    """2-5 suggestions answering this window, the most urgent first."""
    track = _track(rubric.blueprint)
    who = rubric.persona_label.lower()
    by_index = {m.index: m for m in messages}
    out: list[Suggestion] = []

    if ev.candidate_turns == 0:
        return [
            Suggestion(
                type="context_injection",
                text="Invite the candidate in: ask what they would like to cover today.",
                priority="low",
                intent="persona:invite",
            ),
            Suggestion(
                type="followup_question",
                text=FACTOR_QUESTIONS.get(rubric.factors[0].name, _GENERIC_QUESTION),
                priority="medium",
                intent=f"followup:{rubric.factors[0].name}",
            ),
        ]

    losing = score < 35 and (
        ev.penalties.get("pushed_after_refusal", 0) > 0
        or any(
            m.strengths.get("disengages", 0) >= 0.5 for m in messages[-4:] if m.role == "assistant"
        )
    )
    critical_used = False

    def urgent(default: Priority) -> Priority:
        nonlocal critical_used
        if losing and not critical_used:
            critical_used = True
            return "critical"
        return default

    refused = next((s for s in reversed(ev.next_steps) if s.outcome == "refused"), None)

    # 1. The latest concern the candidate has not handled (a refusal is answered below).
    open_concern = next(
        (
            c
            for c in reversed(ev.concerns)
            if c.handled < 0.45 and (refused is None or c.persona != refused.answer)
        ),
        None,
    )
    if open_concern is not None:
        concern = by_index[open_concern.persona]
        quote = _short(concern.text, 80)
        leaving = (
            concern.strengths.get("disengages", 0.0) >= 0.5 > concern.strengths.get("concern", 0.0)
        )
        out.append(
            Suggestion(
                type="followup_question",
                text=(
                    "Ask: Before you go, what would make another conversation worth your time?"
                    if leaving
                    else f"Ask: Before we go on, what's behind your concern, \u201c{quote}\u201d?"
                ),
                priority=urgent("high"),
                responds_to=_short(concern.text, MAX_RESPONDS_TO_CHARS),
                intent=f"followup:{'leaving' if leaving else 'concern'}:{_key(concern.text)}",
            )
        )

    # 2. A next step the persona refused, or pushing after a "no".
    if refused is not None and refused.answer is not None:
        answer = by_index[refused.answer]
        out.append(
            Suggestion(
                type="followup_question",
                text="Ask: What would you need to see first before a step like that makes sense?",
                priority=urgent("high"),
                responds_to=_short(answer.text, MAX_RESPONDS_TO_CHARS),
                intent=f"followup:next_step_refused:{_key(answer.text)}",
            )
        )

    # 3. A persona hint that answers the candidate's worst moment (pressure, dismissal...).
    harmful = ("pressure", "dismiss", "argue", "blame", "pitch", "handwave", "buzzwords",
               "overpromise", "deflect")  # fmt: skip
    worst: tuple[float, str, Perceived] | None = None
    for m in messages:
        if m.role != "user":
            continue
        for name in harmful:
            value = m.strengths.get(name, 0.0)
            if value >= 0.6 and (worst is None or value >= worst[0]):
                worst = (value, name, m)
    if worst is not None:
        _, name, m = worst
        label = blueprint.labels.get(name, name)
        out.append(
            Suggestion(
                type="context_injection",
                text=f"React honestly to how the candidate {label}: say how it lands for you and "
                "give them one clear chance to change course.",
                priority=urgent("high" if score < 50 else "medium"),
                responds_to=_short(m.text, MAX_RESPONDS_TO_CHARS),
                intent=f"persona:react:{name}",
            )
        )
    elif ev.components.get("open_questions", 1.0) < 0.5 and score < 80:
        last_candidate = next(m for m in reversed(messages) if m.role == "user")
        out.append(
            Suggestion(
                type="context_injection",
                text=_WITHHOLD[track],
                priority="medium",
                responds_to=_short(last_candidate.text, MAX_RESPONDS_TO_CHARS),
                intent="persona:withhold",
            )
        )

    # 4. The weakest factor gets a question to ask (if nothing above covers it).
    weakest = min(rubric.factors, key=lambda f: (factors[f.name], f.name))
    if factors[weakest.name] < 70 and len(out) < 4:
        priority: Priority = "high" if factors[weakest.name] < 35 else "medium"
        out.append(
            Suggestion(
                type="followup_question",
                text=FACTOR_QUESTIONS.get(weakest.name, _GENERIC_QUESTION),
                priority=priority,
                responds_to=f"{weakest.label} is the weakest area ({factors[weakest.name]})",
                intent=f"followup:{weakest.name}",
            )
        )

    # 5. A call that goes well gets harder.
    if score >= 70:
        last_persona = next((m for m in reversed(messages) if m.role == "assistant"), None)
        label, text = _pick(CURVEBALLS[track], last_persona.text if last_persona else track)
        strongest = max(rubric.factors, key=lambda f: (factors[f.name], f.name))
        out.append(
            Suggestion(
                type="curveball",
                text=text,
                priority="medium" if score >= 85 else "low",
                label=label,
                responds_to=f"{strongest.label} is strong ({factors[strongest.name]})",
                intent=f"curveball:{_key(label, 3)}",
            )
        )

    if not any(s.type == "context_injection" for s in out):
        if score < 50:
            text = (
                f"Soften slightly: restate your main concern plainly as the {who} and leave a "
                "pause, so the candidate has a clear opening to recover."
            )
            hint_priority: Priority = urgent("high")
            intent = "persona:soften"
        else:
            text = _WITHHOLD[track]
            hint_priority = "low"
            intent = "persona:withhold"
        out.append(
            Suggestion(type="context_injection", text=text, priority=hint_priority, intent=intent)
        )
    if not any(s.type == "followup_question" for s in out):
        name = weakest.name
        out.append(
            Suggestion(
                type="followup_question",
                text=FACTOR_QUESTIONS.get(name, _GENERIC_QUESTION),
                priority="low",
                responds_to=f"{weakest.label} has the most room to grow ({factors[name]})",
                intent=f"followup:{name}",
            )
        )
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    out.sort(key=lambda s: order[s.priority])
    return out[:5]
