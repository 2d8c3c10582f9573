"""The governance API's objects: a use case's register fields, its versions and the review actions.

The fields cover the Dutch Algoritmeregister's publication standard (v1.0) and the UK Algorithmic
Transparency Recording Standard (ATRS v3, tiers 1 and 2) where they describe the use, not the
publication: ``docs/governance.md`` maps each field to both.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from soberana.governance.lifecycle import Action, RiskGroup, Status

_SHORT = 200
_TEXT = 4000
_ITEMS = 50


class SpecialCategory(StrEnum):
    """Special categories of personal data (GDPR Art. 9) and criminal offence data (Art. 10)."""

    RACIAL_OR_ETHNIC_ORIGIN = "racial_or_ethnic_origin"
    POLITICAL_OPINIONS = "political_opinions"
    RELIGIOUS_OR_PHILOSOPHICAL_BELIEFS = "religious_or_philosophical_beliefs"
    TRADE_UNION_MEMBERSHIP = "trade_union_membership"
    GENETIC = "genetic"
    BIOMETRIC = "biometric"
    HEALTH = "health"
    SEX_LIFE_OR_SEXUAL_ORIENTATION = "sex_life_or_sexual_orientation"
    CRIMINAL_CONVICTIONS = "criminal_convictions"


class ImpactAssessment(BaseModel):
    """An impact assessment done for the use (DPIA, fundamental-rights impact assessment, AIA…)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=_SHORT)
    date: dt.date | None = None
    link: str | None = Field(None, max_length=2000)
    summary: str = Field("", max_length=_TEXT)


class Risk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    risk: str = Field(min_length=1, max_length=_TEXT)
    mitigation: str = Field("", max_length=_TEXT)


def _names(values: list[str]) -> list[str]:
    cleaned = [" ".join(v.split()) for v in values]
    if any(not v or len(v) > _SHORT for v in cleaned):
        raise ValueError(f"each entry needs 1 to {_SHORT} characters")
    return list(dict.fromkeys(cleaned))


class UseCaseFields(BaseModel):
    """What the register says of one use of AI. A draft may leave fields empty; a version is submitted
    for review only when every field of :data:`REQUIRED` is filled."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=_SHORT, description="Short name (Algoritmeregister `name`).")
    description: str = Field(
        "",
        max_length=_TEXT,
        description="What it does, in plain language (ATRS 2.1; `description_short`).",
    )
    purpose: str = Field("", max_length=_TEXT, description="Why it is used (Algoritmeregister `goal`, ATRS 2.2).")
    public_benefit: str = Field("", max_length=_TEXT, description="The benefit for the public (ATRS 2.3).")
    owner: str = Field("", max_length=_SHORT, description="The team that runs it (ATRS 1.2).")
    senior_responsible_owner: str = Field("", max_length=_SHORT, description="Accountable senior role (ATRS 1.3).")
    contact_email: str = Field("", max_length=254, description="Where the public can ask about it.")
    affected_people: str = Field("", max_length=_TEXT, description="Who is affected by its output, and how.")
    human_intervention: str = Field(
        "",
        max_length=_TEXT,
        description="How people decide and review (ATRS 3.4; `human_intervention`).",
    )
    legal_basis: str = Field("", max_length=_TEXT, description="The law that allows the use (`lawful_basis`).")
    data_categories: list[str] = Field(default_factory=list, max_length=_ITEMS, description="Kinds of data used.")
    special_categories: list[SpecialCategory] = Field(
        default_factory=list, description="Special categories of personal data it processes (flagged)."
    )
    models: list[str] = Field(default_factory=list, max_length=_ITEMS, description="Models (gateway names) it may use.")
    deployments: list[str] = Field(default_factory=list, max_length=_ITEMS, description="Deployments it runs on.")
    collections: list[str] = Field(default_factory=list, max_length=_ITEMS, description="Collections it uses.")
    suppliers: list[str] = Field(default_factory=list, max_length=_ITEMS, description="Outside suppliers (ATRS 1.4).")
    website: str | None = Field(None, max_length=2000, description="A public page about it.")
    previous_process: str = Field("", max_length=_TEXT, description="How the work was done before (ATRS 2.4).")
    alternatives_considered: str = Field("", max_length=_TEXT, description="Other options weighed (ATRS 2.5).")
    appeals: str = Field("", max_length=_TEXT, description="How a decision can be challenged (ATRS 3.6).")
    impact_assessments: list[ImpactAssessment] = Field(default_factory=list, max_length=_ITEMS)
    risks: list[Risk] = Field(default_factory=list, max_length=_ITEMS, description="Risks and mitigations (ATRS 5.2).")
    review_date: dt.date | None = Field(None, description="When the use is to be reviewed again.")

    @field_validator("name", "owner", "senior_responsible_owner", "contact_email")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and (value.count("@") != 1 or "." not in value.split("@")[1] or " " in value):
            raise ValueError("an e-mail address such as ai-register@agency.example")
        return value

    @field_validator("data_categories", "models", "deployments", "collections", "suppliers")
    @classmethod
    def _clean_names(cls, values: list[str]) -> list[str]:
        return _names(values)

    @field_validator("special_categories")
    @classmethod
    def _unique(cls, values: list[SpecialCategory]) -> list[SpecialCategory]:
        return list(dict.fromkeys(values))


#: What a version needs before it is submitted for review.
REQUIRED = (
    "description",
    "purpose",
    "public_benefit",
    "owner",
    "senior_responsible_owner",
    "contact_email",
    "affected_people",
    "human_intervention",
    "legal_basis",
)


def missing(fields: UseCaseFields) -> list[str]:
    return [name for name in REQUIRED if not getattr(fields, name)]


class UseCaseCreate(UseCaseFields):
    org_id: str | None = Field(None, description="The organisation it belongs to (default: yours).")
    note: str = Field("", max_length=_SHORT, description="What this version is (kept with it).")


class UseCaseChange(BaseModel):
    """A change: the fields given replace the current version's; the rest is kept."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, object] = Field(description="Fields of the register to set (see `UseCaseFields`).")
    expected_version: int | None = Field(
        None, ge=1, description="Refuse (409) unless this is still the latest version: no change is lost."
    )
    note: str = Field("", max_length=_SHORT)


class ReviewAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    version: int | None = Field(
        None,
        ge=1,
        description="The version acted on: required to approve (the version the reviewer read), checked when given.",
    )
    reason: str = Field("", max_length=_TEXT, description="Required to return, suspend, resume or retire.")
    assessment: int | None = Field(
        None, ge=1, description="To approve: the EU AI Act assessment the reviewer read (refused if it changed)."
    )


class UseCaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["governance.use_case"] = "governance.use_case"
    id: str
    org_id: str
    name: str
    status: Status
    risk_group: RiskGroup
    version: int
    approved_version: int | None
    submitted_version: int | None
    submitted_by: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    status_reason: str
    special_categories: bool = Field(description="Whether the latest version processes special categories of data.")
    fields: UseCaseFields
    created_at: dt.datetime
    updated_at: dt.datetime


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["governance.use_case_version"] = "governance.use_case_version"
    use_case_id: str
    version: int
    author: str
    note: str
    fields: UseCaseFields
    created_at: dt.datetime


class AiaAnswers(BaseModel):
    """Answers to Canada's Algorithmic Impact Assessment: question name → the chosen value (``item3-4``),
    a list of values for a checkbox question, or text."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str | int | Annotated[float, Field(allow_inf_nan=False)] | list[str]] = Field(max_length=400)


class Requirement(BaseModel):
    title: str
    text: str


class AiaAssessmentOut(BaseModel):
    object: Literal["governance.aia_assessment"] = "governance.aia_assessment"
    use_case_id: str
    version: int = Field(description="This assessment's number among the use case's AIA assessments.")
    use_case_version: int = Field(description="The version of the use case that was assessed.")
    questionnaire: str = Field(description="The questionnaire's SHA-256 (first 16 hex digits).")
    stale: list[str] = Field(description="Why it should be done again: the questionnaire or the use case changed.")
    answers: dict[str, str | int | float | list[str]]
    raw: float
    mitigation: float
    max_raw: float
    max_mitigation: float
    total: float
    level: int = Field(ge=1, le=4)
    level_name: Literal["I", "II", "III", "IV"]
    deduction_applied: bool
    ignored: list[str] = Field(description="Answers to questions not shown for the other answers: not counted.")
    requirements: list[Requirement] = Field(description="What the Directive requires at this impact level.")
    author: str
    created_at: dt.datetime


class AiActAnswers(BaseModel):
    """Answers to the EU AI Act assessment: question id → answer id, and for an answer that needs one
    (the Art. 6(3) exception) a justification by question id."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str] = Field(max_length=100)
    justifications: dict[str, str] = Field(default_factory=dict, max_length=100)


class RiskOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    risk_group: RiskGroup
    justification: str = Field(min_length=1, max_length=_TEXT)


class Choice(BaseModel):
    id: str
    text: str
    justification: bool = Field(description="Whether this answer needs a written justification.")


class TreeQuestion(BaseModel):
    id: str
    text: str
    help: str | None
    articles: list[str]
    answers: list[Choice]


class PathStep(BaseModel):
    question: str
    question_text: str
    answer: str
    answer_text: str
    justification: str | None


class ObligationOut(BaseModel):
    id: str
    text: str
    articles: list[str]
    applies_from: dt.date | None
    in_force: bool


class Conclusion(BaseModel):
    id: str
    text: str


class AiActAssessmentOut(BaseModel):
    object: Literal["governance.ai_act_assessment"] = "governance.ai_act_assessment"
    use_case_id: str
    version: int
    use_case_version: int
    tree: str = Field(description="The decision tree it was made with: id@version+SHA-256.")
    stale: list[str] = Field(description="Why it should be reviewed: the tree or the use case changed.")
    complete: bool
    pending: TreeQuestion | None = Field(description="The next question to answer, when the path goes on.")
    needs_justification: bool
    path: list[PathStep]
    dropped: list[str] = Field(description="Answers to questions the path no longer reaches: not kept.")
    labels: dict[str, str | list[str]]
    conclusion: Conclusion | None
    risk_group: RiskGroup = Field(description="The use case's risk group now (an override wins).")
    override: dict[str, str] | None
    obligations: list[ObligationOut]
    disclaimer: str
    author: str
    created_at: dt.datetime


Severity = Literal["low", "medium", "high", "critical"]
SeriousKind = Literal["death", "widespread_or_critical_infrastructure", "other"]
IncidentStatus = Literal["open", "investigating", "mitigated", "closed"]


class IncidentReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=_SHORT)
    description: str = Field(min_length=1, max_length=_TEXT * 5)
    severity: Severity = "medium"
    serious: bool = Field(
        False, description="A serious incident (EU AI Act Art. 3(49)): its report to the authority is due (Art. 73)."
    )
    serious_kind: SeriousKind = Field(
        "other", description="`death`: 10 days; `widespread_or_critical_infrastructure`: 2 days; `other`: 15 days."
    )
    aware_at: AwareDatetime | None = Field(
        None, description="When the organisation became aware of it, with its time zone (default: now)."
    )

    @field_validator("aware_at")
    @classmethod
    def _since_1970(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.year < 1970:
            raise ValueError("a date after 1970")
        return value


class IncidentChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IncidentStatus | None = None
    severity: Severity | None = None
    serious: bool | None = None
    serious_kind: SeriousKind | None = None
    reported_to_authority_at: AwareDatetime | None = None
    note: str = Field("", max_length=_TEXT)


class SuspendFromIncident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=_TEXT)


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["governance.incident"] = "governance.incident"
    id: str
    org_id: str
    use_case_id: str
    title: str
    description: str
    severity: Severity
    serious_kind: SeriousKind | None
    status: IncidentStatus
    source: str
    reported_by: str
    aware_at: dt.datetime
    report_due: dt.datetime | None = Field(description="When the report to the authority is due (Art. 73).")
    reported_to_authority_at: dt.datetime | None
    seconds_left: int | None = Field(
        None, description="Until the report is due (negative: overdue); none once reported or not serious."
    )
    history: list[dict[str, str]]
    created_at: dt.datetime
    updated_at: dt.datetime


SupplierStatus = Literal["approved", "restricted", "pending", "blocked"]
_COUNTRY = r"^[A-Z]{2}$"


class SubProcessor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=_SHORT)
    country: str = Field(pattern=_COUNTRY, description="ISO 3166-1 alpha-2.")
    purpose: str = Field("", max_length=_SHORT)


class SupplierFields(BaseModel):
    """A supplier of models or services and its terms."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str = Field(min_length=1, max_length=_SHORT)
    country: str = Field(pattern=_COUNTRY, description="Where it is registered (ISO 3166-1 alpha-2).")
    registration_number: str = Field("", max_length=_SHORT, description="Company or VAT number.")
    contract_reference: str = Field("", max_length=_SHORT)
    data_residency: list[str] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="Where data is processed and stored: country codes or `EU`, `EEA`.",
    )
    retention_terms: str = Field("", max_length=_TEXT, description="How long it keeps what it receives.")
    trains_on_customer_data: Literal["no", "yes", "opt_out", "unknown"] = Field(
        "unknown", description="Whether it trains models on what it receives (`opt_out`: unless told not to)."
    )
    training_terms: str = Field("", max_length=_TEXT)
    certifications: list[str] = Field(default_factory=list, max_length=_ITEMS, description="E.g. ISO/IEC 27001, ENS.")
    sub_processors: list[SubProcessor] = Field(default_factory=list, max_length=_ITEMS)
    review_date: dt.date | None = Field(None, description="When the terms are to be reviewed again.")
    status: SupplierStatus = "pending"
    notes: str = Field("", max_length=_TEXT)

    @field_validator("data_residency")
    @classmethod
    def _places(cls, values: list[str]) -> list[str]:
        for value in values:
            if not (len(value) == 2 and value.isupper() and value.isalpha()) and value not in ("EU", "EEA"):
                raise ValueError("each place is an ISO 3166-1 alpha-2 code, `EU` or `EEA`")
        return list(dict.fromkeys(values))

    @field_validator("legal_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return " ".join(value.split())


class SupplierChange(BaseModel):
    """The fields to change; the others are kept."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str | None = Field(None, min_length=1, max_length=_SHORT)
    country: str | None = Field(None, pattern=_COUNTRY)
    registration_number: str | None = Field(None, max_length=_SHORT)
    contract_reference: str | None = Field(None, max_length=_SHORT)
    data_residency: list[str] | None = Field(None, max_length=_ITEMS)
    retention_terms: str | None = Field(None, max_length=_TEXT)
    trains_on_customer_data: Literal["no", "yes", "opt_out", "unknown"] | None = None
    training_terms: str | None = Field(None, max_length=_TEXT)
    certifications: list[str] | None = Field(None, max_length=_ITEMS)
    sub_processors: list[SubProcessor] | None = Field(None, max_length=_ITEMS)
    review_date: dt.date | None = None
    status: SupplierStatus | None = None
    notes: str | None = Field(None, max_length=_TEXT)


class SupplierOut(SupplierFields):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["governance.supplier"] = "governance.supplier"
    id: str
    review_overdue: bool = Field(False, description="Its review date has passed.")
    created_at: dt.datetime
    updated_at: dt.datetime


class BindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    use_case_id: str = Field(min_length=1, max_length=40, description="The use case the traffic answers for.")


class BindingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["governance.binding"] = "governance.binding"
    id: str
    org_id: str
    kind: Literal["api_key", "collection", "workspace"] = Field(
        description="An API key, a public assistant (collection) or an organisation's staff workspace."
    )
    subject_id: str = Field(description="The key's, the collection's or the organisation's id.")
    use_case_id: str
    created_by: str
    created_at: dt.datetime


class TransparencyAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "publish"] = Field(
        description="`approve` a draft (an administrator who did not write it), then `publish` it."
    )


class TransparencyRecordOut(BaseModel):
    object: Literal["governance.transparency_record_version"] = "governance.transparency_record_version"
    id: str
    use_case_id: str
    version: int
    status: Literal["draft", "approved", "published", "superseded"]
    out_of_date: bool = Field(
        description="What runs (models, where, the approved version) changed since it was written."
    )
    created_by: str
    created_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    published_at: dt.datetime | None
    record: dict[str, Any] = Field(description="The record (layout: `transparency_record.schema.json`).")


class RequirementStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["to_do", "in_progress", "done", "not_applicable"]
    reason: str = Field("", max_length=_TEXT, description="Required for `not_applicable`; a note otherwise.")


class EvidenceOut(BaseModel):
    state: Literal["holds", "fails", "unknown"] = Field(description="What the platform found, computed now.")
    reason: str
    facts: dict[str, Any]
    sufficient: bool = Field(description="Whether it holding is enough for the requirement (else it supports it).")


class RequirementItemOut(BaseModel):
    object: Literal["governance.requirement"] = "governance.requirement"
    id: str
    law: str
    source: str
    title: str
    text: str
    state: Literal["to_do", "in_progress", "done", "not_applicable"] = Field(description="The state shown.")
    flagged: bool = Field(description="Recorded as done, but the platform's check no longer holds.")
    recorded_state: str = Field(description="What people recorded.")
    reason: str
    updated_by: str | None
    evidence: EvidenceOut | None = Field(description="The machine check, where the platform is the proof.")
