"""Technical depth from concrete content, quiet give-ups, leading questions, soft acceptance.

The semantic analyzer must credit a terse but precise engineering answer over a vague one,
read a persona quietly giving up as disengaging, not count agreement that a leading
question put in the persona's mouth as buy-in, and move little when a call is reworded.
"""

from __future__ import annotations

import pytest

from analysis import semantic
from analysis.behaviour_score import evaluate
from analysis.depth import concreteness, rarity
from analysis.models import TranscriptLine
from analysis.offline import analyze_offline
from analysis.perception import perceive
from analysis.perturbations import perturb_window
from analysis.rubrics import rubric_for

FULLSTACK = rubric_for("fullstack")
SALES = rubric_for("sales")


def lines(*pairs: tuple[str, str]) -> list[TranscriptLine]:
    return [TranscriptLine(role="user" if r == "c" else "assistant", text=t) for r, t in pairs]


# -- concreteness (no model) ------------------------------------------------------------


def test_a_terse_precise_answer_is_more_concrete_than_a_long_vague_one() -> None:
    terse = "Cursor pagination on created_at, 50 a page, so deep pages stay fast."
    vague = (
        "I'd just use a good framework and make sure it handles all of that well, it "
        "should be fine, we can always look at it again later if it becomes a thing."
    )
    assert concreteness(terse) > 0.7
    assert concreteness(vague) < 0.35
    assert concreteness(terse) > concreteness(vague) + 0.45


def test_concreteness_counts_facts_not_padding_and_saturates() -> None:
    base = "Put a unique constraint on the idempotency key."
    padded = "So, yeah, basically what I would do here is put a unique constraint on the key."
    assert concreteness(padded) <= concreteness(base) + 0.05
    more = base + " Retries then hit the constraint, and a webhook reconciles pending orders."
    assert concreteness(base) < concreteness(more) <= 1.0


def test_everyday_synonyms_move_concreteness_little() -> None:
    a = "Add a composite index on customer and date, because most filters use those two."
    b = "Add a composite index on client and date, because most filters use those two."
    assert abs(concreteness(a) - concreteness(b)) <= 0.05


def test_rarity_reads_stems_identifiers_and_acronyms() -> None:
    assert rarity("handles") == rarity("handle") == 0.0  # inflection of an everyday word
    assert rarity("created_at") == 1.0 and rarity("CSRF") == 1.0 and rarity("p95/p99") == 1.0
    assert rarity("idempotency") == 1.0  # not a word of the vocabulary: specialist
    assert rarity("frankly") < 0.2 and rarity("customer") < 0.2


# -- the analyzer (model) ---------------------------------------------------------------

QUESTIONS = (
    "The order history page times out for our biggest accounts. What would you do?",
    "Data must be fresh within five minutes. How?",
    "What if two requests retry the same payment?",
    "How would you test it before rollout?",
    "And the rollout itself?",
)
TERSE = (
    "Check the query plan first; likely a composite index on account_id and created_at.",
    "Incremental rollup every minute into a summary table, plus a live query for today.",
    "Idempotency key with a unique constraint, so the second insert fails cleanly.",
    "Replay a day of production queries against a copy, compare totals row by row.",
    "Behind a feature flag: 5% of accounts, then 50%, roll back if p95 exceeds 300 ms.",
)
VAGUE = (
    "I'd look at it and try to make it faster, there are usually ways to speed things up.",
    "We'd refresh it regularly, whatever works best for the system really.",
    "We'd have to be careful with that, maybe handle it somehow in the code.",
    "I'd make sure it works properly and check that the page loads faster.",
    "Just deploy it carefully and keep an eye on it afterwards.",
)


def interview(answers: tuple[str, ...]) -> list[TranscriptLine]:
    pairs: list[tuple[str, str]] = []
    for question, answer in zip(QUESTIONS, answers, strict=True):
        pairs += [("p", question), ("c", answer)]
    return lines(*pairs, ("p", "Thanks, that's all from me."))


def test_terse_specific_engineering_answers_score_above_vague_ones() -> None:
    terse = analyze_offline(interview(TERSE), FULLSTACK).say_meter
    vague = analyze_offline(interview(VAGUE), FULLSTACK).say_meter
    for factor in ("architecture", "implementation_depth", "debugging_and_testing"):
        assert terse.factors[factor] >= vague.factors[factor] + 40, (factor, terse, vague)
    assert terse.score >= vague.score + 40, (terse.score, vague.score)


@pytest.mark.parametrize("transform", ["synonyms", "combined"])
def test_rewording_a_borderline_engineering_call_moves_it_little(transform: str) -> None:
    # Half precise, half vague: the borderline where a threshold would flip.
    mixed = interview((TERSE[0], VAGUE[1], TERSE[2], VAGUE[3], VAGUE[4]))
    mixed[0] = TranscriptLine(
        role="assistant", text="Our big customers have millions of rows. What would you do?"
    )
    base = analyze_offline(mixed, FULLSTACK).say_meter.score
    moved = analyze_offline(perturb_window(mixed, transform, 0), FULLSTACK).say_meter.score
    assert abs(base - moved) <= 10, (base, moved)


@pytest.mark.parametrize(
    "answer",
    [
        "Yeah, so, first I'd check the query plans and add a composite index on customer and "
        "date, 'cause most of the filters are probably on those two.",
        "Then, um, pre-aggregate: a daily summary table per customer, so a big account's page "
        "reads thirty rows instead of a million.",
    ],
)
def test_an_everyday_synonym_moves_technical_depth_little(answer: str) -> None:
    engine = semantic.engine()
    assert engine is not None
    blueprint = engine.blueprint("fullstack")

    def depth(text: str) -> float:
        window = lines(("p", "What would you do?"), ("c", text))
        return perceive(window, engine.embedder, blueprint)[1].strengths["technical_depth"]

    a, b = depth(answer), depth(answer.replace("customer", "client"))
    assert abs(a - b) <= 0.12, (a, b)


def _persona_strengths(window: list[TranscriptLine], blueprint: str) -> list[dict[str, float]]:
    engine = semantic.engine()
    assert engine is not None
    read = perceive(window, engine.embedder, engine.blueprint(blueprint))
    return [m.strengths for m in read if m.role == "assistant"]


OPENING = (
    ("c", "Thanks for making time. What made you take this call?"),
    ("p", "Our invoicing takes two people a week every month end."),
)


@pytest.mark.parametrize(
    "give_up",
    [
        "Okay. I think I'll leave it then.",
        "Never mind, it doesn't matter.",
        "Let's just drop it, then.",
    ],
)
def test_a_quiet_give_up_reads_as_disengaging(give_up: str) -> None:
    window = lines(
        *OPENING,
        ("c", "Our platform automates invoicing end to end with a full suite of features."),
        ("p", give_up),
    )
    last = _persona_strengths(window, "sales")[-1]
    assert last["disengages"] >= 0.5, last
    engaged = [*window[:-1], TranscriptLine(role="assistant", text="Okay, tell me more.")]
    quiet = analyze_offline(window, SALES).say_meter.score
    assert quiet < analyze_offline(engaged, SALES).say_meter.score


def test_agreeing_with_leading_questions_is_not_buy_in() -> None:
    engine = semantic.engine()
    assert engine is not None
    blueprint = engine.blueprint("sales")
    answer = "Yes, I suppose so."
    led = lines(
        *OPENING,
        ("c", "That's a lot of wasted time, isn't it?"),
        ("p", answer),
        ("c", "You'd agree automation would fix that, right?"),
        ("p", answer),
        ("c", "Wouldn't you say your team deserves better tools?"),
        ("p", answer),
    )
    asked = lines(
        *OPENING,
        ("c", "What does that week cost the team?"),
        ("p", answer),
        ("c", "Would it help to see how others cut that down?"),
        ("p", answer),
        ("c", "Should we look at your month end together?"),
        ("p", answer),
    )
    rubric = SALES
    mood_led = evaluate(perceive(led, engine.embedder, blueprint), blueprint, rubric)
    mood_asked = evaluate(perceive(asked, engine.embedder, blueprint), blueprint, rubric)
    assert mood_led.components["mood"] < mood_asked.components["mood"], (
        mood_led.components["mood"],
        mood_asked.components["mood"],
    )
    assert (
        analyze_offline(led, SALES).say_meter.score < analyze_offline(asked, SALES).say_meter.score
    )


def test_a_bare_okay_to_a_dated_proposal_takes_the_step() -> None:
    engine = semantic.engine()
    assert engine is not None
    blueprint = engine.blueprint("HR")
    window = lines(
        ("p", "I just don't know what happens now."),
        ("c", "Let's meet with your manager on Thursday at two to agree cover for your shifts."),
        ("p", "Okay. And the rota problem?"),
        ("c", "That's context I'll make sure is understood; it isn't a performance case."),
    )
    ev = evaluate(perceive(window, engine.embedder, blueprint), blueprint, rubric_for("HR"))
    assert [s.outcome for s in ev.next_steps][:1] == ["accepted"], ev.next_steps


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ("Uh, okay. And the rota problem?", "accepted"),  # a filler does not change it
        ("Right. I don't think we'll take this any further. Thanks for your time.", "refused"),
        ("Okay. I think I'll leave it then.", "refused"),  # okay, then leaving
    ],
)
def test_a_backchannel_before_a_decline_is_not_acceptance(answer: str, outcome: str) -> None:
    engine = semantic.engine()
    assert engine is not None
    blueprint = engine.blueprint("sales")
    window = lines(
        ("p", "I'd need to talk to the doctors first."),
        ("c", "Could we book a demo for Thursday at ten so you can show them?"),
        ("p", answer),
    )
    ev = evaluate(perceive(window, engine.embedder, blueprint), blueprint, SALES)
    assert [s.outcome for s in ev.next_steps] == [outcome], ev.next_steps
