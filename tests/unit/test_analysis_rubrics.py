"""Track-specific rubrics and weights."""

from __future__ import annotations

import pickle

import pytest

from analysis.rubrics import BLUEPRINTS, RUBRICS, Factor, Rubric, rubric_for


def test_every_blueprint_of_the_personas_table_has_a_rubric() -> None:
    assert set(BLUEPRINTS) == {
        "sales",
        "agentic_eng",
        "fullstack",
        "marketing",
        "implementation",
        "HR",
        "security",
    }
    for blueprint, rubric in RUBRICS.items():
        assert rubric.blueprint == blueprint
        assert 4 <= len(rubric.factors) <= 6
        assert len(set(rubric.factor_names)) == len(rubric.factors)
        assert all(f.label and f.description and f.weight > 0 for f in rubric.factors)


def test_sales_rubric_is_the_design_s_five_factors() -> None:
    assert rubric_for("sales").factor_names == (
        "rapport",
        "discovery",
        "objection_handling",
        "value_articulation",
        "closing_momentum",
    )
    assert rubric_for("agentic_eng").factor_names == (
        "problem_framing",
        "system_design",
        "tool_use_reasoning",
        "evaluation_rigor",
        "communication",
    )


def test_lookup_is_case_insensitive_and_unknown_falls_back_to_sales() -> None:
    assert rubric_for("hr").blueprint == "HR"
    assert rubric_for(" Security ").blueprint == "security"
    assert rubric_for("astronaut").blueprint == "sales"
    assert rubric_for("").blueprint == "sales"


def test_weighted_score() -> None:
    sales = rubric_for("sales")
    scores = dict.fromkeys(sales.factor_names, 80)
    assert sales.weighted_score(scores) == 80
    scores["closing_momentum"] = 30  # equal weights: (4 * 80 + 30) / 5 = 70
    assert sales.weighted_score(scores) == 70
    heavy = rubric_for("sales", {"sales": {"closing_momentum": 4.0}})  # (320 + 120) / 8 = 55
    assert heavy.weighted_score(scores) == 55
    # half rounds up, values are clamped, extra keys ignored
    tiny = Rubric("t", "t", (Factor("a", "A", "a", 1.0), Factor("b", "B", "b", 1.0)))
    assert tiny.weighted_score({"a": 0, "b": 1}) == 1
    assert tiny.weighted_score({"a": 150, "b": -20, "zzz": 5}) == 50
    with pytest.raises(ValueError, match="missing"):
        sales.weighted_score({"rapport": 1})


def test_overrides_replace_named_weights_only() -> None:
    base = rubric_for("agentic_eng")
    custom = rubric_for("agentic_eng", {"agentic_eng": {"evaluation_rigor": 3}})
    weights = {f.name: f.weight for f in custom.factors}
    assert weights["evaluation_rigor"] == 3.0
    for factor in base.factors:
        if factor.name != "evaluation_rigor":
            assert weights[factor.name] == factor.weight
    # overrides for another blueprint do not apply
    assert rubric_for("sales", {"agentic_eng": {"evaluation_rigor": 3}}) == rubric_for("sales")
    # the built-in rubric is untouched
    assert rubric_for("agentic_eng") == base


@pytest.mark.parametrize(
    "overrides",
    [
        {"sales": {"rapportt": 2.0}},
        {"agentic_eng": {"rapport": 2.0}},  # a sales factor, not an agentic_eng one
        {"sales": {"rapport": -1.0}},
        {"sales": {"rapport": float("nan")}},
        {"unknown_track": {"rapport": 1.0}},
        {"sales": dict.fromkeys(rubric_for("sales").factor_names, 0.0)},
    ],
)
def test_invalid_overrides_raise(overrides: dict[str, dict[str, float]]) -> None:
    with pytest.raises(ValueError):
        rubric_for("sales", overrides)


def test_rubric_validation() -> None:
    with pytest.raises(ValueError):
        Rubric("x", "x", ())
    with pytest.raises(ValueError):
        Rubric("x", "x", (Factor("Bad Name", "B", "b"),))
    with pytest.raises(ValueError):
        Rubric("x", "x", (Factor("a", "A", "a"), Factor("a", "A", "a")))


def test_rubrics_are_hashable_and_picklable() -> None:
    # hashable: prompts are cached per rubric; picklable: the offline analyzer runs in a
    # process pool and receives the rubric as an argument
    for rubric in RUBRICS.values():
        assert hash(rubric) == hash(pickle.loads(pickle.dumps(rubric)))
