"""Every error the gateway reports, and every WebSocket close code, in one place.

    GatewayError                 -- carries a stable `code`, an HTTP status and optional details
    ├── AuthError                -- 401: missing, malformed, expired or forged token
    ├── ForbiddenError           -- 403: valid token, wrong role or wrong session
    ├── NotFoundError            -- 404: unknown id (also a malformed UUID)
    ├── ConnectRefused           -- 429: too many connects (gateway/admission.py)
    ├── ConflictError            -- 409: the request contradicts current state
    ├── GoneError                -- 410: the session has ended
    ├── InvalidInputError        -- 422: validation failed (details carry field paths)
    ├── BadRequestError          -- 400: malformed JSON or protocol frame
    ├── UnavailableError         -- 503: a dependency is not configured or not ready
    ├── UpstreamError            -- 502: a vendor (ElevenLabs, OpenAI) kept failing
    └── UpstreamTimeout          -- 504: a vendor did not answer in time

REST answers `{"error": {"code", "message", "details"}}`; WebSocket answers an `error` frame
with the same code and keeps the socket open unless the close code table says otherwise.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "BadRequestError",
    "CloseCode",
    "ConflictError",
    "ErrorCode",
    "ForbiddenError",
    "GatewayError",
    "GoneError",
    "InvalidInputError",
    "NotFoundError",
    "UnavailableError",
    "UpstreamError",
    "UpstreamTimeout",
]


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    TOKEN_EXPIRED = "token_expired"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    VALIDATION_ERROR = "validation_error"
    INVALID_FRAME = "invalid_frame"  # valid at the edge, refused by the database: do not resend
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    REQUEST_TIMEOUT = "request_timeout"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNKNOWN_TYPE = "unknown_type"
    TEXT_TOO_LONG = "text_too_long"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    UNKNOWN_SUGGESTION = "unknown_suggestion"
    NOT_APPLICABLE = "not_applicable"
    SEQ_CONFLICT = "seq_conflict"
    UNKNOWN_MESSAGE = "unknown_message"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    WRONG_ROUND = "wrong_round"
    SESSION_ENDED = "session_ended"
    UNAVAILABLE = "unavailable"
    UPSTREAM_ERROR = "upstream_error"
    INTERNAL = "internal_error"


class CloseCode(IntEnum):
    """WebSocket close codes: RFC 6455 ones, then our application range 4000-4999."""

    NORMAL = 1000
    GOING_AWAY = 1001  # gateway shutting down: reconnect (elsewhere)
    UNSUPPORTED_DATA = 1003  # binary frame on a text protocol
    POLICY_VIOLATION = 1008  # sustained abuse (rate limit, repeated bad frames)
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # slow consumer: outbox overflowed; resume with ?after=
    SESSION_ENDED = 4000  # the interview ended; do not reconnect
    REPLACED = 4001  # a newer candidate connection for the same session took over
    TOKEN_EXPIRED = 4002  # the token expired while connected
    TOO_MANY_CONNECTIONS = 4003  # this token holds WS_PANELS_PER_TOKEN panel sockets already


class GatewayError(Exception):
    status: ClassVar[int] = 500
    default_code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code or self.default_code)
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequestError(GatewayError):
    status = 400
    default_code = ErrorCode.INVALID_JSON


class AuthError(GatewayError):
    status = 401
    default_code = ErrorCode.UNAUTHORIZED


class ForbiddenError(GatewayError):
    status = 403
    default_code = ErrorCode.FORBIDDEN


class NotFoundError(GatewayError):
    status = 404
    default_code = ErrorCode.NOT_FOUND


class ConflictError(GatewayError):
    status = 409
    default_code = ErrorCode.CONFLICT


class GoneError(GatewayError):
    """The session has ended: nothing more is stored or analyzed for it."""

    status = 410
    default_code = ErrorCode.SESSION_ENDED


class InvalidInputError(GatewayError):
    status = 422
    default_code = ErrorCode.VALIDATION_ERROR


class UnavailableError(GatewayError):
    status = 503
    default_code = ErrorCode.UNAVAILABLE


class UpstreamError(GatewayError):
    status = 502
    default_code = ErrorCode.UPSTREAM_ERROR


class UpstreamTimeout(GatewayError):
    status = 504
    default_code = ErrorCode.UPSTREAM_ERROR
