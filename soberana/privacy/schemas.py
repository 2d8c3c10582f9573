"""Data-protection policy documents and the admin API's objects."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from soberana.privacy.detectors import LinearError
from soberana.privacy.detectors.custom import DenyListDetector, compile_pattern
from soberana.settings import ClassificationRule

LABEL_PATTERN = r"^[A-Z][A-Z_]{0,39}$"


class CustomPattern(BaseModel):
    """A regular expression for an organisation's own identifiers (e.g. internal case numbers)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(pattern=LABEL_PATTERN, description="Placeholder type, e.g. `CASE_NUMBER`.")
    pattern: str = Field(
        min_length=1,
        max_length=500,
        description="Regular expression for RE2 (linear time): no lookaround, backreferences, atomic groups or "
        "possessive quantifiers; `\\d`, `\\w`, `\\s` of any script.",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_pattern(value)  # raises InvalidRequest naming what RE2 cannot run (lookaround, backreferences…)
        return value


class DenyList(BaseModel):
    """Terms always treated as personal data (whole words, any case)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(pattern=LABEL_PATTERN)
    terms: list[str] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _compiles(self) -> DenyList:
        try:  # built when saved, so that it never fails when loaded
            DenyListDetector(self.terms, self.label)
        except LinearError as exc:
            raise ValueError(f"the deny-list {self.label} cannot be compiled: {exc}") from None
        return self


class Retention(BaseModel):
    """How long an organisation's data is kept; empty fields use the installation's settings."""

    model_config = ConfigDict(extra="forbid")

    conversations_days: int | None = Field(
        None, ge=1, le=36_500, description="Citizen conversations, after the last message."
    )
    vault_hours: float | None = Field(None, gt=0, le=876_000, description="Placeholders and their values in the vault.")
    usage_days: int | None = Field(None, ge=1, le=36_500, description="Usage records of model calls.")
    workspace_days: int | None = Field(
        None, ge=1, le=36_500, description="Staff members' saved conversations with models, after they last changed."
    )


class PolicyDocument(BaseModel):
    """An organisation's or an API key's data-protection policy: a floor for everything below it, which
    may only tighten what the levels above set (the installation's settings, the organisations above,
    for a key its organisation's). Empty fields keep what applies above."""

    model_config = ConfigDict(extra="forbid")

    default_classification: str | None = Field(None, description="Classification of requests that state none.")
    rules: dict[str, ClassificationRule] = Field(
        default_factory=dict,
        description="Per classification: mode and allowed sovereignty, which may only tighten the rule of the "
        "levels above (the installation, the organisations above, for a key its organisation); a field left out "
        "keeps theirs.",
    )
    labels: list[str] | None = Field(None, description="Kinds of personal data protected.")
    patterns: list[CustomPattern] = Field(default_factory=list, max_length=100)
    deny_lists: list[DenyList] = Field(default_factory=list, max_length=100)
    ingestion: Literal["off", "redact"] | None = Field(
        None,
        description="At document ingestion: `redact` replaces personal data of the protected kinds by its type "
        "(`<PERSON>`) before anything is stored, indexed or embedded. Empty: `off`. Organisations only.",
    )
    retention: Retention = Field(default_factory=Retention, description="Organisations only.")


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["privacy_policy"] = "privacy_policy"
    id: str
    subject_type: Literal["organisation", "api_key"]
    subject_id: str
    org_id: str
    document: PolicyDocument
    updated_at: datetime


class EffectivePolicy(BaseModel):
    """What applies to the caller, after inheritance (``GET /v1/privacy/policy``)."""

    object: Literal["effective_privacy_policy"] = "effective_privacy_policy"
    classifications: list[str]
    default_classification: str
    rules: dict[str, ClassificationRule]
    labels: list[str]
    custom_labels: list[str]


class PurgeReport(BaseModel):
    object: Literal["purge_report"] = "purge_report"
    deleted: dict[str, int] = Field(description="Rows deleted per kind of data (conversations, vault, usage).")
