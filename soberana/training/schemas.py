"""Request and response bodies of the training API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(pattern=r"^[a-z]{2}$", description="The language of the quiz taken.")
    answers: dict[str, int | list[int] | bool | float | None] = Field(
        max_length=500,
        description="Question id → the answer: a choice's index (single choice), a list of indexes (multiple "
        "choice), true/false, or a number. A question not answered scores nothing.",
    )
    holder_name: str | None = Field(
        None, max_length=200, description="The name shown on the certificate (default: your account's name)."
    )


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_baseline: bool = Field(description="Require the baseline course before the people use models.")


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class CourseOut(BaseModel):
    object: Literal["course"] = "course"
    id: str
    version: str
    title: dict[str, str]
    summary: dict[str, str]
    languages: list[str]
    audience: list[str]
    validity_days: int
    pass_mark: float
    baseline: bool
    modules: list[dict[str, Any]]
    questions: int


class MarkOut(BaseModel):
    question: str
    points: float
    feedback: list[str]


class CompletionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["training_completion"] = "training_completion"
    id: str
    user_id: str
    org_id: str
    role: str
    course_id: str
    course_version: str
    language: str
    score: float
    code: str
    holder_name: str
    completed_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str


class AttemptOut(BaseModel):
    object: Literal["training_attempt"] = "training_attempt"
    id: str
    course_id: str
    score: float
    passed: bool
    pass_mark: float
    marks: list[MarkOut]
    completion: CompletionOut | None


class CertificateOut(BaseModel):
    object: Literal["certificate"] = "certificate"
    code: str
    status: Literal["valid", "expired", "revoked"]
    course_id: str
    course_title: dict[str, str]
    holder_name: str
    completed_at: datetime
    expires_at: datetime
