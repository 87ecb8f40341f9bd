"""`interview-gateway eval`: score a labeled conversation set and say how far the meter holds.

Loads a set (default ``evalsets/dev``), runs the chosen analyzer on every conversation's last
20 messages and on six rewordings of each, and prints pairs ordered, band accuracy, median
per label and the largest rewording change, per blueprint and overall, against issue 14's
targets. ``--json`` prints the full :class:`~analysis.evaluation.EvalReport` instead.

The analyzer gets the persona and scenario of each file when its entry point accepts them
(keyword ``persona``/``scenario`` as dicts in the seed files' field names, or ``context``
as ``{"persona": ..., "scenario": ...}``); today's analyzers take neither, so the
transcript alone is scored.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from analysis import context as model_context
from analysis.errors import AnalysisError
from analysis.evaluation import (
    WINDOW,
    Analyzer,
    CallContext,
    EvalReport,
    GroupReport,
    SetFormatError,
    evaluate,
    load_set,
)
from analysis.models import AnalysisResult, TranscriptLine
from analysis.offline import analyze_offline
from analysis.rubrics import Rubric
from gateway.settings import Settings, SettingsError

if TYPE_CHECKING:
    import openai

__all__ = ["DEFAULT_SET", "add_parser", "context_kwargs", "render", "run"]

DEFAULT_SET = Path(__file__).resolve().parents[2] / "evalsets" / "dev"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "eval",
        help="score a labeled conversation set and report how far the Say Meter holds",
        description=(
            "Score every conversation of a labeled set (default evalsets/dev) on its last "
            f"{WINDOW} messages and print, per blueprint and overall: pairs ordered, band "
            "accuracy, median score per label and the largest score change under rewording. "
            "The openai analyzer reads OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_MODEL."
        ),
    )
    p.add_argument(
        "--analyzer", choices=("offline", "openai"), default="offline", help="default offline"
    )
    p.add_argument("--set", dest="set_dir", type=Path, default=DEFAULT_SET, help="set directory")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--calls", action="store_true", help="also list every conversation's score")
    p.add_argument(
        "--no-robustness",
        action="store_true",
        help="skip the rewordings (one analysis per conversation instead of seven)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the rewordings (default 0)")
    p.add_argument("--concurrency", type=int, default=4, help="analyses in flight (default 4)")
    p.set_defaults(func=run)


def context_kwargs(func: Callable[..., Any], context: CallContext) -> dict[str, Any]:
    """The persona/scenario keywords ``func`` accepts, filled from ``context``."""
    params = inspect.signature(func).parameters
    persona = context.persona.model_dump()
    scenario = context.scenario.model_dump(exclude_none=True)
    kwargs: dict[str, Any] = {}
    if "persona" in params:
        kwargs["persona"] = persona
    if "scenario" in params:
        kwargs["scenario"] = scenario
    if "context" in params:
        kwargs["context"] = {"persona": persona, "scenario": scenario}
    return kwargs


def _offline() -> Analyzer:
    async def analyze(
        window: Sequence[TranscriptLine], rubric: Rubric, context: CallContext
    ) -> AnalysisResult:
        return analyze_offline(window, rubric, **context_kwargs(analyze_offline, context))

    return analyze


def _openai_settings() -> tuple[Settings, str]:
    """The environment's OpenAI settings and key (the same variables `serve` reads)."""
    try:
        settings = Settings()
    except ValidationError as err:
        raise SettingsError(str(err)) from None
    if settings.openai_api_key is None:
        raise SettingsError("OPENAI_API_KEY: required for --analyzer openai")
    return settings, settings.openai_api_key.get_secret_value()


def _openai(settings: Settings, key: str) -> tuple[Analyzer, openai.AsyncOpenAI]:
    import openai  # here: the SDK's import costs about a second every other command skips

    from analysis.openai_analyzer import OpenAIAnalyzer

    client = openai.AsyncOpenAI(
        api_key=key,
        base_url=settings.openai_base_url,
        max_retries=0,
    )
    model = OpenAIAnalyzer(client, model=settings.openai_model, timeout=settings.openai_timeout_s)

    async def analyze(
        window: Sequence[TranscriptLine], rubric: Rubric, context: CallContext
    ) -> AnalysisResult:
        return await model.analyze(window, rubric, context=_for_model(context))

    return analyze, client


def _for_model(context: CallContext) -> model_context.CallContext:
    """The set file's persona and scenario as the prompt's context blocks (as `serve` sends)."""
    p, s = context.persona, context.scenario
    return model_context.CallContext(
        model_context.PersonaContext.of(
            p.name, p.role, p.personality_traits, p.objection_patterns, p.difficulty
        ),
        model_context.ScenarioContext.of(
            s.name, s.description, s.pain_points, s.budget_range, s.decision_timeline
        ),
    )


async def _run(args: argparse.Namespace) -> EvalReport:
    conversations = load_set(args.set_dir)
    perturbations = () if args.no_robustness else None
    options: dict[str, Any] = {
        "set_name": _shown(args.set_dir),
        "perturbations": perturbations,
        "seed": args.seed,
        "concurrency": args.concurrency,
    }
    if args.analyzer == "offline":
        return await evaluate(conversations, _offline(), analyzer_name="offline", **options)
    settings, key = _openai_settings()
    analyze, client = _openai(settings, key)
    async with client:
        return await evaluate(
            conversations, analyze, analyzer_name=f"openai:{settings.openai_model}", **options
        )


def _shown(path: Path) -> str:
    """The set as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{round(100 * value):3d}%"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


def _row(g: GroupReport) -> str:
    pairs = f"{_num(g.pairs_ordered)}/{g.pairs}"
    bands = f"{g.bands_right}/{g.conversations}"
    medians = " / ".join(_num(g.median[label]) for label in ("poor", "mediocre", "strong"))
    shift = "-" if g.max_shift is None else f"{g.max_shift} ({g.max_shift_at})"
    return (
        f"{g.name:<15} {g.conversations:>5}  {pairs:>9} {_pct(g.pairs_ordered_share)}  "
        f"{bands:>6} {_pct(g.band_accuracy)}  {medians:<20}  {shift}"
    )


def render(report: EvalReport, calls: bool = False) -> str:
    """The report as a plain-text table (what `eval` prints without --json)."""
    lines = [
        f"Evaluation of {report.set} with the {report.analyzer} analyzer",
        f"(last {report.window} messages of each call; a tied pair counts half; rewordings: "
        f"{', '.join(report.perturbations) or 'none'})",
        "",
        f"{'blueprint':<15} {'calls':>5}  {'pairs ordered':>14}  {'bands right':>11}  "
        f"{'median p / m / s':<20}  max change (where)",
    ]
    lines += [_row(g) for g in report.blueprints]
    lines += [_row(report.overall), "", "Targets (issue 14):"]
    for t in report.targets:
        mark = "met" if t.met else "NOT met"
        value = "-" if t.value is None else f"{t.value:.2f}".rstrip("0").rstrip(".")
        lines.append(f"  {mark:<8} {t.target} (now {value})")
    if calls:
        lines += ["", f"{'conversation':<28} {'label':<9} {'score':>5}  band    expected  change"]
        for c in report.conversations:
            change = "-" if c.max_shift is None else str(c.max_shift)
            mark = "" if c.band_ok else "  <- wrong band"
            lines.append(
                f"{c.id:<28} {c.label:<9} {c.score:>5}  {c.band:<7} {c.expected_band:<9} "
                f"{change:>6}{mark}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        print("interview-gateway eval: error: --concurrency must be >= 1", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_run(args))
    except SetFormatError as err:
        print(f"interview-gateway eval: error: {err}", file=sys.stderr)
        return 1
    except AnalysisError as err:
        # A figure over a partly scored set would mislead: stop, and say why.
        print(f"interview-gateway eval: error: analysis failed: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render(report, calls=args.calls))
    return 0
