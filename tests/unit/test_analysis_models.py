"""The analysis contract: validation of model answers, bands, the strict schema."""

from __future__ import annotations

import pickle
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from analysis.errors import AnalysisError
from analysis.models import (
    MAX_MODEL_SUGGESTIONS,
    MAX_SUGGESTIONS,
    MIN_MODEL_SUGGESTIONS,
    AnalysisResult,
    SayMeter,
    Suggestion,
    TranscriptLine,
    analysis_json_schema,
    band_for,
)
from analysis.rubrics import RUBRICS, rubric_for

# The result JSON of the design's "Real-Time Analytics Engine" section, verbatim.
DESIGN_EXAMPLE: dict[str, Any] = {
    "say_meter": {
        "score": 75,
        "factors": {
            "rapport": 80,
            "discovery": 70,
            "objection_handling": 60,
            "value_articulation": 75,
            "closing_momentum": 65,
        },
        "reasoning": "Candidate is building good rapport but needs to dig deeper on pain points.",
    },
    "suggestions": [
        {
            "type": "context_injection",
            "text": "Show more interest when candidate mentions cost savings",
            "priority": "medium",
        },
        {
            "type": "curveball",
            "text": "Prospect's boss just asked to see competitive quotes",
            "priority": "high",
            "label": "Competitive Pressure",
        },
        {
            "type": "followup_question",
            "text": "Ask: What does success look like 90 days after implementation?",
            "priority": "high",
        },
    ],
}


def _example(**meter: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(orjson.dumps(DESIGN_EXAMPLE))
    data["say_meter"].update(meter)
    return data


def test_design_example_validates() -> None:
    result = AnalysisResult.model_validate(DESIGN_EXAMPLE)
    assert result.say_meter.score == 75
    assert result.say_meter.band == "yellow"
    assert [s.type for s in result.suggestions] == [
        "context_injection",
        "curveball",
        "followup_question",
    ]
    assert result.suggestions[1].label == "Competitive Pressure"
    assert result.suggestions[0].label is None
    assert result.missing_factors(rubric_for("sales")) == []
    assert result.unknown_factors(rubric_for("sales")) == []


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "red"), (49, "red"), (50, "yellow"), (79, "yellow"), (80, "green"), (100, "green")],
)
def test_band_boundaries(score: int, band: str) -> None:
    assert band_for(score) == band
    assert SayMeter(score=score, factors={}, reasoning="").band == band


@pytest.mark.parametrize("score", [-1, 101, 150, 75.5, "high", None])
def test_out_of_range_or_wrong_type_score_is_rejected(score: Any) -> None:
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(_example(score=score))


@pytest.mark.parametrize("value", [-5, 101])
def test_out_of_range_factor_is_rejected(value: int) -> None:
    data = _example()
    data["say_meter"]["factors"]["rapport"] = value
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)


@pytest.mark.parametrize(
    "path",
    [("say_meter",), ("suggestions",), ("say_meter", "score"), ("say_meter", "factors"),
     ("say_meter", "reasoning")],
)  # fmt: skip
def test_missing_fields_are_rejected(path: tuple[str, ...]) -> None:
    data = _example()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)


def test_unknown_keys_from_the_model_are_rejected() -> None:
    data = _example()
    data["say_meter"]["confidence"] = 0.9
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)
    data = _example()
    data["suggestions"][0]["url"] = "http://evil.example"
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)
    data = _example()
    data["extra"] = 1
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)


def test_reasoning_length_is_capped() -> None:
    SayMeter(score=1, factors={}, reasoning="x" * 2000)
    with pytest.raises(ValidationError):
        SayMeter(score=1, factors={}, reasoning="x" * 2001)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "advice", "text": "x", "priority": "low"},
        {"type": "curveball", "text": "", "priority": "low"},
        {"type": "curveball", "text": "x" * 1001, "priority": "low"},
        {"type": "curveball", "text": "x", "priority": "urgent"},
        {"type": "curveball", "text": "x", "priority": "low", "label": "L" * 81},
        {"type": "curveball", "priority": "low"},
    ],
)
def test_invalid_suggestions_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Suggestion.model_validate(bad)


def test_suggestion_count_is_capped() -> None:
    data = _example()
    data["suggestions"] = [DESIGN_EXAMPLE["suggestions"][0]] * (MAX_SUGGESTIONS + 1)
    with pytest.raises(ValidationError):
        AnalysisResult.model_validate(data)
    data["suggestions"] = data["suggestions"][:MAX_SUGGESTIONS]
    AnalysisResult.model_validate(data)


def test_result_round_trips_through_json_and_pickle() -> None:
    result = AnalysisResult.model_validate(DESIGN_EXAMPLE)
    # band is a property, not a dumped field, so a dump validates again under extra=forbid
    assert "band" not in result.model_dump()["say_meter"]
    assert AnalysisResult.model_validate(orjson.loads(orjson.dumps(result.model_dump()))) == result
    assert AnalysisResult.model_validate_json(result.model_dump_json()) == result
    assert pickle.loads(pickle.dumps(result)) == result


def test_models_are_frozen() -> None:
    result = AnalysisResult.model_validate(DESIGN_EXAMPLE)
    with pytest.raises(ValidationError):
        result.say_meter.score = 1  # type: ignore[misc]
    line = TranscriptLine(role="user", text="hi")
    with pytest.raises(ValidationError):
        line.text = "bye"  # type: ignore[misc]


def test_transcript_line() -> None:
    line = TranscriptLine.model_validate(
        {"role": "assistant", "text": "Hello", "seq": 3, "timestamp": "2026-02-14T10:00:00Z",
         "session_id": "ignored"}
    )  # fmt: skip
    assert line.role == "assistant"
    assert line.seq == 3
    assert line.timestamp is not None and line.timestamp.year == 2026
    assert TranscriptLine(role="user", text="x").seq is None
    assert pickle.loads(pickle.dumps(line)) == line
    with pytest.raises(ValidationError):
        TranscriptLine.model_validate({"role": "system", "text": "x"})


def _walk_objects(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found.extend(_walk_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_walk_objects(value))
    return found


@pytest.mark.parametrize("blueprint", sorted(RUBRICS))
def test_json_schema_meets_strict_mode_rules(blueprint: str) -> None:
    rubric = rubric_for(blueprint)
    schema = analysis_json_schema(rubric)
    objects = _walk_objects(schema)
    assert len(objects) == 4  # result, say_meter, factors, suggestion
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    factors = schema["properties"]["say_meter"]["properties"]["factors"]
    assert factors["required"] == list(rubric.factor_names)
    for prop in factors["properties"].values():
        assert prop["type"] == "integer"
        assert (prop["minimum"], prop["maximum"]) == (0, 100)
    suggestion = schema["properties"]["suggestions"]["items"]
    assert suggestion["properties"]["label"]["type"] == ["string", "null"]
    assert schema["properties"]["suggestions"]["minItems"] == MIN_MODEL_SUGGESTIONS == 2
    assert schema["properties"]["suggestions"]["maxItems"] == MAX_MODEL_SUGGESTIONS == 5
    assert MAX_MODEL_SUGGESTIONS <= MAX_SUGGESTIONS
    # The model writes the reasoning before the scores, and every factor carries anchors.
    meter = schema["properties"]["say_meter"]
    assert list(meter["properties"]) == ["reasoning", "factors", "score"]
    assert meter["required"] == ["reasoning", "factors", "score"]
    for prop in factors["properties"].values():
        assert "20 = " in prop["description"] and "50 = " in prop["description"]
        assert "85 = " in prop["description"]
    assert suggestion["required"][-2:] == ["responds_to", "intent"]
    assert schema["properties"]["resolved"]["items"] == {"type": "string"}
    # Strict mode wants a plain JSON document: it must serialise as-is.
    assert orjson.loads(orjson.dumps(schema)) == schema


def test_schema_enums_match_the_models() -> None:
    schema = analysis_json_schema(rubric_for("sales"))
    props = schema["properties"]["suggestions"]["items"]["properties"]
    pydantic_schema = Suggestion.model_json_schema()["properties"]
    assert props["type"]["enum"] == pydantic_schema["type"]["enum"]
    assert props["priority"]["enum"] == pydantic_schema["priority"]["enum"]


def test_analysis_error_carries_reason_and_pickles() -> None:
    err = AnalysisError("timeout", "no answer within 5s", attempts=3, status_code=None)
    assert err.reason == "timeout"
    assert err.attempts == 3
    assert "timeout" in str(err)
    assert "no answer" in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.reason, clone.message, clone.attempts) == ("timeout", err.message, 3)
