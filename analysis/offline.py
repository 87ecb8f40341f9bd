"""The built-in analyzer used when there is no OpenAI key: explainable and deterministic.

:func:`analyze_offline` uses the semantic analyzer (:mod:`analysis.semantic`: sentence
embeddings against behaviour prototypes) when its model loads, and the lexicon analyzer
below (:func:`analyze_lexicon`, phrase lists) otherwise; :func:`analysis.semantic.status`
says which one this process runs.

The lexicon analyzer's scoring works in three steps, each small enough to explain to an interviewer:

1. :func:`~analysis.features.extract_features` counts what happened (talk share,
   questions, acknowledge-then-explore, pressure phrases, concrete next steps...).
2. :func:`~analysis.signals.signals` turns the counts into seven 0-100 signals.
3. :func:`~analysis.signals.factor_scores` blends them into the rubric's factors; the
   overall score uses the rubric weights. :mod:`analysis.coaching` words the suggestions.

:func:`analyze_offline` is a pure top-level function over picklable values, so callers can
run it in a ``ProcessPoolExecutor`` without blocking the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analysis.coaching import suggest
from analysis.features import CallFeatures, extract_features
from analysis.models import MAX_REASONING_CHARS, AnalysisResult, SayMeter, TranscriptLine
from analysis.rubrics import Rubric, rubric_for
from analysis.signals import CONFIDENT_TURNS, factor_scores, signals

__all__ = ["analyze_lexicon", "analyze_lines", "analyze_offline", "init_worker"]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _concerns(f: CallFeatures, persona: str) -> str:
    if not f.objection_responses:
        return f"no {persona} concerns to answer yet"
    probed = f.explored_objections + f.questioned_objections
    return (
        f"{probed} of {_plural(f.objection_responses, f'{persona} concern')} explored with a "
        f"question ({f.explored_objections} also acknowledged)"
    )


def _reasoning(f: CallFeatures, factors: Mapping[str, int], rubric: Rubric) -> str:
    persona = rubric.persona_label.lower()
    if f.candidate_turns == 0:
        return (
            f"No candidate speech in this window yet ({f.persona_turns} {persona} lines); "
            "scores are neutral until the candidate talks."
        )
    ranked = sorted(factors.items(), key=lambda kv: (kv[1], kv[0]))
    weakest, strongest = ranked[0], ranked[-1]
    parts = [
        f"Candidate spoke {round(100 * f.talk_share)}% of words",
        f"{_plural(f.questions, 'question')} in {_plural(f.candidate_turns, 'candidate turn')} "
        f"({f.open_questions} open, {f.closed_questions} closed)",
        f"longest turn {f.longest_monologue} words",
        _concerns(f, persona),
        f"{f.dismissive} dismissive and {f.pressure} pressure turns",
        f"pain/impact terms {f.pain_terms}, value terms {f.value_terms}, "
        f"{_plural(f.grounded_value_turns, 'quantified value point')} tied to the {persona}'s "
        f"words",
        f"{f.next_steps} next-step mentions ({f.concrete_next_steps} with a concrete time, "
        f"{f.vague_next_steps} vague)",
    ]
    text = "; ".join(parts) + (
        f". Strongest: {strongest[0]} {strongest[1]}; weakest: {weakest[0]} {weakest[1]}."
    )
    if f.candidate_turns < CONFIDENT_TURNS:
        text += " Few candidate turns so far: scores are pulled towards 50."
    return text[:MAX_REASONING_CHARS]


def analyze_offline(
    window: Sequence[TranscriptLine], rubric: Rubric, language: str = "en"
) -> AnalysisResult:
    """Score ``window`` with ``rubric`` without a remote model (same contract as OpenAI's):
    the semantic analyzer when its model is available, else the lexicon analyzer.

    Both are English only; the semantic one says so in its reasoning for another language.
    """
    # Imported here: numpy and the model stay out of processes that never analyze offline
    # (the gateway itself imports this module for the pool's entry point).
    from analysis.semantic import analyze_semantic

    result = analyze_semantic(window, rubric, language)
    return result if result is not None else analyze_lexicon(window, rubric, language)


def init_worker() -> None:
    """Process-pool initializer: load the semantic model once, before the first window."""
    from analysis import semantic

    semantic.init_worker()


def analyze_lexicon(
    window: Sequence[TranscriptLine], rubric: Rubric, language: str = "en"
) -> AnalysisResult:
    """The phrase-list analyzer: the fallback when the semantic model cannot be loaded.

    ``language`` is accepted for parity with the model analyzer; the texts are English only
    (a fixed vocabulary cannot be translated honestly).
    """
    del language
    features = extract_features(window)
    signal_values = signals(features)
    factors = factor_scores(signal_values, rubric)
    score = rubric.weighted_score(factors)
    return AnalysisResult(
        say_meter=SayMeter(
            score=score, factors=factors, reasoning=_reasoning(features, factors, rubric)
        ),
        suggestions=suggest(features, signal_values, factors, score, rubric),
    )


def analyze_lines(
    lines: Sequence[tuple[str, str]],
    blueprint: str,
    weights: Mapping[str, float],
    language: str = "en",
) -> AnalysisResult:
    """The process-pool entry point: plain data in. Pickling models and a rubric for a worker
    costs the parent ~70 us per run on a thread that holds the GIL its event loop needs;
    (role, text) pairs, a blueprint name and a weights dict cost a few microseconds."""
    window = [TranscriptLine(role=role, text=text) for role, text in lines]
    return analyze_offline(window, rubric_for(blueprint).with_weights(weights), language)
