"""Pydantic models of the REST API: request bodies, query strings and responses.

They validate input (request bodies forbid unknown fields) and are the single source of the
OpenAPI document (`handlers/openapi.py`), so the docs cannot drift from what the code accepts.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErrorBody", "ErrorDetail", "ErrorResponse"]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: str | None = Field(None, description="dotted path of the offending field, if any")
    message: str | None = None
    type: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable error code")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Every error: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody
