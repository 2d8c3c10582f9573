"""Evaluation tables: each run of a suite against a target, with what it was pinned to, and the result of
every case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soberana.core.clock import utcnow
from soberana.storage.base import Base, UTCDateTime


class EvaluationRun(Base):
    """One run of a suite: its target, the versions it ran on (``pins``), progress and the pass rate."""

    __tablename__ = "evaluation_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    use_case_id: Mapped[str | None] = mapped_column(String(40), index=True)  # governance's id (no foreign key)
    use_case_version: Mapped[int | None] = mapped_column(Integer)
    suite_id: Mapped[str] = mapped_column(String(64), nullable=False)
    suite_version: Mapped[str] = mapped_column(String(40), nullable=False)  # "<version>+<sha256 prefix>"
    target: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    pins: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    purpose: Mapped[str] = mapped_column(String(20), nullable=False)  # manual | approval | rerun
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # queued | running | finished | failed
    cases_total: Mapped[int] = mapped_column(Integer, nullable=False)
    cases_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    passed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pass_rate: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    judge_model: Mapped[str | None] = mapped_column(String(120))
    canary: Mapped[str] = mapped_column(String(80), nullable=False)
    marker: Mapped[str] = mapped_column(String(80), nullable=False)
    shadow_collection_id: Mapped[str | None] = mapped_column(String(40))
    cost_estimate: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    cost: Mapped[float | None] = mapped_column(Float)
    calls: Mapped[int | None] = mapped_column(Integer)
    tokens: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EvaluationResult(Base):
    """The outcome of one case of a run: every check's verdict and what the target answered."""

    __tablename__ = "evaluation_results"
    __table_args__ = (UniqueConstraint("run_id", "case_id", name="uq_evaluation_results_case"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(
        ForeignKey("evaluation_runs.id", ondelete="CASCADE"), index=True, nullable=False
    )
    case_id: Mapped[str] = mapped_column(String(96), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    output: Mapped[str] = mapped_column(Text, nullable=False, default="")
    abstained: Mapped[bool | None] = mapped_column(Boolean)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
