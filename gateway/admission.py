"""Who may connect, how often, and how many at once: limits that outlive one connection.

The frame rate limit used to live on the connection, so reconnecting reset its burst; connects
themselves were unlimited (each one also writes presence events) and one interviewer token
could hold hundreds of panel sockets. `Admission` keeps, per token and per client address:

* a connect-rate bucket (`WS_CONNECTS_PER_MINUTE` per token, `WS_CONNECTS_PER_MINUTE_PER_ADDRESS`
  per address): a connect over it is refused before the upgrade (HTTP 429, `rate_limited`);
* the frame bucket (`WS_RATE_PER_SECOND`, `WS_RATE_BURST`), shared by the token's connections
  and kept across reconnects;
* the number of open panel sockets per token (`WS_PANELS_PER_TOKEN`): one more is accepted,
  told `too_many_connections`, and closed with 4003 (browsers cannot read an HTTP refusal of a
  WebSocket handshake; they can read a close code).

Sans-I/O and clock-injected. Idle entries (a full bucket, no open socket) are pruned as the
tables grow, so memory is bounded by the clients active in the last minute or so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.auth import Claims
from gateway.errors import ErrorCode, GatewayError
from gateway.ratelimit import TokenBucket
from gateway.settings import Settings

__all__ = ["Admission", "AdmissionLimits", "ConnectRefused", "token_key"]

_PRUNE_AT = 4096  # entries per table before idle ones are dropped


class ConnectRefused(GatewayError):
    """429: too many connects from this token or address; retry after `retry_after_s`."""

    status = 429
    default_code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def token_key(claims: Claims) -> str:
    """One key per issued token (its random subject), scoped by role and session."""
    return f"{claims.role.value}:{claims.session_id}:{claims.subject}"


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    connects_per_minute_per_token: float = 60.0
    connects_per_minute_per_address: float = 600.0
    frames_per_s: float = 50.0
    frame_burst: int = 200
    panels_per_token: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> AdmissionLimits:
        return cls(
            connects_per_minute_per_token=settings.ws_connects_per_minute,
            connects_per_minute_per_address=settings.ws_connects_per_minute_per_address,
            frames_per_s=settings.ws_rate_per_s,
            frame_burst=settings.ws_rate_burst,
            panels_per_token=settings.ws_panels_per_token,
        )


@dataclass(slots=True)
class _Client:
    connects: TokenBucket
    frames: TokenBucket | None = None
    panels: int = 0
    sockets: int = 0


@dataclass(slots=True)
class Admission:
    limits: AdmissionLimits
    clock: Callable[[], float] = time.monotonic
    _tokens: dict[str, _Client] = field(default_factory=dict)
    _addresses: dict[str, TokenBucket] = field(default_factory=dict)

    def _bucket(self, per_minute: float) -> TokenBucket:
        # Burst: a third of a minute's worth (at least 3), so a reconnect storm is cut short
        # while a client, or a few tabs, reconnecting after a blip never notice.
        return TokenBucket(per_minute / 60.0, max(3, int(per_minute / 3)), self.clock)

    def _client(self, token_key: str) -> _Client:
        client = self._tokens.get(token_key)
        if client is None:
            if len(self._tokens) >= _PRUNE_AT:
                self._prune()
            client = _Client(self._bucket(self.limits.connects_per_minute_per_token))
            self._tokens[token_key] = client
        return client

    def connect(self, token_key: str, address: str) -> None:
        """Count a connect attempt; raises ConnectRefused over either rate."""
        by_address = self._addresses.get(address)
        if by_address is None:
            if len(self._addresses) >= _PRUNE_AT:
                self._prune()
            by_address = self._bucket(self.limits.connects_per_minute_per_address)
            self._addresses[address] = by_address
        if not by_address.take():
            raise ConnectRefused(
                "too many connects from this address; retry later",
                60.0 / self.limits.connects_per_minute_per_address,
            )
        if not self._client(token_key).connects.take():
            raise ConnectRefused(
                "too many connects with this token; retry later",
                60.0 / self.limits.connects_per_minute_per_token,
            )

    def join(self, token_key: str, kind: str) -> bool:
        """Register an accepted socket; False for a panel socket over the token's cap (the
        caller closes it 4003, and still calls `leave`)."""
        client = self._client(token_key)
        client.sockets += 1
        if kind != "panel":
            return True
        client.panels += 1
        return client.panels <= self.limits.panels_per_token

    def leave(self, token_key: str, kind: str) -> None:
        client = self._tokens.get(token_key)
        if client is None:
            return
        client.sockets = max(0, client.sockets - 1)
        if kind == "panel":
            client.panels = max(0, client.panels - 1)

    def frame_bucket(self, token_key: str) -> TokenBucket:
        """The token's frame rate limit, the same object for every connection and reconnect."""
        client = self._client(token_key)
        if client.frames is None:
            client.frames = TokenBucket(
                self.limits.frames_per_s, self.limits.frame_burst, self.clock
            )
        return client.frames

    def _prune(self) -> None:
        """Drop entries that would be created afresh identical: no socket, buckets full."""
        self._tokens = {
            k: c
            for k, c in self._tokens.items()
            if c.sockets or not c.connects.full() or (c.frames is not None and not c.frames.full())
        }
        self._addresses = {k: b for k, b in self._addresses.items() if not b.full()}

    def __len__(self) -> int:
        return len(self._tokens) + len(self._addresses)
