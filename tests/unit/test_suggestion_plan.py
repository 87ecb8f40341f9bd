"""The suggestion rules of one analysis: dedup by intent (text when there is none), expiry by
resolved intent or by staleness, and at most one critical open."""

from __future__ import annotations

import uuid

from services.suggestions import EXPIRE_AFTER_RUNS, plan_suggestions
from storage.analysis import NewSuggestion, OpenRow, dedup_key


def new(
    text: str, intent: str | None = None, priority: str = "medium", kind: str = "followup_question"
) -> NewSuggestion:
    return NewSuggestion(kind, text, priority, None, "a quote", intent)


def open_row(s: NewSuggestion, stale_runs: int = 0) -> OpenRow:
    return OpenRow(uuid.uuid4(), s.key, s.intent, s.text, s.priority, stale_runs)


def test_the_key_is_type_and_intent_or_normalized_text() -> None:
    assert dedup_key("curveball", "Curveball: Competitor Quote!", "x") == (
        "curveball|intent:curveball:competitor_quote"
    )
    assert dedup_key("curveball", "  ", "Legal wants  a REVIEW ") == (
        "curveball|text:legal wants a review"
    )
    # Same intent, another type: another key.
    assert dedup_key("curveball", "budget", "a") != dedup_key("followup_question", "budget", "a")


def test_same_intent_in_other_words_is_not_offered_again() -> None:
    first = new("Ask who signs off on the budget.", "followup:budget_owner")
    reworded = new("Find out who approves spending.", "FOLLOWUP:budget owner")
    plan = plan_suggestions([reworded], [], {first.key})
    assert plan.offered == []
    # Without an intent, the text decides (case and spacing do not matter).
    plan = plan_suggestions([new("ask  WHO signs off on the budget.")], [], {new(first.text).key})
    assert plan.offered == []


def test_a_repeat_within_one_run_is_offered_once() -> None:
    a, b = new("Ask about the budget.", "followup:budget"), new("Budget?", "followup:budget")
    plan = plan_suggestions([a, b, new("Ask about timing.", "followup:timing")], [], set())
    assert [s.text for s in plan.offered] == ["Ask about the budget.", "Ask about timing."]


def test_resolved_intent_expires_at_once_and_re_raised_ones_stay() -> None:
    budget = open_row(new("Ask about the budget.", "followup:budget"))
    step = open_row(new("Propose a next step.", "followup:next_step"))
    plan = plan_suggestions(
        [new("Budget again?", "followup:budget")],
        [budget, step],
        {budget.key, step.key},
        resolved=["Followup:Next Step"],
    )
    assert plan.expired == [step.id]
    assert plan.raised == [budget.id]
    assert plan.offered == []  # the re-raised budget hint is not shown twice


def test_a_suggestion_not_raised_again_expires_after_n_analyses() -> None:
    hint = new("Ask about the budget.", "followup:budget")
    fresh = open_row(hint, stale_runs=0)
    old = open_row(hint, stale_runs=EXPIRE_AFTER_RUNS - 1)
    plan = plan_suggestions([], [fresh, old], {hint.key})
    assert plan.expired == [old.id]
    assert plan.raised == []
    assert set(plan.aged) == {fresh.id, old.id}


def test_at_most_one_critical_is_open() -> None:
    crit = [new(f"Save the call {i}", f"followup:save_{i}", "critical") for i in range(3)]
    plan = plan_suggestions(crit, [], set())
    assert [s.priority for s in plan.offered] == ["critical", "high", "high"]
    # One already open: every new critical becomes high...
    already = open_row(new("Stop pitching", "persona:pitch", "critical"))
    plan = plan_suggestions(crit[:1], [already], {already.key})
    assert [s.priority for s in plan.offered] == ["high"]
    # ...unless this very run expires it.
    plan = plan_suggestions(crit[:1], [already], {already.key}, resolved=["persona:pitch"])
    assert [s.priority for s in plan.offered] == ["critical"]
