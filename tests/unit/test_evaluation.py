"""The evaluation's metrics on hand-made scores, its set format, and evaluate() end to end."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from analysis.evaluation import (
    WINDOW,
    CallContext,
    ConversationScore,
    SetFormatError,
    evaluate,
    load_set,
    summarize,
)
from analysis.models import AnalysisResult, SayMeter, TranscriptLine, band_for
from analysis.perturbations import PERTURBATIONS
from analysis.rubrics import Rubric
from tests.evalset_builder import conversation, write

REPO = Path(__file__).resolve().parents[2]
BANDS = {"poor": "red", "mediocre": "yellow", "strong": "green"}


def score(
    cid: str, label: str, value: int, blueprint: str = "sales", **perturbed: int
) -> ConversationScore:
    return ConversationScore(
        id=f"{blueprint}/{cid}",
        blueprint=blueprint,
        label=label,  # type: ignore[arg-type]
        expected_band=BANDS[label],  # type: ignore[arg-type]
        score=value,
        band=band_for(value),
        perturbed=perturbed,
    )


def report_of(scores: Sequence[ConversationScore]):  # type: ignore[no-untyped-def]
    return summarize(scores, set_name="t", analyzer="t")


# --- pairs ordered ----------------------------------------------------------------------


def test_pairs_all_ordered() -> None:
    r = report_of([score("p", "poor", 20), score("m", "mediocre", 60), score("s", "strong", 90)])
    assert (r.overall.pairs, r.overall.pairs_ordered, r.overall.ties) == (3, 3.0, 0)
    assert r.overall.pairs_ordered_share == 1.0


def test_pairs_reversed_count_zero() -> None:
    r = report_of([score("p", "poor", 90), score("m", "mediocre", 60), score("s", "strong", 20)])
    assert r.overall.pairs_ordered == 0.0


def test_a_tie_counts_half() -> None:
    r = report_of([score("p", "poor", 50), score("s", "strong", 50), score("m", "mediocre", 70)])
    # poor=strong tie (0.5), poor<mediocre (1), mediocre>strong (0)
    assert (r.overall.pairs, r.overall.pairs_ordered, r.overall.ties) == (3, 1.5, 1)
    assert r.overall.pairs_ordered_share == 0.5


def test_same_label_pairs_are_not_pairs() -> None:
    r = report_of([score("p1", "poor", 10), score("p2", "poor", 80), score("s", "strong", 50)])
    assert r.overall.pairs == 2 and r.overall.pairs_ordered == 1.0


def test_pairs_never_cross_blueprints() -> None:
    scores = [
        score("p", "poor", 10, "sales"),
        score("s", "strong", 30, "sales"),
        score("p", "poor", 70, "HR"),
        score("s", "strong", 90, "HR"),
    ]
    r = report_of(scores)
    # Across blueprints HR/poor (70) > sales/strong (30) would be a wrong pair: not counted.
    assert r.overall.pairs == 2 and r.overall.pairs_ordered == 2.0
    assert [(g.name, g.pairs, g.pairs_ordered) for g in r.blueprints] == [
        ("HR", 1, 1.0),
        ("sales", 1, 1.0),
    ]


# --- bands, medians, robustness, targets ------------------------------------------------


def test_band_accuracy_uses_the_meter_bands() -> None:
    # 49 is red, 50 yellow, 79 yellow, 80 green.
    r = report_of(
        [
            score("p", "poor", 49),
            score("m1", "mediocre", 50),
            score("m2", "mediocre", 80),
            score("s", "strong", 79),
        ]
    )
    assert (r.overall.bands_right, r.overall.band_accuracy) == (2, 0.5)
    assert [c.band_ok for c in r.conversations] == [True, True, False, False]


def test_median_per_label_and_missing_label() -> None:
    r = report_of([score("p1", "poor", 10), score("p2", "poor", 31), score("s", "strong", 88)])
    assert r.overall.median == {"poor": 20.5, "mediocre": None, "strong": 88.0}


def test_max_shift_is_the_largest_change_and_says_where() -> None:
    r = report_of(
        [
            score("p", "poor", 30, fillers=33, synonyms=22),
            score("s", "strong", 85, fillers=86, synonyms=85),
        ]
    )
    assert r.overall.max_shift == 8
    assert r.overall.max_shift_at == "sales/p:synonyms"
    assert r.conversations[1].max_shift == 1


def test_no_perturbations_means_no_shift_figure() -> None:
    r = report_of([score("p", "poor", 30), score("s", "strong", 85)])
    assert r.overall.max_shift is None and r.conversations[0].max_shift is None
    assert not next(t for t in r.targets if "paraphrase" in t.target).met


def test_targets_met_and_not_met() -> None:
    good = report_of(
        [
            score("p", "poor", 20, fillers=25),
            score("m", "mediocre", 65, fillers=60),
            score("s", "strong", 90, fillers=88),
        ]
    )
    assert all(t.met for t in good.targets), good.targets
    bad = report_of([score("p", "poor", 60), score("s", "strong", 60)])
    met = {t.target: t.met for t in bad.targets}
    assert not met["pairs ordered >= 90% in every blueprint"]
    assert not met["median strong >= 85"] and not met["median poor <= 35"]


# --- set format ---------------------------------------------------------------------------


def test_load_set_reads_every_file(tmp_path: Path) -> None:
    write(tmp_path, conversation("sales", "poor"))
    write(tmp_path, conversation("HR", "strong"), "strong-02.json")
    loaded = load_set(tmp_path)
    assert [c.id for c in loaded] == ["HR/strong-02", "sales/poor-01"]
    assert loaded[0].context.persona.name == "Test Persona"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), "extra: Extra inputs are not permitted"),
        (lambda d: d.update(expected_band="green"), "does not match label"),
        (lambda d: d.update(label="great"), "label"),
        (lambda d: d.update(blueprint="sailing"), "is not one of"),
        (lambda d: d["messages"].pop(), "messages: List should have at least 20 items"),
        (lambda d: d["messages"].__setitem__(1, {"role": "assistant", "text": "x"}), "both"),
        (lambda d: d["messages"].__setitem__(1, {"role": "bot", "text": "x"}), "role"),
        (lambda d: d["persona"].pop("name"), "persona.name: Field required"),
        (lambda d: d["persona"].update(difficulty="3"), "persona.difficulty"),
    ],
)
def test_a_bad_file_is_a_clear_error_naming_it(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = conversation("sales", "poor")
    change(data)
    path = write(tmp_path, data, "poor-01.json")
    with pytest.raises(SetFormatError, match=re.escape(str(path))) as info:
        load_set(tmp_path)
    assert message in str(info.value)


def test_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sales" / "poor-01.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(SetFormatError, match=re.escape(str(path))):
        load_set(tmp_path)


def test_file_in_the_wrong_blueprint_directory(tmp_path: Path) -> None:
    path = write(tmp_path, conversation("sales", "poor"), None)
    moved = tmp_path / "HR" / "poor-01.json"
    moved.parent.mkdir()
    path.rename(moved)
    with pytest.raises(SetFormatError, match="blueprint 'sales' but the file is in 'HR'"):
        load_set(tmp_path)


def test_file_name_must_carry_its_label(tmp_path: Path) -> None:
    write(tmp_path, conversation("sales", "poor"), "strong-01.json")
    with pytest.raises(SetFormatError, match=r"strong-01\.json: label 'poor'"):
        load_set(tmp_path)
    (tmp_path / "sales" / "strong-01.json").rename(tmp_path / "sales" / "call.json")
    with pytest.raises(SetFormatError, match=r"call.json: file name must be"):
        load_set(tmp_path)


def test_empty_or_missing_set(tmp_path: Path) -> None:
    with pytest.raises(SetFormatError, match="no <blueprint>"):
        load_set(tmp_path)
    with pytest.raises(SetFormatError, match="not a directory"):
        load_set(tmp_path / "missing")


@pytest.mark.parametrize(("name", "minimum"), [("dev", 45), ("holdout", 15)])
def test_the_shipped_sets_are_valid_and_balanced(name: str, minimum: int) -> None:
    loaded = load_set(REPO / "evalsets" / name)
    assert len(loaded) >= minimum
    per: dict[tuple[str, str], int] = {}
    for c in loaded:
        per[(c.data.blueprint, c.data.label)] = per.get((c.data.blueprint, c.data.label), 0) + 1
    blueprints = {b for b, _ in per}
    assert {"sales", "agentic_eng", "HR", "security"} <= blueprints and len(blueprints) >= 5
    least = 3 if name == "dev" else 1
    assert all(per.get((b, lab), 0) >= least for b in blueprints for lab in BANDS)


def test_dev_and_holdout_share_no_conversation() -> None:
    def texts(name: str) -> set[str]:
        return {
            m.text
            for c in load_set(REPO / "evalsets" / name)
            for m in c.data.messages
            if len(m.text) > 40
        }

    assert not texts("dev") & texts("holdout")


# --- evaluate -----------------------------------------------------------------------------


async def test_evaluate_scores_the_last_window_with_context(tmp_path: Path) -> None:
    for label, value in (("poor", "20"), ("mediocre", "60"), ("strong", "90")):
        write(tmp_path, conversation("security", label, messages=30, marker=f"score={value}"))
    seen: list[tuple[int, str, str, str]] = []

    async def fake(
        window: Sequence[TranscriptLine], rubric: Rubric, ctx: CallContext
    ) -> AnalysisResult:
        # Rewordings may lower-case and re-punctuate ("asr"): the marker is read loosely.
        first = "Line 10" if re.match(r"line 10\b", window[0].text, re.I) else window[0].text
        seen.append((len(window), first, rubric.blueprint, ctx.persona.name))
        found = re.search(r"score=(\d+)", window[-1].text)
        assert found is not None
        value = int(found.group(1)) + (0 if "we're" in window[1].text else 1)
        factors = {name: value for name in rubric.factor_names}
        return AnalysisResult(
            say_meter=SayMeter(score=value, factors=factors, reasoning="r"), suggestions=[]
        )

    report = await evaluate(load_set(tmp_path), fake, set_name="t", analyzer_name="fake")
    # 3 calls x (1 + one per rewording); every window is the last 20 of 30 messages.
    assert len(seen) == 3 * (1 + len(PERTURBATIONS))
    assert {s[:2] for s in seen} == {(WINDOW, "Line 10")}
    assert {s[2:] for s in seen} == {("security", "Test Persona")}
    assert report.overall.pairs_ordered_share == 1.0 and report.overall.band_accuracy == 1.0
    # This fake moves by one point when "we're" is written out.
    assert report.overall.max_shift == 1
    shifted = {k for c in report.conversations for k, v in c.perturbed.items() if v != c.score}
    assert shifted == {"expanded", "swapped", "combined"}


async def test_evaluate_without_robustness_and_bad_options(tmp_path: Path) -> None:
    write(tmp_path, conversation("sales", "poor"))
    calls = 0

    async def fake(
        window: Sequence[TranscriptLine], rubric: Rubric, ctx: CallContext
    ) -> AnalysisResult:
        nonlocal calls
        calls += 1
        factors = {name: 40 for name in rubric.factor_names}
        return AnalysisResult(
            say_meter=SayMeter(score=40, factors=factors, reasoning="r"), suggestions=[]
        )

    convs = load_set(tmp_path)
    report = await evaluate(convs, fake, set_name="t", analyzer_name="fake", perturbations=())
    assert calls == 1 and report.perturbations == [] and report.overall.pairs == 0
    with pytest.raises(ValueError, match="unknown perturbation"):
        await evaluate(convs, fake, set_name="t", analyzer_name="f", perturbations=["shout"])
    with pytest.raises(ValueError, match="concurrency"):
        await evaluate(convs, fake, set_name="t", analyzer_name="f", concurrency=0)
