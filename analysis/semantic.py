"""The semantic offline analyzer: sentence embeddings judged against behaviour prototypes.

One engine per process (an analysis worker loads it once, on first use or from
:func:`init_worker`); a window then costs only the embeddings of messages it has not seen.
If the model cannot be loaded, :func:`status` says why and :func:`engine` returns None, and
:func:`analysis.offline.analyze_offline` falls back to the lexicon analyzer.

How a window is scored: :mod:`analysis.perception` reads what each message does,
:mod:`analysis.behaviour_score` turns that into the rubric's factors; the reasoning names
the two or three messages whose removal would change the score most, quoted, and
:mod:`analysis.guidance` words the suggestions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from analysis.behaviour_score import Evaluation, evaluate
from analysis.embedder import Embedder, ModelError, load_embedder
from analysis.guidance import suggest
from analysis.language import LANGUAGE_NAMES, guess_language
from analysis.models import MAX_REASONING_CHARS, AnalysisResult, SayMeter, TranscriptLine
from analysis.perception import HARMFUL, Blueprint, Perceived, blueprint_config, perceive
from analysis.rubrics import Rubric

__all__ = [
    "EngineStatus",
    "SemanticEngine",
    "analyze_semantic",
    "engine",
    "init_worker",
    "reset",
    "status",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """Whether this process analyzes with the model (``loaded``) or the lexicon (``fallback``).

    ``not_loaded``: nothing tried yet in this process. Picklable, so a pool can return it.
    """

    state: Literal["loaded", "fallback", "not_loaded"]
    reason: str
    model: str | None = None
    sha256: str | None = None
    load_seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "loaded"


class SemanticEngine:
    """The embedder plus each blueprint's embedded prototypes (built on first use)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._blueprints: dict[str, Blueprint] = {}
        self._lock = threading.Lock()

    def blueprint(self, name: str) -> Blueprint:
        with self._lock:
            found = self._blueprints.get(name)
            if found is None:
                found = blueprint_config(self.embedder, name)
                self._blueprints[name] = found
            return found

    def analyze(
        self, window: Sequence[TranscriptLine], rubric: Rubric, language: str = "en"
    ) -> AnalysisResult:
        blueprint = self.blueprint(rubric.blueprint)
        messages = perceive(window, self.embedder, blueprint)
        evaluation = evaluate(messages, blueprint, rubric)
        detected = guess_language(line.text for line in window)
        # What the model reads is the transcript: its detected language wins over the
        # persona's declared one; the declared one decides only when the text is too short.
        spoken = detected or language.lower()[:2] or "en"
        foreign = None if spoken == "en" else spoken
        factors = evaluation.factors
        if foreign:
            # The model reads English only: a score of a call it cannot read is noise.
            factors = {name: int(50 + (v - 50) * 0.3 + 0.5) for name, v in factors.items()}
        score = rubric.weighted_score(factors)
        reasoning = _reasoning(messages, evaluation, blueprint, rubric, score, foreign)
        suggestions = suggest(messages, evaluation, blueprint, rubric, score, factors)
        return AnalysisResult(
            say_meter=SayMeter(score=score, factors=factors, reasoning=reasoning),
            suggestions=suggestions,
        )


_engine: SemanticEngine | None = None
_status = EngineStatus("not_loaded", "the model has not been loaded in this process yet")
_load_lock = threading.Lock()


def _failed() -> bool:
    return _status.state == "fallback"


def engine() -> SemanticEngine | None:
    """This process's engine, loading it on first call; None (and a logged reason) if it
    cannot be loaded. A failure is remembered: the lexicon serves until :func:`reset`."""
    global _engine, _status
    if _engine is not None or _failed():
        return _engine
    with _load_lock:
        if _engine is not None or _failed():
            return _engine
        started = time.perf_counter()
        try:
            embedder = load_embedder()
            built = SemanticEngine(embedder)
            built.blueprint("sales")  # the common prototypes, embedded once
        except (ModelError, OSError, ValueError, KeyError) as exc:
            _status = EngineStatus("fallback", f"semantic model unavailable: {exc}")
            log.error("offline analysis falls back to the lexicon analyzer: %s", exc)
            return None
        seconds = time.perf_counter() - started
        files = embedder.files
        _status = EngineStatus(
            "loaded",
            f"{files.name} ({files.source}) loaded in {seconds:.2f} s",
            model=files.name,
            sha256=files.model_sha256,
            load_seconds=seconds,
        )
        log.info("semantic analyzer ready: %s sha256=%s", _status.reason, files.model_sha256)
        _engine = built
        return _engine


def status() -> EngineStatus:
    """The engine's state in this process (loads the model if nothing was tried yet).

    For /readyz in a process that runs the analysis itself; a process pool can run this
    function in a worker to learn the workers' state."""
    engine()
    return _status


def init_worker() -> None:
    """Process-pool initializer: load the model before the first window arrives."""
    engine()


def reset() -> None:
    """Forget the engine and any failure (tests; an operator changing ANALYSIS_MODEL_DIR)."""
    global _engine, _status
    with _load_lock:
        _engine = None
        _status = EngineStatus("not_loaded", "reset")


def analyze_semantic(
    window: Sequence[TranscriptLine], rubric: Rubric, language: str = "en"
) -> AnalysisResult | None:
    """The semantic result for ``window``, or None when the model is unavailable."""
    current = engine()
    return None if current is None else current.analyze(window, rubric, language)


# -- reasoning --------------------------------------------------------------------------


def _quote(text: str, limit: int = 70) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return f"\u201c{flat}\u201d"
    cut = flat[:limit].rsplit(" ", 1)[0]
    return f"\u201c{cut}\u2026\u201d"


def _without(message: Perceived) -> Perceived:
    """The message as if it had said nothing in particular (same length)."""
    return replace(message, strengths={}, questions=[], dated=False)


def _impacts(
    messages: Sequence[Perceived], blueprint: Blueprint, rubric: Rubric, score: int
) -> list[tuple[float, Perceived]]:
    out: list[tuple[float, Perceived]] = []
    for i, m in enumerate(messages):
        trial = list(messages)
        trial[i] = _without(m)
        other = rubric.weighted_score(evaluate(trial, blueprint, rubric).factors)
        out.append((float(score - other), m))
    return out


def _describe(
    messages: Sequence[Perceived],
    m: Perceived,
    delta: float,
    ev: Evaluation,
    bp: Blueprint,
    who: str,
) -> str:
    """What ``m`` did, in plain words, consistent with the sign of its effect."""
    labels = bp.labels
    if m.role == "assistant":
        for s in ev.next_steps:
            if s.answer == m.index and s.outcome in ("accepted", "refused"):
                verb = "accepted" if s.outcome == "accepted" else "declined"
                return f"the {who} {verb} the next step"
        reactions = ("accepts", "positive") if delta > 0 else ("refuses", "disengages", "concern")
        best = max(reactions, key=lambda r: m.strengths.get(r, 0.0))
        if m.strengths.get(best, 0.0) < 0.3:
            return f"the {who}'s reply"
        return f"the {who} {labels.get(f'persona:{best}', best)}"
    for s in ev.next_steps:
        if s.proposal == m.index and s.weight >= 0.5:
            if s.outcome == "accepted":
                return f"proposed a next step the {who} accepted"
            if s.outcome == "refused":
                return f"proposed a next step the {who} declined"
            return f"proposed a next step the {who} did not take up"
    for c in ev.concerns:
        if c.reply == m.index:
            if c.handled < 0.35 and delta < 0:
                return f"left the {who}'s concern unanswered"
            if c.handled >= 0.5 and delta > 0:
                return f"answered the {who}'s concern"
    pool = {k: v for k, v in m.strengths.items() if (k in HARMFUL) == (delta < 0)}
    if delta > 0 and "open" in m.questions and max(pool.values(), default=0.0) < 0.5:
        return "asked an open question"
    if delta < 0 and "leading" in m.questions:
        return "asked a leading question"
    if delta < 0 and len(m.questions) >= 3:
        return "fired several questions at once"
    if delta < 0 and m.words > bp.monologue_words:
        return f"spoke at length ({m.words} words)"
    if pool and max(pool.values()) >= 0.45:
        best = max(pool, key=lambda k: pool[k])
        return labels.get(best, best)
    if delta > 0:
        asked = m.index > 0 and messages[m.index - 1].text.rstrip().endswith("?")
        return "answered what was asked" if asked else "moved the conversation forward"
    return "lost ground"


def _reasoning(
    messages: Sequence[Perceived],
    ev: Evaluation,
    blueprint: Blueprint,
    rubric: Rubric,
    score: int,
    foreign: str | None,
) -> str:
    who = rubric.persona_label.lower()
    parts: list[str] = []
    if foreign:
        name = LANGUAGE_NAMES.get(foreign, foreign)
        parts.append(
            f"Offline analysis is English only and this call is in {name}: the scores stay "
            "near the middle and should not be trusted; use the OpenAI analyzer for it."
        )
    if ev.candidate_turns == 0:
        parts.append(
            f"No candidate speech in this window yet ({ev.persona_turns} {who} lines); "
            "scores are neutral until the candidate talks."
        )
        return " ".join(parts)[:MAX_REASONING_CHARS]
    ranked = sorted(_impacts(messages, blueprint, rubric, score), key=lambda t: -abs(t[0]))
    moments = [(d, m) for d, m in ranked if abs(d) >= 1][:3]
    if moments:
        said = []
        for delta, m in moments:
            speaker = "the candidate " if m.role == "user" else ""
            what = _describe(messages, m, delta, ev, blueprint, who)
            sign = "+" if delta > 0 else "-"
            said.append(f"{speaker}{what} ({sign}{abs(round(delta))}): {_quote(m.text)}")
        parts.append("What moved the score most: " + "; ".join(said) + ".")
    labels = {f.name: f.label for f in rubric.factors}
    factors = sorted(ev.factors.items(), key=lambda kv: (kv[1], kv[0]))
    (low_name, low), (high_name, high) = factors[0], factors[-1]
    parts.append(
        f"The candidate spoke {round(100 * ev.talk_share)}% of the words; strongest: "
        f"{labels[high_name]} {high}, weakest: {labels[low_name]} {low}."
    )
    if ev.candidate_turns < 4:
        parts.append("Few candidate turns so far, so the scores stay close to the middle.")
    return " ".join(parts)[:MAX_REASONING_CHARS]
