"""Errors raised by the analysis layer.

There is one exception, :class:`AnalysisError`. Callers (the scheduler) mostly need to know
*that* an analysis failed and *why* in a form they can count in metrics and show to an
interviewer, so the error carries a short machine ``reason`` code plus a human message,
rather than a hierarchy of subclasses that every caller would have to enumerate::

    Exception
    └── AnalysisError(reason, message, attempts, status_code)
"""

from __future__ import annotations

from typing import Literal

__all__ = ["AnalysisError", "AnalysisErrorReason"]

AnalysisErrorReason = Literal[
    "timeout",  # the model did not answer within the per-call timeout
    "rate_limited",  # 429 from the provider
    "connection",  # could not reach the provider
    "bad_status",  # any other non-2xx answer (4xx is never retried, 5xx is)
    "invalid_json",  # the answer was not JSON (or not even a chat completion)
    "invalid_result",  # JSON, but missing fields / out-of-range values / wrong factors
    "truncated",  # finish_reason "length": the JSON was cut off
    "refusal",  # the model refused or the content filter stopped it
    "schema_rejected",  # 400 naming our own response schema: a bug on our side, never retried
]


class AnalysisError(Exception):
    """An analysis could not produce a valid :class:`~analysis.models.AnalysisResult`.

    ``reason`` is stable and meant for code and metrics; ``message`` is for people and
    logs and never contains the API key or the transcript.
    """

    def __init__(
        self,
        reason: AnalysisErrorReason,
        message: str,
        *,
        attempts: int = 1,
        status_code: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: AnalysisErrorReason = reason
        self.message = message
        self.attempts = attempts
        self.status_code = status_code

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments are lost by the default Exception pickling; the error
        # may cross a process boundary (executor), so rebuild it explicitly.
        return (_rebuild, (self.reason, self.message, self.attempts, self.status_code))


def _rebuild(
    reason: AnalysisErrorReason, message: str, attempts: int, status_code: int | None
) -> AnalysisError:
    return AnalysisError(reason, message, attempts=attempts, status_code=status_code)
