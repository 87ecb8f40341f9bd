"""One settings object for the whole process, read from the environment and an optional `.env`.

Environment names are the public contract (README table), so every field names its variable
explicitly instead of relying on a prefix.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings", "load_signing_settings"]

AnalyzerKind = Literal["auto", "openai", "offline"]
VoiceAgentProvider = Literal["elevenlabs", "offline"]


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Where things live
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL"))
    data_dir: Path = Field(Path(".gateway"), validation_alias=_env("GATEWAY_DATA_DIR"))
    host: str = Field("127.0.0.1", validation_alias=_env("GATEWAY_HOST"))
    port: int = Field(8080, ge=0, le=65535, validation_alias=_env("GATEWAY_PORT"))
    public_url: str | None = Field(None, validation_alias=_env("GATEWAY_PUBLIC_URL"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("GATEWAY_LOG_LEVEL")
    )
    log_format: Literal["text", "json"] = Field("text", validation_alias=_env("GATEWAY_LOG_FORMAT"))

    # Security
    jwt_secret: SecretStr | None = Field(None, validation_alias=_env("GATEWAY_JWT_SECRET"))
    token_ttl_s: int = Field(12 * 3600, ge=60, validation_alias=_env("GATEWAY_TOKEN_TTL"))
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GATEWAY_ALLOWED_ORIGINS")
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GATEWAY_TRUSTED_PROXIES")
    )
    metrics_public: bool = Field(False, validation_alias=_env("GATEWAY_METRICS_PUBLIC"))
    bus: Literal["local", "postgres"] = Field("local", validation_alias=_env("GATEWAY_BUS"))

    # Vendors
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o", min_length=1, validation_alias=_env("OPENAI_MODEL"))
    openai_timeout_s: float = Field(20.0, gt=0, le=300, validation_alias=_env("OPENAI_TIMEOUT"))
    analyzer: AnalyzerKind = Field("auto", validation_alias=_env("GATEWAY_ANALYZER"))
    elevenlabs_api_key: SecretStr | None = Field(None, validation_alias=_env("ELEVENLABS_API_KEY"))
    elevenlabs_base_url: str = Field(
        "https://api.elevenlabs.io", validation_alias=_env("ELEVENLABS_BASE_URL")
    )
    elevenlabs_timeout_s: float = Field(
        15.0, gt=0, le=300, validation_alias=_env("ELEVENLABS_TIMEOUT")
    )
    voice_agent_provider: VoiceAgentProvider = Field(
        "elevenlabs", validation_alias=_env("VOICE_AGENT_PROVIDER")
    )
    # Offline agents: the ws(s):// base of a local fake conversation server; their "signed" URL
    # is {base}/v1/convai/conversation?agent_id=… (unset: no URL for offline agents).
    elevenlabs_conversation_url: str | None = Field(
        None, pattern=r"^wss?://", validation_alias=_env("ELEVENLABS_CONVERSATION_URL")
    )
    # The candidate page loads the ElevenLabs browser SDK (@elevenlabs/client, an ES module)
    # from here when agents are real; unset: no SDK (the page says what to set). No CDN default.
    elevenlabs_sdk_url: str | None = Field(
        None, pattern=r"^(https?://|/)", validation_alias=_env("ELEVENLABS_SDK_URL")
    )
    # Who sends the transcript: the candidate's client (its gateway socket) or the gateway itself,
    # reading ElevenLabs' real-time monitor socket once the candidate reports the conversation.
    voice_transcript_source: Literal["client", "monitor"] = Field(
        "client", validation_alias=_env("VOICE_TRANSCRIPT_SOURCE")
    )
    # The ws(s):// base of the monitor socket; unset: ELEVENLABS_BASE_URL with wss://.
    elevenlabs_monitor_url: str | None = Field(
        None, pattern=r"^wss?://", validation_alias=_env("ELEVENLABS_MONITOR_URL")
    )
    agent_cleanup_interval_s: float = Field(
        60.0, gt=0, le=86_400, validation_alias=_env("AGENT_CLEANUP_INTERVAL")
    )

    # Analysis cadence (the design's "every 10 messages, last 20")
    analysis_every: int = Field(10, ge=1, le=1000, validation_alias=_env("ANALYSIS_EVERY"))
    analysis_window: int = Field(20, ge=2, le=200, validation_alias=_env("ANALYSIS_WINDOW"))
    analysis_concurrency: int = Field(
        4, ge=1, le=256, validation_alias=_env("ANALYSIS_CONCURRENCY")
    )
    analysis_workers: int = Field(2, ge=1, le=64, validation_alias=_env("ANALYSIS_WORKERS"))
    # Silence after the last frame that counts as the call's end (0: never; REST end and an
    # end_call command still run the final analysis).
    analysis_idle_s: float = Field(
        20.0, ge=0, le=3600, validation_alias=_env("ANALYSIS_IDLE_SECONDS")
    )
    analysis_sweep_s: float = Field(
        15.0, gt=0, le=3600, validation_alias=_env("ANALYSIS_SWEEP_SECONDS")
    )
    analysis_lease_s: float = Field(
        60.0, ge=1, le=3600, validation_alias=_env("ANALYSIS_LEASE_SECONDS")
    )
    # A boundary owed by a session silent this long is not run by the sweep: the call has
    # moved on or ended without its REST end, and the run would only queue live sessions.
    analysis_owed_max_age_s: float = Field(
        600.0, ge=10, le=86_400, validation_alias=_env("ANALYSIS_OWED_MAX_AGE_SECONDS")
    )
    analysis_weights: dict[str, dict[str, float]] = Field(
        default_factory=dict, validation_alias=_env("ANALYSIS_WEIGHTS")
    )

    # Limits
    max_text_chars: int = Field(4000, ge=1, le=100_000, validation_alias=_env("MAX_TEXT_CHARS"))
    max_frame_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, validation_alias=_env("MAX_FRAME_BYTES")
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=64 * 1024 * 1024, validation_alias=_env("MAX_BODY_BYTES")
    )
    ws_rate_per_s: float = Field(50.0, gt=0, validation_alias=_env("WS_RATE_PER_SECOND"))
    ws_rate_burst: int = Field(200, ge=1, validation_alias=_env("WS_RATE_BURST"))
    ws_connects_per_minute: float = Field(
        60.0, gt=0, le=60_000, validation_alias=_env("WS_CONNECTS_PER_MINUTE")
    )
    ws_connects_per_minute_per_address: float = Field(
        600.0, gt=0, le=600_000, validation_alias=_env("WS_CONNECTS_PER_MINUTE_PER_ADDRESS")
    )
    ws_panels_per_token: int = Field(
        10, ge=1, le=10_000, validation_alias=_env("WS_PANELS_PER_TOKEN")
    )
    max_connections_per_address: int = Field(
        256, ge=1, le=1_000_000, validation_alias=_env("MAX_CONNECTIONS_PER_ADDRESS")
    )
    http_header_timeout_s: float = Field(
        15.0, gt=0, le=3600, validation_alias=_env("HTTP_HEADER_TIMEOUT")
    )
    http_body_timeout_s: float = Field(
        30.0, gt=0, le=3600, validation_alias=_env("HTTP_BODY_TIMEOUT")
    )
    outbox_max: int = Field(1024, ge=8, le=1_000_000, validation_alias=_env("WS_OUTBOX_MAX"))
    heartbeat_s: float = Field(20.0, gt=0, le=600, validation_alias=_env("WS_HEARTBEAT"))
    db_pool_min: int = Field(2, ge=1, le=100, validation_alias=_env("DB_POOL_MIN"))
    db_pool_max: int = Field(10, ge=1, le=200, validation_alias=_env("DB_POOL_MAX"))
    commit_max_delay_ms: float = Field(
        0.0, ge=0, le=1000, validation_alias=_env("COMMIT_MAX_DELAY_MS")
    )
    commit_max_batch: int = Field(
        2000, ge=1, le=100_000, validation_alias=_env("COMMIT_MAX_BATCH")
    )
    commit_in_flight: int = Field(3, ge=1, le=8, validation_alias=_env("COMMIT_IN_FLIGHT"))
    # While a commit is in flight, a small batch waits up to this long to grow (0: never).
    commit_linger_ms: float = Field(
        2.0, ge=0, le=1000, validation_alias=_env("COMMIT_LINGER_MS")
    )
    max_clock_skew_s: float = Field(
        86_400.0, gt=0, le=10 * 365 * 86_400, validation_alias=_env("MAX_CLOCK_SKEW_SECONDS")
    )
    # `auto`: uvloop when it is installed (a dependency, so normally), else asyncio's own loop.
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", validation_alias=_env("GATEWAY_EVENT_LOOP")
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {proxy!r}") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an absolute http(s) URL, e.g. https://gateway.example")
        return value

    @property
    def monitor_base_url(self) -> str:
        """Where `/v1/convai/conversations/{id}/monitor` lives."""
        if self.elevenlabs_monitor_url:
            return self.elevenlabs_monitor_url.rstrip("/")
        base = self.elevenlabs_base_url.rstrip("/")
        return "ws" + base.removeprefix("http") if base.startswith("http") else base

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def effective_analyzer(self) -> Literal["openai", "offline"]:
        """`auto` means OpenAI when a key is configured, else the built-in offline analyzer."""
        if self.analyzer == "auto":
            return "openai" if self.openai_api_key else "offline"
        return self.analyzer

    def secret(self) -> str:
        """The JWT signing secret; `load_settings` guarantees it is set."""
        if self.jwt_secret is None:
            raise RuntimeError("jwt_secret is not resolved; use load_settings()")
        return self.jwt_secret.get_secret_value()


class SettingsError(Exception):
    """A configuration problem, phrased for a one-line CLI error."""


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = first.get("loc") or ("?",)
    field = str(loc[0])
    env = Settings.model_fields.get(field)
    alias = env.validation_alias if env else None
    name = alias.choices[0] if isinstance(alias, AliasChoices) else field.upper()
    return f"{name}: {first.get('msg', 'invalid value')}"


def load_settings(**overrides: object) -> Settings:
    """Read settings and resolve the signing secret.

    Without `GATEWAY_JWT_SECRET` a random secret is generated once and kept in the data
    directory, so `interview-gateway token` and `serve` agree across runs.
    """
    return _load(overrides, create_secret=True)


def load_signing_settings(**overrides: object) -> Settings:
    """`load_settings` for a command that only signs (`token`): it never creates a secret, as
    one it made up would sign tokens no server accepts; it fails saying where it looked."""
    return _load(overrides, create_secret=False)


def _load(overrides: dict[str, object], *, create_secret: bool) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None
    if settings.jwt_secret is None and not create_secret:
        settings.jwt_secret = SecretStr(_existing_secret(settings.data_dir))
    elif settings.jwt_secret is None:
        settings.jwt_secret = SecretStr(_stored_secret(settings.data_dir))
    elif len(settings.jwt_secret.get_secret_value()) < 32:
        raise SettingsError("GATEWAY_JWT_SECRET: must be at least 32 characters")
    if settings.db_pool_min > settings.db_pool_max:
        raise SettingsError("DB_POOL_MIN: must not exceed DB_POOL_MAX")
    return settings


def _existing_secret(data_dir: Path) -> str:
    path = data_dir / "jwt_secret"
    try:
        value = path.read_text().strip()
    except OSError:
        value = ""
    if len(value) < 32:
        raise SettingsError(
            f"no signing secret: GATEWAY_JWT_SECRET is not set and {path.resolve()} "
            "does not hold one (GATEWAY_DATA_DIR); set the server's GATEWAY_JWT_SECRET, "
            "or run this where the server keeps its data directory"
        )
    return value


def _stored_secret(data_dir: Path) -> str:
    path = data_dir / "jwt_secret"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if path.exists():
            value = path.read_text().strip()
            if len(value) >= 32:
                return value
        value = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value)
        tmp.chmod(0o600)
        tmp.replace(path)
        return value
    except OSError as err:
        raise SettingsError(
            f"GATEWAY_DATA_DIR: cannot keep the JWT secret in {path}: {err}"
        ) from None
