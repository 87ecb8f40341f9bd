"""The lexicon analyzer (the offline fallback): seed transcripts land in the right bands,
deterministically. The semantic analyzer has its own tests (test_analysis_semantic.py)."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.features import extract_features
from analysis.models import AnalysisResult, Role, TranscriptLine
from analysis.offline import analyze_lexicon as analyze_offline
from analysis.rubrics import RUBRICS, rubric_for
from analysis.signals import FACTOR_SIGNALS

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "transcripts"
QUALITIES = ("strong", "mediocre", "poor")
SALES = rubric_for("sales")


@cache
def seed(quality: str) -> tuple[TranscriptLine, ...]:
    data = json.loads((SEEDS / f"{quality}.json").read_text(encoding="utf-8"))
    return tuple(TranscriptLine(role=m["role"], text=m["text"]) for m in data["messages"])


def window(quality: str, which: str) -> Sequence[TranscriptLine]:
    lines = seed(quality)
    return lines[-20:] if which == "last20" else lines


def score(lines: Sequence[TranscriptLine], blueprint: str = "sales") -> int:
    return analyze_offline(lines, rubric_for(blueprint)).say_meter.score


def check(result: AnalysisResult, factor_names: Sequence[str]) -> None:
    """Invariants of every offline result."""
    again = AnalysisResult.model_validate(result.model_dump())  # valid under extra=forbid
    assert again == result
    meter = result.say_meter
    assert 0 <= meter.score <= 100
    assert list(meter.factors) == list(factor_names)
    assert all(0 <= v <= 100 for v in meter.factors.values())
    assert meter.reasoning
    assert 2 <= len(result.suggestions) <= 5
    types = [s.type for s in result.suggestions]
    assert "context_injection" in types
    assert "followup_question" in types
    for s in result.suggestions:
        if s.type == "followup_question":
            assert s.text.startswith("Ask: ")
        assert (s.label is not None) == (s.type == "curveball")


# -- the seed transcripts -------------------------------------------------------------


@pytest.mark.parametrize("which", ["last20", "whole"])
def test_seed_transcripts_land_in_their_bands(which: str) -> None:
    strong, mediocre, poor = (score(window(q, which)) for q in QUALITIES)
    assert strong >= 80, strong
    assert poor < 50, poor
    assert strong > mediocre > poor


@pytest.mark.parametrize("which", ["last20", "whole"])
@pytest.mark.parametrize("blueprint", sorted(RUBRICS))
def test_every_rubric_orders_the_seeds(which: str, blueprint: str) -> None:
    strong, mediocre, poor = (score(window(q, which), blueprint) for q in QUALITIES)
    assert strong > mediocre > poor


def test_strong_call_gets_a_curveball_and_poor_call_a_softer_hint() -> None:
    strong = analyze_offline(seed("strong")[-20:], SALES)
    check(strong, SALES.factor_names)
    assert strong.say_meter.band == "green"
    curveballs = [s for s in strong.suggestions if s.type == "curveball"]
    assert len(curveballs) == 1 and curveballs[0].label

    poor = analyze_offline(seed("poor")[-20:], SALES)
    check(poor, SALES.factor_names)
    assert poor.say_meter.band == "red"
    assert not [s for s in poor.suggestions if s.type == "curveball"]
    soften = poor.suggestions[0]
    assert soften.type == "context_injection" and soften.text.startswith("Soften")
    assert soften.priority in ("high", "critical")
    assert "critical" in {s.priority for s in poor.suggestions}
    assert all(s.priority in ("low", "medium", "high") for s in strong.suggestions)


def test_reasoning_cites_the_features() -> None:
    result = analyze_offline(seed("poor"), SALES)
    features = extract_features(seed("poor"))
    reasoning = result.say_meter.reasoning
    assert f"Candidate spoke {round(100 * features.talk_share)}% of words" in reasoning
    assert f"{features.questions} questions in {features.candidate_turns} candidate turns" in (
        reasoning
    )
    assert "pressure turns" in reasoning
    assert "weakest:" in reasoning


def test_poor_seed_features_are_what_a_coach_would_see() -> None:
    strong, poor = extract_features(seed("strong")), extract_features(seed("poor"))
    assert strong.talk_share < 0.5 < poor.talk_share
    assert strong.open_questions > poor.open_questions
    assert poor.dismissive > strong.dismissive
    assert poor.pressure > strong.pressure
    assert strong.concrete_next_steps >= 1
    assert poor.concrete_next_steps == 0


# -- behaviour -------------------------------------------------------------------------


def test_deterministic() -> None:
    lines = seed("mediocre")
    first = analyze_offline(lines, SALES)
    assert analyze_offline(list(lines), SALES) == first
    assert analyze_offline(lines, rubric_for("sales")).model_dump_json() == (
        first.model_dump_json()
    )


def test_arguments_and_result_pickle_and_run_in_a_process_pool() -> None:
    args = (seed("strong")[-20:], rubric_for("agentic_eng"), "en")
    assert pickle.loads(pickle.dumps(args)) == args
    expected = analyze_offline(*args)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(analyze_offline, *args).result(timeout=60) == expected


def test_empty_window_is_neutral() -> None:
    result = analyze_offline([], SALES)
    check(result, SALES.factor_names)
    assert result.say_meter.score == 50
    assert set(result.say_meter.factors.values()) == {50}
    assert "No candidate speech" in result.say_meter.reasoning


def test_only_persona_lines_are_neutral() -> None:
    lines = [line for line in seed("poor") if line.role == "assistant"][:10]
    result = analyze_offline(lines, SALES)
    check(result, SALES.factor_names)
    assert result.say_meter.score == 50
    assert "10 prospect lines" in result.say_meter.reasoning


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_one_line_window(role: Role) -> None:
    line = TranscriptLine(role=role, text="Hello, thanks for taking the call today.")
    result = analyze_offline([line], SALES)
    check(result, SALES.factor_names)
    assert 35 <= result.say_meter.score <= 65  # one line is too little to judge


def test_thin_evidence_is_pulled_towards_the_middle() -> None:
    pushy = TranscriptLine(role="user", text="Trust me, just sign the contract this week.")
    one = analyze_offline([pushy], SALES).say_meter.score
    many = analyze_offline([pushy] * 6, SALES).say_meter.score
    assert many < one < 50


def test_dismissing_a_concern_lowers_objection_handling() -> None:
    lines = list(seed("strong")[-20:])
    base = analyze_offline(lines, SALES).say_meter.factors["objection_handling"]
    for i, line in enumerate(lines):
        if line.role == "user" and i > 0 and "budget" in lines[i - 1].text.lower():
            lines[i] = TranscriptLine(role="user", text="Trust me, that's not a concern.")
    worse = analyze_offline(lines, SALES).say_meter.factors["objection_handling"]
    assert worse < base


def test_weights_change_the_score() -> None:
    lines = seed("strong")[:20]  # great discovery, no next steps yet
    default = analyze_offline(lines, SALES).say_meter
    closing_heavy = rubric_for("sales", {"sales": {"closing_momentum": 5}})
    heavy = analyze_offline(lines, closing_heavy).say_meter
    assert heavy.factors == default.factors
    assert heavy.score < default.score


def test_every_built_in_factor_has_an_explicit_signal_blend() -> None:
    for rubric in RUBRICS.values():
        for factor in rubric.factors:
            assert factor.name in FACTOR_SIGNALS, factor.name


@pytest.mark.parametrize("blueprint", sorted(RUBRICS))
def test_non_sales_wording(blueprint: str) -> None:
    rubric = rubric_for(blueprint)
    result = analyze_offline(seed("mediocre")[-20:], rubric)
    check(result, rubric.factor_names)
    texts = " ".join(s.text for s in result.suggestions)
    if blueprint != "sales":
        assert "prospect" not in texts.lower()


# -- properties ------------------------------------------------------------------------

_PHRASES = [
    "What is that costing you?",
    "How does your team handle it today?",
    "Trust me, it's not a concern.",
    "Sign the contract this week and lock in the price.",
    "I understand. Help me understand the budget process?",
    "We reduce costs by 40 percent.",
    "Let's schedule a demo next Thursday at ten?",
    "That's too expensive and I'm not sure.",
    "I have to go. Goodbye.",
    "Yes, that makes sense.",
    "?",
    "",
]
_LINES = st.builds(
    TranscriptLine,
    role=st.sampled_from(["user", "assistant"]),
    text=st.lists(st.sampled_from(_PHRASES) | st.text(max_size=30), max_size=6).map(" ".join),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINES, max_size=25), st.sampled_from(sorted(RUBRICS)))
def test_any_window_gives_a_valid_result(lines: list[TranscriptLine], blueprint: str) -> None:
    rubric = rubric_for(blueprint)
    result = analyze_offline(lines, rubric)
    check(result, rubric.factor_names)
    assert result.say_meter.score == rubric.weighted_score(result.say_meter.factors)


@settings(max_examples=50, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=12))
def test_same_window_same_result(lines: list[TranscriptLine]) -> None:
    assert analyze_offline(lines, SALES) == analyze_offline(tuple(lines), SALES)


def test_plain_data_entry_point_matches_the_model_one() -> None:
    """The process pool sends (role, text) pairs and a blueprint: same result as the models."""
    from analysis.offline import analyze_lines
    from analysis.offline import analyze_offline as analyze_default

    window = [
        TranscriptLine(role="assistant", text="Budget is tight and the CFO wants a quote."),
        TranscriptLine(role="user", text="What would a delay cost you each month?"),
        TranscriptLine(role="assistant", text="About forty thousand in overtime."),
    ]
    rubric = rubric_for("sales", {"sales": {"discovery": 3.0}})
    weights = {f.name: f.weight for f in rubric.factors}
    pairs = [(line.role, line.text) for line in window]
    assert analyze_lines(pairs, "sales", weights) == analyze_default(window, rubric)
