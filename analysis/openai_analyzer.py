"""Say Meter analysis with an OpenAI chat model, with our own bounded retries.

The caller owns the ``openai.AsyncOpenAI`` client (one per process, so connections are
pooled) and should build it with ``max_retries=0``: this module retries with its own
policy (timeouts per attempt, retry-after, re-asking on invalid output) and the SDK's
hidden retries would multiply the attempts and blow the latency budget::

    client = openai.AsyncOpenAI(api_key=key, max_retries=0)
    analyzer = OpenAIAnalyzer(client, model="gpt-4o", timeout=15, max_attempts=3)
    result = await analyzer.analyze(window, rubric_for("sales"))

Every answer is parsed with orjson and validated as an :class:`AnalysisResult` with
exactly the rubric's factors; anything else fails the attempt. The overall score is checked
against the rubric's weighted factors: beyond ``SCORE_TOLERANCE`` points the disagreement is
logged and the recomputed score is kept (the gauge must agree with the factor bars the panel
shows beside it); within it the model's own score stands. More than 5 suggestions are cut
to the first 5.

Structured outputs: only the provider's known "not supported with this model" answer
switches a model to ``json_object`` (logged once per model). Any other 400 that names the
response format or the schema is our own schema's fault: it fails loudly (an error log and
``AnalysisError("schema_rejected")``), never silently downgrades. After the last attempt
:class:`AnalysisError` carries a reason code. Messages never include the API key (nor
the transcript); provider error text is redacted before it is logged or raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import openai
import orjson
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)
from openai.types.chat.completion_create_params import ResponseFormat
from pydantic import ValidationError

from analysis.context import CallContext
from analysis.errors import AnalysisError, AnalysisErrorReason
from analysis.models import (
    MAX_INTENT_CHARS,
    MAX_MODEL_SUGGESTIONS,
    MAX_RESPONDS_TO_CHARS,
    MAX_SUGGESTIONS,
    AnalysisResult,
    TranscriptLine,
    analysis_json_schema,
)
from analysis.prompt import build_messages
from analysis.retry import RetryPolicy, retry_after_seconds
from analysis.rubrics import Rubric

__all__ = ["DEFAULT_MODEL", "SCHEMA_NAME", "SCORE_TOLERANCE", "OpenAIAnalyzer", "RetryPolicy"]

DEFAULT_MODEL = "gpt-4o"
SCHEMA_NAME = "say_meter_analysis"
# Points the model's overall score may differ from the rubric's weighted factors.
SCORE_TOLERANCE = 8

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_SECRET = re.compile(r"\b(?:sk|rk|sess)-[A-Za-z0-9_\-*]{4,}")


class _AttemptFailed(Exception):
    def __init__(
        self,
        reason: AnalysisErrorReason,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason: AnalysisErrorReason = reason
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code


class _SchemaUnsupported(Exception):
    """The model rejected json_schema response_format: switch to json_object."""


def _redact(text: str, secrets: Sequence[str] = (), limit: int = 200) -> str:
    """Provider text made safe to log: our key and anything key-shaped removed, cut short."""
    text = " ".join(text.split())
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    text = _SECRET.sub("[redacted]", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _provider_message(error: openai.APIStatusError, secrets: Sequence[str]) -> str:
    body = error.body
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return _redact(str(body["message"]), secrets)
    return f"HTTP {error.status_code}"


# The provider's answer for a model without json_schema structured outputs, e.g. "Invalid
# parameter: 'response_format' of type 'json_schema' is not supported with this model."
_UNSUPPORTED = re.compile(r"\bnot supported (?:with|by|for|on) (?:this|the) model\b")


def _error_text(error: openai.BadRequestError) -> str:
    body = error.body if isinstance(error.body, Mapping) else {}
    return " ".join(
        str(part) for part in (body.get("message"), body.get("param"), body.get("code"))
    ).lower()


def _is_schema_unsupported(error: openai.BadRequestError) -> bool:
    """Only the known capability answer, never a complaint about the schema itself."""
    text = _error_text(error)
    mentions = "response_format" in text or "json_schema" in text
    return mentions and _UNSUPPORTED.search(text) is not None


def _is_schema_rejected(error: openai.BadRequestError) -> bool:
    """A 400 about the response format or schema that is not the capability answer."""
    text = _error_text(error)
    return any(word in text for word in ("response_format", "json_schema", "schema"))


def _to_params(messages: Sequence[Mapping[str, str]]) -> list[ChatCompletionMessageParam]:
    params: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message["role"] == "system":
            params.append(
                ChatCompletionSystemMessageParam(role="system", content=message["content"])
            )
        else:
            params.append(ChatCompletionUserMessageParam(role="user", content=message["content"]))
    return params


def _strip_fences(content: str) -> str:
    # json_object mode occasionally wraps the object in a markdown fence.
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        if text.lower().startswith("json"):
            text = text[4:]
    return text


def _cut(value: object, limit: int) -> object:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1].rstrip() + "…"
    return value


def _tidy(data: object) -> object:
    """Bound what strict mode cannot: quote and key lengths, and at most 5 suggestions."""
    if not isinstance(data, dict) or not isinstance(data.get("suggestions"), list):
        return data
    suggestions = data["suggestions"][:MAX_MODEL_SUGGESTIONS]
    for item in suggestions:
        if isinstance(item, dict):
            item["responds_to"] = _cut(item.get("responds_to"), MAX_RESPONDS_TO_CHARS)
            item["intent"] = _cut(item.get("intent"), MAX_INTENT_CHARS)
    resolved = data.get("resolved")
    if isinstance(resolved, list):
        data["resolved"] = [_cut(r, MAX_INTENT_CHARS) for r in resolved[:MAX_SUGGESTIONS]]
    return {**data, "suggestions": suggestions}


def _agree(result: AnalysisResult, rubric: Rubric, model: str) -> AnalysisResult:
    """Keep the model's overall score if it agrees with the weighted factors, else replace it."""
    meter = result.say_meter
    recomputed = rubric.weighted_score(meter.factors)
    if abs(recomputed - meter.score) <= SCORE_TOLERANCE:
        return result
    log.warning(
        "model %s: overall score %d disagrees with the %s rubric's weighted factors (%d) by "
        "more than %d points; keeping %d",
        model,
        meter.score,
        rubric.blueprint,
        recomputed,
        SCORE_TOLERANCE,
        recomputed,
    )
    return result.model_copy(update={"say_meter": meter.model_copy(update={"score": recomputed})})


def _parse_completion(completion: object, rubric: Rubric) -> AnalysisResult:
    """Validate one completion as an :class:`AnalysisResult` for ``rubric``.

    Raises ``_AttemptFailed`` (retryable) for anything that is not a complete, valid
    answer: truncation, refusal, non-JSON, schema violations, wrong factor names.
    """
    if not isinstance(completion, ChatCompletion) or not completion.choices:
        raise _AttemptFailed("invalid_json", "response was not a chat completion")
    choice = completion.choices[0]
    if choice.message.refusal:
        raise _AttemptFailed("refusal", "the model refused to analyze the call")
    if choice.finish_reason == "content_filter":
        raise _AttemptFailed("refusal", "the content filter stopped the answer")
    if choice.finish_reason == "length":
        raise _AttemptFailed("truncated", "the answer was cut off (finish_reason=length)")
    content = choice.message.content
    if not content:
        raise _AttemptFailed("invalid_json", "the answer was empty")
    try:
        data = orjson.loads(_strip_fences(content))
    except orjson.JSONDecodeError:
        raise _AttemptFailed("invalid_json", "the answer was not valid JSON") from None
    try:
        result = AnalysisResult.model_validate(_tidy(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "result"
        raise _AttemptFailed(
            "invalid_result",
            f"{exc.error_count()} validation error(s), first at {where}: {first['type']}",
        ) from None
    missing, unknown = result.missing_factors(rubric), result.unknown_factors(rubric)
    if missing or unknown:
        raise _AttemptFailed(
            "invalid_result",
            f"factors do not match the {rubric.blueprint} rubric "
            f"(missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'})",
        )
    return result


_WARM_COMPLETION = {
    "id": "warm-up",
    "object": "chat.completion",
    "created": 0,
    "model": "warm-up",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "{}"}}
    ],
}


class OpenAIAnalyzer:
    """Analyze transcript windows with an OpenAI chat model (structured output).

    ``timeout`` bounds each attempt (seconds); ``max_attempts`` is shorthand for
    ``retry=RetryPolicy(max_attempts=...)`` and is ignored when ``retry`` is given.
    ``sleep`` and ``rng`` exist so tests can observe backoff without waiting. One
    instance is meant to be shared by all sessions: it only remembers which models
    needed the json_object fallback.
    """

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str = DEFAULT_MODEL,
        timeout: float = 15.0,
        max_attempts: int = 3,
        retry: RetryPolicy | None = None,
        temperature: float | None = 0.2,
        max_completion_tokens: int | None = 1500,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_attempt: Callable[[str, float], None] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self._client = client
        # Provider messages can echo the key ("Incorrect API key provided: ..."); keep it
        # to scrub those, whatever its shape.
        key = getattr(client, "api_key", None)
        self._secrets: tuple[str, ...] = (key,) if isinstance(key, str) and len(key) >= 6 else ()
        self.model = model
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_attempts=max_attempts)
        self._temperature = temperature
        self._max_tokens = max_completion_tokens
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Told of every model call: ("ok" or the failure's reason, seconds); metrics hook.
        self._on_attempt = on_attempt
        # Models that answered "json_schema not supported": use json_object from then on.
        self._json_object_models: set[str] = set()

    def __repr__(self) -> str:  # never shows the client (and so never the key)
        return f"OpenAIAnalyzer(model={self.model!r}, timeout={self.timeout})"

    def warm_up(self) -> None:
        """Pay the SDK's one-off costs at start-up, not in the first session's analysis: its
        resources are imported lazily and the response models are built on first use (about
        80 ms together). Nothing is sent."""
        _ = self._client.chat.completions
        ChatCompletion.model_validate(_WARM_COMPLETION)

    def uses_json_object(self) -> bool:
        """True once this analyzer has fallen back to json_object for its model."""
        return self.model in self._json_object_models

    def _response_format(self, rubric: Rubric) -> ResponseFormat:
        if self.uses_json_object():
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": SCHEMA_NAME,
                "strict": True,
                "schema": analysis_json_schema(rubric),
            },
        }

    async def analyze(
        self,
        window: Sequence[TranscriptLine],
        rubric: Rubric,
        language: str = "en",
        guidance: str | None = None,
        context: CallContext | None = None,
    ) -> AnalysisResult:
        """One analysis of ``window``; raises :class:`AnalysisError` when all attempts fail."""
        messages = _to_params(build_messages(window, rubric, language, guidance, context))
        attempts = self.retry.max_attempts
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                result = _agree(await self._attempt(messages, rubric), rubric, self.model)
                self._observe("ok", started)
                return result
            except _SchemaUnsupported:
                self._observe("schema_unsupported", started)
                # Capability negotiation, not a failure: retry at once, same attempt. Logged
                # once per model (concurrent analyses may all meet the answer).
                if self.model not in self._json_object_models:
                    self._json_object_models.add(self.model)
                    log.warning(
                        "model %s does not support structured outputs (json_schema); using "
                        "json_object for it from now on",
                        self.model,
                    )
                attempt -= 1
                continue
            except _AttemptFailed as failure:
                self._observe(failure.reason, started)
                final = not failure.retryable or attempt >= attempts
                log.warning(
                    "analysis attempt %d/%d with %s failed (%s): %s",
                    attempt,
                    attempts,
                    self.model,
                    failure.reason,
                    failure.message,
                )
                if final:
                    raise AnalysisError(
                        failure.reason,
                        f"{failure.message} (after {attempt} attempt{'s' * (attempt > 1)})",
                        attempts=attempt,
                        status_code=failure.status_code,
                    ) from None
                await self._sleep(self.retry.delay(attempt, failure.retry_after, self._rng))

    def _observe(self, outcome: str, started: float) -> None:
        if self._on_attempt is not None:
            self._on_attempt(outcome, time.perf_counter() - started)

    async def _attempt(
        self, messages: list[ChatCompletionMessageParam], rubric: Rubric
    ) -> AnalysisResult:
        json_schema_mode = not self.uses_json_object()
        try:
            async with asyncio.timeout(self.timeout):
                completion = await self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    response_format=self._response_format(rubric),
                    temperature=openai.omit if self._temperature is None else self._temperature,
                    max_completion_tokens=(
                        openai.omit if self._max_tokens is None else self._max_tokens
                    ),
                    timeout=self.timeout,
                )
        except (TimeoutError, openai.APITimeoutError):
            raise _AttemptFailed("timeout", f"no answer within {self.timeout:g}s") from None
        except openai.APIConnectionError:
            raise _AttemptFailed("connection", "could not reach the model API") from None
        except openai.RateLimitError as exc:
            raise _AttemptFailed(
                "rate_limited",
                _provider_message(exc, self._secrets),
                retry_after=retry_after_seconds(exc.response.headers),
                status_code=exc.status_code,
            ) from None
        except openai.BadRequestError as exc:
            if json_schema_mode and _is_schema_unsupported(exc):
                raise _SchemaUnsupported from None
            if json_schema_mode and _is_schema_rejected(exc):
                detail = _provider_message(exc, self._secrets)
                log.error(
                    "model %s rejected our response schema %r (a bug in analysis_json_schema, "
                    "not the model): %s",
                    self.model,
                    SCHEMA_NAME,
                    detail,
                )
                raise _AttemptFailed(
                    "schema_rejected",
                    f"the model rejected the analysis schema: {detail}",
                    retryable=False,
                    status_code=400,
                ) from None
            raise _AttemptFailed(
                "bad_status",
                _provider_message(exc, self._secrets),
                retryable=False,
                status_code=400,
            ) from None
        except openai.APIStatusError as exc:
            raise _AttemptFailed(
                "bad_status",
                _provider_message(exc, self._secrets),
                retryable=exc.status_code >= 500,
                status_code=exc.status_code,
            ) from None
        except (openai.APIResponseValidationError, ValueError):
            # A 200 whose body is not JSON (the SDK's json() raises ValueError).
            raise _AttemptFailed("invalid_json", "response body was not JSON") from None
        return _parse_completion(completion, rubric)
