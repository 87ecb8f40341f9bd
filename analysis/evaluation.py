"""How far an analyzer's Say Meter can be trusted, measured on labeled conversations.

A *set* is a directory of ``<blueprint>/<label>-<nn>.json`` files (format:
:class:`ConversationFile`, described in ``evalsets/README.md``). :func:`evaluate` scores
each conversation's last :data:`WINDOW` messages, the window the live gateway analyzes, with
any analyzer callable, then reports per blueprint and overall:

- **pairs ordered**: for every pair of conversations of one blueprint with different labels
  (poor < mediocre < strong), whether the better call scored higher. A tie counts as half a
  pair: an analyzer that gives everything 50 orders half of them, no better than chance.
  Pairs are never formed across blueprints, whose scales need not agree.
- **band accuracy**: the share of calls whose score falls in their expected band.
- **median score per label**.
- **paraphrase robustness**: the largest score change when the call is reworded by the
  deterministic transforms of :mod:`analysis.perturbations` (fillers, contractions,
  synonyms). Behaviour did not change, so the score should not either.

Nothing here knows which analyzer it runs: the callable is awaited, so the offline analyzer
(wrapped) and the OpenAI one fit the same slot. Files are read with plain ``pathlib``.
"""

from __future__ import annotations

import asyncio
import re
import statistics
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analysis.models import AnalysisResult, Band, Role, TranscriptLine, band_for
from analysis.perturbations import PERTURBATIONS, perturb_window
from analysis.rubrics import BLUEPRINTS, Rubric, rubric_for

__all__ = [
    "LABELS",
    "TARGETS",
    "WINDOW",
    "Analyzer",
    "CallContext",
    "ConversationFile",
    "ConversationScore",
    "EvalReport",
    "GroupReport",
    "LabeledConversation",
    "PersonaContext",
    "ScenarioContext",
    "SetFormatError",
    "TargetCheck",
    "evaluate",
    "load_file",
    "load_set",
    "summarize",
]

Label = Literal["poor", "mediocre", "strong"]
LABELS: tuple[Label, ...] = ("poor", "mediocre", "strong")
_RANK: Mapping[str, int] = {label: rank for rank, label in enumerate(LABELS)}
EXPECTED_BAND: Mapping[str, Band] = {"poor": "red", "mediocre": "yellow", "strong": "green"}

WINDOW = 20
"""Messages scored per conversation: the last 20, as the live gateway analyzes them."""

MIN_MESSAGES = 20
MAX_MESSAGES = 40
_FILE_NAME = re.compile(r"^(poor|mediocre|strong)-\d{2}\.json$")

Text = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=300)]


class SetFormatError(ValueError):
    """A set file or directory is not in the expected format; the message names the file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PersonaContext(_Strict):
    """Who the AI plays, in the field names of ``seeds/personas.json``."""

    name: ShortText
    role: ShortText
    company_context: Text
    personality_traits: list[ShortText] = Field(min_length=1, max_length=12)
    objection_patterns: list[ShortText] = Field(min_length=1, max_length=12)
    difficulty: int = Field(ge=1, le=5)


class ScenarioContext(_Strict):
    """The situation of the call, in the field names of ``seeds/scenarios.json``."""

    name: ShortText
    description: Text
    pain_points: list[ShortText] = Field(min_length=1, max_length=12)
    budget_range: ShortText | None = None
    decision_timeline: ShortText | None = None


class Message(_Strict):
    """One utterance: ``user`` is the candidate, ``assistant`` the AI persona."""

    role: Role
    text: Text


class ConversationFile(_Strict):
    """One labeled conversation file of an evaluation set (strict: unknown keys fail)."""

    title: ShortText
    blueprint: str
    label: Label
    expected_band: Band
    notes: Text
    persona: PersonaContext
    scenario: ScenarioContext
    messages: list[Message] = Field(min_length=MIN_MESSAGES, max_length=MAX_MESSAGES)

    @model_validator(mode="after")
    def _consistent(self) -> ConversationFile:
        if self.blueprint not in BLUEPRINTS:
            raise ValueError(f"blueprint {self.blueprint!r} is not one of {', '.join(BLUEPRINTS)}")
        if self.expected_band != EXPECTED_BAND[self.label]:
            raise ValueError(
                f"expected_band {self.expected_band!r} does not match label {self.label!r} "
                f"(expected {EXPECTED_BAND[self.label]!r})"
            )
        for index, (a, b) in enumerate(zip(self.messages, self.messages[1:], strict=False)):
            if a.role == b.role:
                raise ValueError(f"messages {index} and {index + 1} are both {a.role!r}")
        return self


@dataclass(frozen=True, slots=True)
class CallContext:
    """What an analyzer may know about the call besides the transcript."""

    persona: PersonaContext
    scenario: ScenarioContext


@dataclass(frozen=True, slots=True)
class LabeledConversation:
    """A loaded set file: ``id`` is ``<blueprint>/<file stem>``, unique within a set."""

    id: str
    path: Path
    data: ConversationFile

    @property
    def window(self) -> list[TranscriptLine]:
        return [TranscriptLine(role=m.role, text=m.text) for m in self.data.messages[-WINDOW:]]

    @property
    def context(self) -> CallContext:
        return CallContext(persona=self.data.persona, scenario=self.data.scenario)


Analyzer = Callable[[Sequence[TranscriptLine], Rubric, CallContext], Awaitable[AnalysisResult]]
"""An analyzer under test: window, rubric and call context in, an analysis out."""


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "file"
        parts.append(f"{where}: {e['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def load_file(path: Path) -> ConversationFile:
    """Parse and validate one set file; any problem raises :class:`SetFormatError`."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SetFormatError(f"{path}: cannot read: {err.strerror}") from None
    try:
        data = ConversationFile.model_validate_json(raw)
    except ValidationError as err:
        raise SetFormatError(f"{path}: {_describe(err)}") from None
    if path.parent.name != data.blueprint:
        raise SetFormatError(
            f"{path}: blueprint {data.blueprint!r} but the file is in {path.parent.name!r}/"
        )
    if not path.name.startswith(f"{data.label}-"):
        raise SetFormatError(f"{path}: label {data.label!r} but the file name says otherwise")
    return data


def load_set(directory: Path) -> list[LabeledConversation]:
    """Every conversation of the set in ``directory``, sorted by id.

    Each ``*.json`` under a blueprint directory must be named ``<label>-<nn>.json``;
    anything else (a stray file, a misspelled blueprint directory) is an error rather than
    silently skipped, so a set cannot quietly shrink.
    """
    if not directory.is_dir():
        raise SetFormatError(f"{directory}: not a directory")
    found: list[LabeledConversation] = []
    for path in sorted(directory.glob("*/*.json")):
        if not _FILE_NAME.match(path.name):
            raise SetFormatError(f"{path}: file name must be <poor|mediocre|strong>-<nn>.json")
        rel = path.relative_to(directory)
        found.append(LabeledConversation(f"{rel.parent}/{path.stem}", path, load_file(path)))
    if not found:
        raise SetFormatError(f"{directory}: no <blueprint>/<label>-<nn>.json files")
    return found


# --- report -----------------------------------------------------------------------------


class ConversationScore(BaseModel):
    """One conversation's score, and how far each rewording moved it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    blueprint: str
    label: Label
    expected_band: Band
    score: int
    band: Band
    perturbed: dict[str, int] = Field(default_factory=dict)

    @property
    def band_ok(self) -> bool:
        return self.band == self.expected_band

    @property
    def max_shift(self) -> int | None:
        if not self.perturbed:
            return None
        return max(abs(s - self.score) for s in self.perturbed.values())


class GroupReport(BaseModel):
    """The figures for one blueprint, or for the whole set (``name == "overall"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    conversations: int
    pairs: int
    pairs_ordered: float = Field(description="correctly ordered pairs; a tie counts 0.5")
    ties: int
    pairs_ordered_share: float | None
    bands_right: int
    band_accuracy: float
    median: dict[str, float | None]
    max_shift: int | None = Field(description="largest score change under a rewording")
    max_shift_at: str | None = Field(description="<conversation id>:<transform>")


class TargetCheck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    value: float | None
    met: bool


class EvalReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    set: str
    analyzer: str
    window: int
    tie_rule: Literal["half"] = "half"
    perturbations: list[str]
    blueprints: list[GroupReport]
    overall: GroupReport
    targets: list[TargetCheck]
    conversations: list[ConversationScore]


TARGETS: Mapping[str, float] = {
    "pairs_ordered_share_min_per_blueprint": 0.90,
    "band_accuracy_min": 0.80,
    "median_strong_min": 85.0,
    "median_poor_max": 35.0,
    "max_shift_max": 10.0,
}
"""Issue 14's targets for a trustworthy meter, checked in every report."""


def _pairs(scores: Sequence[ConversationScore]) -> tuple[int, float, int]:
    total, ordered, ties = 0, 0.0, 0
    for a, b in combinations(scores, 2):
        if a.blueprint != b.blueprint or a.label == b.label:
            continue
        low, high = (a, b) if _RANK[a.label] < _RANK[b.label] else (b, a)
        total += 1
        if high.score > low.score:
            ordered += 1
        elif high.score == low.score:
            ordered += 0.5
            ties += 1
    return total, ordered, ties


def _group(name: str, scores: Sequence[ConversationScore]) -> GroupReport:
    total, ordered, ties = _pairs(scores)
    right = sum(s.band_ok for s in scores)
    shifts = [
        (abs(value - s.score), f"{s.id}:{transform}")
        for s in scores
        for transform, value in s.perturbed.items()
    ]
    worst = max(shifts, key=lambda item: item[0]) if shifts else None
    return GroupReport(
        name=name,
        conversations=len(scores),
        pairs=total,
        pairs_ordered=ordered,
        ties=ties,
        pairs_ordered_share=ordered / total if total else None,
        bands_right=right,
        band_accuracy=right / len(scores) if scores else 0.0,
        median={label: _median([s.score for s in scores if s.label == label]) for label in LABELS},
        max_shift=worst[0] if worst else None,
        max_shift_at=worst[1] if worst else None,
    )


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _targets(groups: Sequence[GroupReport], overall: GroupReport) -> list[TargetCheck]:
    shares = [g.pairs_ordered_share for g in groups if g.pairs_ordered_share is not None]
    worst_share = min(shares) if shares else None
    strong, poor = overall.median["strong"], overall.median["poor"]

    def check(target: str, value: float | None, ok: Callable[[float], bool]) -> TargetCheck:
        return TargetCheck(target=target, value=value, met=value is not None and ok(value))

    return [
        check(
            "pairs ordered >= 90% in every blueprint",
            worst_share,
            lambda v: v >= TARGETS["pairs_ordered_share_min_per_blueprint"],
        ),
        check(
            "bands right >= 80%",
            overall.band_accuracy,
            lambda v: v >= TARGETS["band_accuracy_min"],
        ),
        check("median strong >= 85", strong, lambda v: v >= TARGETS["median_strong_min"]),
        check("median poor <= 35", poor, lambda v: v <= TARGETS["median_poor_max"]),
        check(
            "paraphrase change <= 10",
            None if overall.max_shift is None else float(overall.max_shift),
            lambda v: v <= TARGETS["max_shift_max"],
        ),
    ]


def summarize(
    scores: Sequence[ConversationScore],
    *,
    set_name: str,
    analyzer: str,
    perturbations: Iterable[str] = (),
) -> EvalReport:
    """The report for already-scored conversations (pure: no analyzer involved)."""
    by_blueprint: dict[str, list[ConversationScore]] = {}
    for s in scores:
        by_blueprint.setdefault(s.blueprint, []).append(s)
    groups = [_group(name, by_blueprint[name]) for name in sorted(by_blueprint)]
    overall = _group("overall", scores)
    # Overall pairs are the sum of the per-blueprint pairs (never across blueprints),
    # which _pairs already guarantees by skipping cross-blueprint pairs.
    return EvalReport(
        set=set_name,
        analyzer=analyzer,
        window=WINDOW,
        perturbations=list(perturbations),
        blueprints=groups,
        overall=overall,
        targets=_targets(groups, overall),
        conversations=list(scores),
    )


async def _score_one(
    conversation: LabeledConversation,
    analyze: Analyzer,
    perturbations: Sequence[str],
    seed: int,
    limit: asyncio.Semaphore,
) -> ConversationScore:
    data = conversation.data
    rubric = rubric_for(data.blueprint)
    window = conversation.window
    context = conversation.context

    async def run(lines: Sequence[TranscriptLine]) -> int:
        async with limit:
            result = await analyze(lines, rubric, context)
        return result.say_meter.score

    base = await run(window)
    variants = await asyncio.gather(
        *(run(perturb_window(window, name, seed)) for name in perturbations)
    )
    return ConversationScore(
        id=conversation.id,
        blueprint=data.blueprint,
        label=data.label,
        expected_band=data.expected_band,
        score=base,
        band=band_for(base),
        perturbed=dict(zip(perturbations, variants, strict=True)),
    )


async def evaluate(
    conversations: Sequence[LabeledConversation],
    analyze: Analyzer,
    *,
    set_name: str,
    analyzer_name: str,
    perturbations: Sequence[str] | None = None,
    seed: int = 0,
    concurrency: int = 4,
) -> EvalReport:
    """Score every conversation (and its rewordings) with ``analyze`` and summarize.

    ``perturbations`` defaults to every transform of :data:`PERTURBATIONS`; pass ``()`` to
    skip robustness (one analysis per conversation instead of seven). ``concurrency`` bounds
    analyses in flight, which matters for a rate-limited model API.
    """
    names = list(PERTURBATIONS) if perturbations is None else list(perturbations)
    unknown = sorted(set(names) - set(PERTURBATIONS))
    if unknown:
        raise ValueError(f"unknown perturbation(s): {', '.join(unknown)}")
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    limit = asyncio.Semaphore(concurrency)
    scores = await asyncio.gather(
        *(_score_one(c, analyze, names, seed, limit) for c in conversations)
    )
    return summarize(scores, set_name=set_name, analyzer=analyzer_name, perturbations=names)
