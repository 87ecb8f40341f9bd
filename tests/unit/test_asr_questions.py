"""Transcripts from a speech recogniser often end every sentence with a full stop: a question
must still read as a question (by its words), and a statement must not turn into one."""

from __future__ import annotations

import random

import pytest

from analysis.models import TranscriptLine
from analysis.perception import question_kind, restore_questions, sentences
from analysis.perturbations import asr_style, perturb_window


@pytest.mark.parametrize(
    "text",
    [
        "what does a lost truck cost you on a bad day.",
        "how would you test that.",
        "do you have budget this quarter.",
        "could the team ship it by friday.",
        "and the part-timers how do they feel about all this.",
        "and when something fails how does maintenance find out.",
        "okay. can i ask what worries you most about changing it.",
        "which one of those would be the deal-breaker.",
        "who decides on budget.",
        "what happened with the alerts last time.",
        "that makes sense right.",
        "how many trucks do you run.",
    ],
)
def test_a_question_without_its_mark_is_restored(text: str) -> None:
    restored = restore_questions(text)
    assert restored.endswith("?")
    assert question_kind(sentences(restored)[-1]) is not None


@pytest.mark.parametrize(
    "text",
    [
        "what we did was add a cache.",
        "what happened was the database fell over.",
        "what worries me is the cost.",
        "what i would do is shard by tenant.",
        "how we handle it is simple.",
        "i know what you mean.",
        "which is why we are here.",
        "yeah that is right.",
        "the guy who fixes it is out this week.",
        "okay.",
    ],
)
def test_a_statement_stays_a_statement(text: str) -> None:
    assert restore_questions(text) == text


def test_text_with_question_marks_is_trusted_as_written() -> None:
    text = "Do you have budget. What happens next?"
    assert restore_questions(text) == text


def test_the_asr_rewording_drops_case_commas_and_question_marks() -> None:
    assert asr_style("Thanks, Sarah! What does it cost you?", random.Random(0)) == (
        "thanks sarah. what does it cost you."
    )
    window = [TranscriptLine(role="user", text="Hi, Sam. How is dispatch going?")]
    assert perturb_window(window, "asr")[0].text == "hi sam. how is dispatch going."


DISCOVERY_CALL = [
    ("assistant", "Hi, thanks for calling. We run forty trucks out of two depots."),
    ("user", "Thanks for making the time. How is dispatch going this quarter?"),
    ("assistant", "Honestly it is a mess, we keep losing trucks to breakdowns."),
    ("user", "What does a lost truck cost you on a typical day?"),
    ("assistant", "A few thousand dollars a day, more during the peak season."),
    ("user", "Who on your team feels that pain the most?"),
    ("assistant", "Our dispatchers. They rebuild routes by hand every morning."),
    ("user", "If that went away, what would your dispatchers do instead?"),
    ("assistant", "Plan ahead for once, and answer customers faster."),
    ("user", "How do you decide today which truck covers a broken one?"),
]


def test_a_speech_recogniser_transcript_scores_like_the_written_one() -> None:
    """The same open questions, lower-case and ending in full stops: discovery and the score
    barely move (before question marks were restored, discovery fell by half)."""
    from analysis.offline import analyze_offline
    from analysis.rubrics import rubric_for

    window = [TranscriptLine(role=role, text=text) for role, text in DISCOVERY_CALL]
    rubric = rubric_for("sales")
    written = analyze_offline(window, rubric).say_meter
    spoken = analyze_offline(perturb_window(window, "asr"), rubric).say_meter
    assert abs(written.factors["discovery"] - spoken.factors["discovery"]) <= 10, (
        written.factors,
        spoken.factors,
    )
    assert abs(written.score - spoken.score) <= 10, (written.score, spoken.score)
