"""Request and response bodies of the evaluations API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from soberana.evaluations.suites import ID_PATTERN


class RunCreate(BaseModel):
    """A run of one suite against a use case (what it runs), or against a collection's assistant or a model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    suite: str = Field(pattern=ID_PATTERN, description="The suite's id (`GET /v1/evaluations/suites`).")
    use_case_id: str | None = Field(None, description="Evaluate what this use case runs (its latest version).")
    collection: str | None = Field(
        None, max_length=120, description="Evaluate this collection's assistant (id or name)."
    )
    model: str | None = Field(
        None,
        max_length=120,
        description="The model that writes the answers: a model target's model, or the assistant's (default: "
        "the installation's answer model; none: extractive).",
    )
    system_prompt: str | None = Field(None, max_length=8000, description="A model target's system prompt.")
    judge_model: str | None = Field(
        None, max_length=120, description="A gateway model that judges the cases with a rubric (recorded)."
    )
    org_id: str | None = Field(
        None, description="The organisation a collection or model run is for (default: the caller's)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> RunCreate:
        if self.use_case_id is None and self.collection is None and self.model is None:
            raise ValueError("name a use case, a collection or a model to evaluate")
        if self.use_case_id is not None and (self.collection is not None or self.org_id is not None):
            raise ValueError("a use case's run evaluates what the use case runs: name no collection or organisation")
        return self


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["evaluation_run"] = "evaluation_run"
    id: str
    org_id: str
    use_case_id: str | None
    use_case_version: int | None
    suite_id: str
    suite_version: str
    target: dict[str, Any]
    pins: dict[str, Any]
    purpose: str
    status: str
    cases_total: int
    cases_done: int
    passed: int
    pass_rate: float | None
    ci_low: float | None
    ci_high: float | None
    judge_model: str | None
    cost_estimate: float
    cost: float | None
    calls: int | None
    tokens: int | None
    error: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["evaluation_result"] = "evaluation_result"
    case_id: str
    language: str
    tags: list[str]
    passed: bool
    verdicts: list[dict[str, Any]]
    output: str
    abstained: bool | None
    citations: list[dict[str, Any]]
    error: str
    duration_ms: float


class SuiteOut(BaseModel):
    object: Literal["evaluation_suite"] = "evaluation_suite"
    id: str
    version: str
    title: str
    description: str
    kind: str
    targets: list[str]
    languages: list[str]
    cases: int
    source: str


class Flip(BaseModel):
    case_id: str
    before: bool
    after: bool


class ComparisonOut(BaseModel):
    object: Literal["evaluation_comparison"] = "evaluation_comparison"
    run_id: str
    baseline_id: str | None
    regressed: list[str]
    fixed: list[str]
    added: list[str]
    removed: list[str]
    unchanged: int


class GapOut(BaseModel):
    suite: str
    problem: str
    detail: str
    threshold: float
    run_id: str | None


class EvidenceOut(BaseModel):
    object: Literal["evaluation_evidence"] = "evaluation_evidence"
    use_case_id: str
    version: int
    strict: bool
    required: dict[str, float]
    gaps: list[GapOut]
