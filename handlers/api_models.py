"""Pydantic models of the REST API: request bodies, query strings and responses.

They validate input (request bodies and query strings forbid unknown fields) and are the single
source of the OpenAPI document (`handlers/openapi.py`), so the docs cannot drift from what the
code accepts. Partial-update models reject an explicit `null` for fields that cannot be empty,
and their schema says so.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from analysis.rubrics import BLUEPRINTS, canonical_blueprint
from services.voice.prompt_render import template_problems

__all__ = [
    "BLUEPRINTS",
    "Blueprint",
    "ErrorBody",
    "ErrorDetail",
    "ErrorResponse",
    "LatestMeter",
    "Persona",
    "PersonaCreate",
    "PersonaList",
    "PersonaQuery",
    "PersonaSummary",
    "PersonaUpdate",
    "Scenario",
    "ScenarioCreate",
    "ScenarioList",
    "ScenarioQuery",
    "ScenarioSummary",
    "ScenarioUpdate",
    "SessionCreate",
    "SessionCreated",
    "SessionDetail",
    "SessionEnded",
    "VoiceAgentRequest",
    "VoiceAgentResponse",
    "canonical_blueprint",
    "no_nul",
]

def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here instead of failing in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _canonical(value: object) -> object:
    return canonical_blueprint(value) if isinstance(value, str) else value


# Any case on input, one canonical spelling out; the values are the rubrics' (analysis.rubrics).
Blueprint = Annotated[
    str,
    BeforeValidator(_canonical),
    WithJsonSchema({"type": "string", "enum": list(BLUEPRINTS)}),
]
ActiveFilter = Literal["true", "false", "all"]


def _length(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


_NO_NUL = AfterValidator(no_nul)
ShortText = Annotated[str, _length(200), _NO_NUL]
MediumText = Annotated[str, _length(2000), _NO_NUL]
LongText = Annotated[str, _length(5000), _NO_NUL]
TemplateText = Annotated[str, _length(20_000), _NO_NUL]
ListItem = Annotated[str, _length(500), _NO_NUL]
TextList = Annotated[list[ListItem], Field(max_length=50)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]


def _check_template(value: str | None) -> str | None:
    if value is not None:
        problems = template_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
    return value


def _drop_null_branches(schema: dict[str, Any], keep: frozenset[str] = frozenset()) -> None:
    """Partial updates: `X | None = None` means "may be omitted", not "may be null"."""
    for name, prop in schema.get("properties", {}).items():
        if name in keep:
            continue
        any_of = prop.get("anyOf")
        if isinstance(any_of, list):
            branches = [b for b in any_of if b != {"type": "null"}]
            if len(branches) == 1:
                prop.pop("anyOf")
                prop.update(branches[0])
        if prop.get("default", 0) is None:
            prop.pop("default")


class _Partial(BaseModel):
    """Base of PATCH bodies: every field optional; explicit null refused unless nullable."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for fields present in the body (defaults are not validated).
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("may not be null; omit the field to leave it unchanged")
        return value

    def changes(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.model_fields_set}


# --- errors ---------------------------------------------------------------------------------


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


# --- personas -------------------------------------------------------------------------------


class PersonaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText
    role: ShortText
    blueprint: Blueprint
    difficulty: int = Field(ge=1, le=5)
    company_context: LongText
    personality_traits: TextList = Field(default_factory=list)
    communication_style: MediumText
    objection_patterns: TextList = Field(default_factory=list)
    prompt_template: TemplateText = Field(
        description="placeholders: {persona.*}, {scenario.*}, {difficulty_instructions}"
    )
    first_message_template: MediumText
    language: Language = "en"
    is_active: bool = True

    _templates = field_validator("prompt_template", "first_message_template")(_check_template)


class PersonaUpdate(_Partial):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra=lambda s: _drop_null_branches(s)
    )

    name: ShortText | None = None
    role: ShortText | None = None
    blueprint: Blueprint | None = None
    difficulty: int | None = Field(None, ge=1, le=5)
    company_context: LongText | None = None
    personality_traits: TextList | None = None
    communication_style: MediumText | None = None
    objection_patterns: TextList | None = None
    prompt_template: TemplateText | None = None
    first_message_template: MediumText | None = None
    language: Language | None = None
    is_active: bool | None = None

    _templates = field_validator("prompt_template", "first_message_template")(_check_template)


class Persona(BaseModel):
    id: uuid.UUID
    name: str
    role: str
    blueprint: str
    difficulty: int
    company_context: str
    personality_traits: list[str]
    communication_style: str
    objection_patterns: list[str]
    prompt_template: str
    first_message_template: str
    language: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class PersonaList(BaseModel):
    items: list[Persona]
    total: int = Field(description="rows matching the filters, ignoring limit and offset")


class PersonaQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blueprint: Blueprint | None = None
    difficulty: int | None = Field(None, ge=1, le=5)
    is_active: ActiveFilter = Field("true", description="`all` lists active and inactive")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


# --- scenarios ------------------------------------------------------------------------------


class ScenarioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText
    description: LongText
    industry: ShortText
    company_size: ShortText
    pain_points: TextList = Field(default_factory=list)
    budget_range: ShortText
    decision_timeline: ShortText
    blueprint: Blueprint | None = None
    is_active: bool = True


class ScenarioUpdate(_Partial):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"blueprint"})
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=lambda s: _drop_null_branches(s, frozenset({"blueprint"})),
    )

    name: ShortText | None = None
    description: LongText | None = None
    industry: ShortText | None = None
    company_size: ShortText | None = None
    pain_points: TextList | None = None
    budget_range: ShortText | None = None
    decision_timeline: ShortText | None = None
    blueprint: Blueprint | None = Field(None, description="null clears the blueprint")
    is_active: bool | None = None


class Scenario(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    industry: str
    company_size: str
    pain_points: list[str]
    budget_range: str
    decision_timeline: str
    blueprint: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ScenarioList(BaseModel):
    items: list[Scenario]
    total: int


class ScenarioQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blueprint: Blueprint | None = None
    is_active: ActiveFilter = Field("true", description="`all` lists active and inactive")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


# --- sessions -------------------------------------------------------------------------------


class SessionCreate(BaseModel):
    # The example names seeded rows (seeds/*.json), so it works against a fresh install.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "persona_id": "3125e776-a5ee-4740-84ba-8a9535b83281",
                    "scenario_id": "97247e0f-ad06-4af3-9c88-a71b28bb3e1b",
                    "round_number": 1,
                }
            ]
        },
    )

    persona_id: uuid.UUID
    scenario_id: uuid.UUID
    round_number: int = Field(1, ge=1, le=100)
    candidate_name: ShortText | None = None


class SessionCreated(BaseModel):
    session_id: uuid.UUID
    status: str
    round_number: int
    persona_id: uuid.UUID
    scenario_id: uuid.UUID
    candidate_token: str = Field(description="bearer token for the candidate client")
    interviewer_token: str = Field(description="bearer token for the interviewer panel")
    panel_url: str
    candidate_url: str = Field(description="the candidate client's page, with its token")
    report_url: str = Field(description="the report page, for signed-in interviewers")
    warnings: list[str] = Field(
        default_factory=list,
        description="set-up that works but looks unintended (a persona and a scenario from "
        "different tracks)",
    )


class PersonaSummary(BaseModel):
    id: uuid.UUID
    name: str
    role: str
    blueprint: str
    difficulty: int
    language: str


class ScenarioSummary(BaseModel):
    id: uuid.UUID
    name: str
    industry: str
    blueprint: str | None


class LatestMeter(BaseModel):
    score: int | None
    factors: dict[str, Any]
    label: str | None
    reasoning: str | None
    triggered_at: datetime


class SessionDetail(BaseModel):
    session_id: uuid.UUID
    status: str
    round_number: int
    candidate_name: str | None
    started_at: datetime
    ended_at: datetime | None
    persona: PersonaSummary | None
    scenario: ScenarioSummary | None
    voice_agent_id: str | None
    voice_agent_provider: str | None
    message_count: int
    latest_meter: LatestMeter | None


class SessionEnded(BaseModel):
    session_id: uuid.UUID
    status: str
    ended_at: datetime | None
    already_ended: bool = Field(description="true when the session had ended before this call")
    message_count: int


# --- voice agent ----------------------------------------------------------------------------


class VoiceAgentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID


class VoiceAgentResponse(BaseModel):
    agent_id: str
    cached: bool = Field(description="true when the session's existing agent was reused")
    provider: Literal["elevenlabs", "offline"]
    signed_url: str | None = Field(
        description="conversation URL to start the call with (`Conversation.startSession"
        "({signedUrl})`): fresh from ElevenLabs at each call, valid about 15 minutes for one "
        "conversation; offline agents: the local ELEVENLABS_CONVERSATION_URL, or null unset"
    )
