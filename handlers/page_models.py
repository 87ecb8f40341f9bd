"""Pydantic models of the REST routes the pages use: sign-in, the sessions list, the report,
the transcript and the persona preview. Like `api_models`, they validate input (unknown fields
forbidden) and are the OpenAPI document's only source."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from handlers.api_models import Blueprint, no_nul
from services.voice.prompt_render import template_problems

__all__ = [
    "Me",
    "PersonaPreview",
    "PersonaPreviewRequest",
    "Report",
    "SessionListQuery",
    "SessionPage",
    "SignIn",
    "SignedIn",
    "Transcript",
]

SessionStatus = Literal["scheduled", "active", "completed", "cancelled"]
SuggestionStatus = Literal["open", "applied", "dismissed", "expired", "asked"]
NameQuery = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(no_nul)]
Template = Annotated[str, Field(max_length=20_000), AfterValidator(no_nul)]

# --- sign-in ---------------------------------------------------------------------------------


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096, description="the sign-in link's token")


class SignedIn(BaseModel):
    role: Literal["admin", "interviewer"]
    subject: str
    expires_in: int = Field(description="seconds until the session cookie expires")


class Me(BaseModel):
    role: Literal["admin", "interviewer", "candidate"]
    subject: str
    session_id: uuid.UUID | None = Field(description="set for a token tied to one interview")
    account_level: bool = Field(description="may set up interviews and list them")
    expires_at: datetime
    via: Literal["cookie", "bearer"]


# --- sessions list -------------------------------------------------------------------------------


class SessionListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: SessionStatus | None = None
    blueprint: Blueprint | None = Field(None, description="any case: `hr` finds `HR`")
    persona_id: uuid.UUID | None = None
    scenario_id: uuid.UUID | None = None
    candidate: NameQuery | None = Field(None, description="part of the candidate's name, any case")
    since: AwareDatetime | None = Field(None, description="created at or after (ISO 8601, zone)")
    until: AwareDatetime | None = Field(None, description="created before (ISO 8601, zone)")
    limit: int = Field(25, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class PersonaRef(BaseModel):
    id: uuid.UUID
    name: str
    role: str
    difficulty: int


class ScenarioRef(BaseModel):
    id: uuid.UUID
    name: str


class SessionRow(BaseModel):
    session_id: uuid.UUID
    status: SessionStatus
    round_number: int
    candidate_name: str | None
    blueprint: str | None
    created_at: datetime
    started_at: datetime
    ended_at: datetime | None
    persona: PersonaRef | None
    scenario: ScenarioRef | None
    message_count: int
    latest_score: int | None = Field(description="the newest Say Meter score")
    final_score: int | None = Field(description="the score the interview ended on (ended only)")
    panel_url: str
    report_url: str


class SessionPage(BaseModel):
    items: list[SessionRow]
    total: int = Field(description="sessions matching the filters, ignoring limit and offset")
    limit: int
    offset: int


# --- transcript and report ---------------------------------------------------------------------


class Message(BaseModel):
    message_id: uuid.UUID
    seq: int | None
    round_number: int
    role: Literal["user", "assistant"]
    speaker: str = Field(description="`Candidate`, or the persona's name")
    text: str
    timestamp: datetime
    word_count: int


class Transcript(BaseModel):
    session_id: uuid.UUID
    status: SessionStatus
    candidate_name: str | None
    persona_name: str | None
    message_count: int
    messages: list[Message]


class ScenarioInReport(ScenarioRef):
    blueprint: str | None


class ReportSession(BaseModel):
    session_id: uuid.UUID
    status: SessionStatus
    round_number: int
    candidate_name: str | None
    blueprint: str | None
    language: str
    created_at: datetime
    started_at: datetime
    ended_at: datetime | None
    persona: PersonaRef | None
    scenario: ScenarioInReport | None
    panel_url: str
    report_url: str


class RubricFactor(BaseModel):
    name: str
    label: str


class RubricRef(BaseModel):
    blueprint: str
    title: str
    factors: list[RubricFactor]


class Durations(BaseModel):
    session_s: float = Field(description="from start to end (or to now while it runs)")
    conversation_s: float | None = Field(description="from the first message to the last")
    first_message_at: datetime | None
    last_message_at: datetime | None
    ongoing: bool


class Talk(BaseModel):
    candidate_words: int
    persona_words: int
    candidate_messages: int
    persona_messages: int
    candidate_share: float | None = Field(description="candidate's share of the words, 0-1")


class ScorePoint(BaseModel):
    analysis_id: uuid.UUID | None
    score: int | None
    band: Literal["green", "yellow", "red"] | None
    factors: dict[str, Any]
    reasoning: str | None
    analyzer: str | None
    at: datetime


class ReportSuggestion(BaseModel):
    suggestion_id: uuid.UUID
    analysis_id: uuid.UUID | None
    type: str
    text: str | None
    label: str | None
    priority: str | None
    status: SuggestionStatus
    created_at: datetime
    acted_at: datetime | None = Field(description="when it was applied, asked or dismissed")
    command_id: uuid.UUID | None


class ReportCommand(BaseModel):
    command_id: uuid.UUID
    command_type: str
    payload: dict[str, Any]
    source: str
    suggestion_id: uuid.UUID | None
    status: Literal["pending", "delivered"]
    created_at: datetime
    delivered_at: datetime | None
    delivery_s: float | None = Field(description="seconds from sending to the candidate's ack")


class ReportAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str
    score: int | None = None
    previous_score: int | None = None
    message: str | None = None
    event_id: int
    at: datetime


class Report(BaseModel):
    session: ReportSession
    rubric: RubricRef
    message_count: int
    latest_score: int | None
    final_score: int | None
    durations: Durations
    talk: Talk
    transcript: list[Message]
    score_history: list[ScorePoint] = Field(description="oldest first, with factors")
    suggestions: list[ReportSuggestion]
    suggestion_counts: dict[str, int] = Field(description="suggestions per status")
    commands: list[ReportCommand]
    alerts: list[ReportAlert]


# --- persona preview ---------------------------------------------------------------------------


class PersonaPreviewRequest(BaseModel):
    """An unsaved persona form: only the templates are required; missing fields render empty."""

    model_config = ConfigDict(extra="forbid")

    scenario_id: uuid.UUID
    prompt_template: Template
    first_message_template: Template | None = None
    name: str = Field("", max_length=200)
    role: str = Field("", max_length=200)
    blueprint: Blueprint | None = None
    difficulty: int = Field(3, ge=1, le=5)
    company_context: str = Field("", max_length=5000)
    personality_traits: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=50
    )
    communication_style: str = Field("", max_length=2000)
    objection_patterns: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=50
    )
    language: str = Field("en", max_length=5)

    @field_validator("prompt_template", "first_message_template")
    @classmethod
    def _well_formed(cls, value: str | None) -> str | None:
        problems = template_problems(value) if value is not None else []
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def persona(self) -> dict[str, Any]:
        return self.model_dump(exclude={"scenario_id", "prompt_template", "first_message_template"})


class PersonaPreview(BaseModel):
    scenario: ScenarioRef
    difficulty_instructions: str
    prompt: str
    first_message: str | None
