"""The prompt's per-track examples and context blocks (pure: no model, no server)."""

from __future__ import annotations

import pytest

from analysis.context import CallContext, PersonaContext, ScenarioContext
from analysis.prompt import build_messages, format_context, system_prompt
from analysis.rubrics import RUBRICS, rubric_for

ENGINEERING = ("10x the traffic", "dependency", "CVE", "times out", "latency")


def test_an_hr_interview_never_gets_an_engineering_curveball() -> None:
    prompt = system_prompt(rubric_for("HR"))
    assert "formal grievance" in prompt
    assert not any(word in prompt for word in ENGINEERING)


@pytest.mark.parametrize("blueprint", sorted(RUBRICS))
def test_every_track_has_its_own_curveball_example(blueprint: str) -> None:
    others = {b: system_prompt(rubric_for(b)) for b in RUBRICS if b != blueprint}
    mine = system_prompt(rubric_for(blueprint))
    section = mine.split("5. DYNAMIC CURVEBALLS:")[1].split("6. FOLLOW-UP")[0]
    line = next(x for x in section.splitlines() if "Example:" in x)
    assert all(line not in other for other in others.values())
    # The example answer's overall score agrees with its factors, as the contract asks.
    assert '"score"' in mine and "the weighted average of the factors" in mine


def test_no_context_means_no_blocks_and_empty_values_are_left_out() -> None:
    assert format_context(None) == "" and format_context(CallContext()) == ""
    text = format_context(
        CallContext(PersonaContext.of("Ana", "CTO", ["", "calm"]), ScenarioContext.of("S", "D"))
    )
    assert text == (
        "<persona>\nName: Ana\nRole: CTO\nTraits:\n- calm\n</persona>\n\n"
        "<scenario>\nSituation: S\nDescription: D\n</scenario>\n\n"
    )
    user = build_messages([], rubric_for("sales"), context=CallContext())[1]["content"]
    assert "<persona>" not in user and "<transcript>" in user
