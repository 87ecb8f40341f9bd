from __future__ import annotations

from analysis.feedback import SuggestionFeedback, feedback_guidance
from analysis.models import TranscriptLine
from analysis.prompt import build_messages
from analysis.rubrics import rubric_for


def test_too_little_history_gives_no_guidance() -> None:
    assert feedback_guidance([]) is None
    assert feedback_guidance([SuggestionFeedback("curveball", 9, 9, 0)]) is None
    assert feedback_guidance([SuggestionFeedback("unknown_kind", 50, 50, 0)]) is None


def test_guidance_names_rates_best_first_and_warns_about_dismissals() -> None:
    text = feedback_guidance(
        [
            SuggestionFeedback("context_injection", 20, 2, 14),
            SuggestionFeedback("curveball", 10, 6, 1),
            SuggestionFeedback("followup_question", 40, 8, 4),
        ]
    )
    assert text is not None
    lines = text.splitlines()
    assert lines[1].strip() == "- curveballs: offered 10, applied 60%, dismissed 10%"
    assert lines[3].strip().startswith("- context injections: offered 20, applied 10%")
    assert "act most on curveballs" in text
    assert "dismiss most context injections" in text


def test_guidance_goes_to_the_system_prompt_never_the_transcript_block() -> None:
    guidance = feedback_guidance([SuggestionFeedback("curveball", 12, 6, 0)])
    window = [TranscriptLine(role="user", text="hello")]
    system, user = build_messages(window, rubric_for("sales"), "en", guidance)
    assert guidance is not None and guidance in system["content"]
    assert "SUGGESTION FEEDBACK" in system["content"]
    assert guidance not in user["content"]
    plain_system, _ = build_messages(window, rubric_for("sales"), "en")
    assert "SUGGESTION FEEDBACK" not in plain_system["content"]
