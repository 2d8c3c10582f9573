"""Gateway tables: deployments managed in the admin API, quotas, usage records and their batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soberana.core.clock import utcnow
from soberana.storage.base import Base, UTCDateTime


class ModelDeployment(Base):
    """A deployment added through the admin API (those from settings are not stored)."""

    __tablename__ = "model_deployments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ModelAlias(Base):
    """Routing strategy and description of a public model name, set in the admin API."""

    __tablename__ = "model_aliases"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(20), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Quota(Base):
    """Limits for one organisation or one API key. ``None`` means no limit of that kind."""

    __tablename__ = "quotas"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(12), nullable=False)  # "organisation" | "api_key"
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)  # for tenant scoping
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer)
    tokens_per_day: Mapped[int | None] = mapped_column(Integer)
    monthly_budget: Mapped[float | None] = mapped_column(Float)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("subject_type", "subject_id", name="uq_quotas_subject"),)


class UsageRecord(Base):
    """One call to the model API. Written in batches; each batch is anchored in the audit chain."""

    __tablename__ = "usage_records"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    key_id: Mapped[str | None] = mapped_column(String(40), index=True)
    principal_id: Mapped[str | None] = mapped_column(String(40))
    endpoint: Mapped[str] = mapped_column(String(20), nullable=False)
    model: Mapped[str] = mapped_column(String(120), nullable=False)
    deployment: Mapped[str | None] = mapped_column(String(160))
    stream: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    priority: Mapped[str] = mapped_column(String(12), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    error_code: Mapped[str | None] = mapped_column(String(60))
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tokens_estimated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    cost: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    energy_wh: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    request_id: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # data protection: classification, action and counts per kind of personal data (never a value)
    privacy: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (Index("ix_usage_records_org_id_occurred_at", "org_id", "occurred_at"),)


class UsageBatch(Base):
    """A group of usage records written together; its SHA-256 is recorded in the audit log."""

    __tablename__ = "usage_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # records deleted by the retention purge since; the remaining ones are re-anchored in the chain
    purged: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
