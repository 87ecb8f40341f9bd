"""The rewordings behind the robustness figure: deterministic, meaning-preserving, real."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from analysis.evaluation import load_set
from analysis.models import TranscriptLine
from analysis.perturbations import (
    PERTURBATIONS,
    contract,
    expand_contractions,
    insert_fillers,
    perturb_window,
    swap_contractions,
    swap_synonyms,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = "I'm sure it's a big problem. We do not think the customer can start, and I am worried."
WINDOW = [
    TranscriptLine(role="assistant", text="Honestly, we're worried. It isn't a quick fix."),
    TranscriptLine(role="user", text=SAMPLE),
    TranscriptLine(role="assistant", text="No."),
]


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_same_seed_same_output(name: str) -> None:
    assert perturb_window(WINDOW, name, seed=7) == perturb_window(WINDOW, name, seed=7)


def test_seeds_change_the_random_transforms() -> None:
    outputs = {tuple(m.text for m in perturb_window(WINDOW, "fillers", seed=s)) for s in range(8)}
    assert len(outputs) > 1


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_roles_and_length_are_kept(name: str) -> None:
    out = perturb_window(WINDOW, name)
    assert [m.role for m in out] == [m.role for m in WINDOW]


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_every_dev_call_is_really_changed(name: str) -> None:
    """Each transform must change the windows the evaluation feeds it, or its robustness
    figure would be zero by construction. "contracted" can only change a window that has a
    two-word form to contract; every other transform changes every window."""
    unchanged = []
    for conv in load_set(REPO / "evalsets" / "dev"):
        before = [m.text for m in conv.window]
        after = [m.text for m in perturb_window(conv.window, name)]
        if after == before:
            unchanged.append(conv.id)
    if name == "contracted":  # only calls without any two-word form to contract
        assert len(unchanged) < 45
    else:
        assert not unchanged, unchanged


def test_fillers_go_at_pauses_and_keep_every_word() -> None:
    out = insert_fillers(SAMPLE, random.Random(1))
    assert out != SAMPLE
    original = SAMPLE.split()
    words = out.split()
    # Removing the inserted filler tokens gives the original text back.
    fillers = {"um,", "uh,", "you", "know,", "like,", "I", "mean,", "well,", "so,"}

    def kept(ws: list[str]) -> list[str]:
        return [w.lower() for w in ws if w not in fillers and w.lower() not in fillers]

    assert kept(words) == kept(original)
    assert insert_fillers("No.", random.Random(1)) == "No."


def test_expand_contractions() -> None:
    rng = random.Random(0)
    assert (
        expand_contractions("I'm sure we're fine, who'd know? It isn't. Can't.", rng)
        == "I am sure we are fine, who would know? It is not. Cannot."
    )
    assert expand_contractions("i\u2019m here", rng) == "I am here"


def test_contract() -> None:
    rng = random.Random(0)
    assert (
        contract("I am sure we are fine. It is not. Do not go. I would say that is it.", rng)
        == "I'm sure we're fine. It's not. Don't go. I'd say that's it."
    )
    # "let us" is left alone: "let us know" is not "let's know".
    assert contract("Let us know.", rng) == "Let us know."


def test_swap_flips_both_directions() -> None:
    rng = random.Random(0)
    assert swap_contractions("We're sure it is not. I do not know, who'd?", rng) == (
        "We are sure it's not. I don't know, who would?"
    )
    assert swap_contractions("No.", rng) == "No."


def test_synonyms_swap_both_ways_and_keep_case() -> None:
    text = "Problem. The problem is big, maybe a Large one, right now. A lot of it."
    assert swap_synonyms(text, random.Random(0)) == (
        "Issue. The issue is large, perhaps a Big one, at the moment. Lots of it."
    )
    # "issue" is also a verb, so it is never turned into "problem".
    assert swap_synonyms("We issue a refund.", random.Random(0)) == "We issue a refund."
    assert swap_synonyms("No.", random.Random(0)) == "No."
