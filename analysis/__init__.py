"""Pure analysis of interview transcripts: Say Meter scores and coaching suggestions.

This package imports only the standard library, pydantic, orjson and openai (and, in the
offline analyzer's workers, numpy and onnxruntime for :mod:`analysis.semantic`); the gateway,
storage and handlers layers import it, never the reverse. The OpenAI-backed analyzer
lives in :mod:`analysis.openai_analyzer` and is deliberately not re-exported here, so the
offline analyzer's worker processes do not pay for importing the OpenAI SDK.

Public surface:

* :mod:`analysis.models` - ``TranscriptLine``, ``AnalysisResult`` and the strict schema
* :mod:`analysis.rubrics` - per-blueprint factors and weights (``rubric_for``)
* :mod:`analysis.prompt` - the versioned prompt (``build_messages``)
* :mod:`analysis.offline` - ``analyze_offline``, the no-key analyzer (semantic, else lexicon)
* :mod:`analysis.semantic` - the semantic engine and ``status()`` (loaded / fallback)
* :mod:`analysis.openai_analyzer` - ``OpenAIAnalyzer``
* :mod:`analysis.errors` - ``AnalysisError``
"""

from __future__ import annotations

from analysis.errors import AnalysisError, AnalysisErrorReason
from analysis.models import (
    AnalysisResult,
    Band,
    Priority,
    SayMeter,
    Suggestion,
    SuggestionType,
    TranscriptLine,
    analysis_json_schema,
    band_for,
)
from analysis.offline import analyze_offline
from analysis.prompt import PROMPT_VERSION, build_messages
from analysis.rubrics import BLUEPRINTS, Factor, Rubric, rubric_for

__all__ = [
    "BLUEPRINTS",
    "PROMPT_VERSION",
    "AnalysisError",
    "AnalysisErrorReason",
    "AnalysisResult",
    "Band",
    "Factor",
    "Priority",
    "Rubric",
    "SayMeter",
    "Suggestion",
    "SuggestionType",
    "TranscriptLine",
    "analysis_json_schema",
    "analyze_offline",
    "band_for",
    "build_messages",
    "rubric_for",
]
