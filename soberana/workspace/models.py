"""Workspace tables: staff members' saved chat conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from soberana.core.clock import utcnow
from soberana.storage.base import Base, UTCDateTime


class WorkspaceConversation(Base):
    """One staff member's conversation with a model, seen only by them; deleted on request or after the
    retention period (``workspace_retention_days``) since it last changed."""

    __tablename__ = "workspace_conversations"
    __table_args__ = (Index("ix_workspace_conversations_owner", "user_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    classification: Mapped[str | None] = mapped_column(String(40))
    # [{"role": "user"|"assistant", "content": str, "pii": str, "deployment": str}, …]
    turns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
