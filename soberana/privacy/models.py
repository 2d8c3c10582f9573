"""Data-protection tables: policies per organisation or key, and the pseudonym vault."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soberana.core.clock import utcnow
from soberana.storage.base import Base, UTCDateTime


class PrivacyPolicy(Base):
    """An organisation's or an API key's data-protection policy.

    ``document`` holds a :class:`~soberana.privacy.schemas.PolicyDocument`.
    """

    __tablename__ = "privacy_policies"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(12), nullable=False)  # "organisation" | "api_key"
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)  # for tenant scoping
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("subject_type", "subject_id", name="uq_privacy_policies_subject"),)


class VaultEntry(Base):
    """One placeholder of one conversation and its value, encrypted (AES-256-GCM)."""

    __tablename__ = "privacy_vault"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    scope: Mapped[str] = mapped_column(String(64), nullable=False)  # digest of (organisation, owner, conversation)
    placeholder: Mapped[str] = mapped_column(String(60), nullable=False)
    label: Mapped[str] = mapped_column(String(40), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # nonce + AES-GCM output
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("scope", "placeholder", name="uq_privacy_vault_scope_placeholder"),
        Index("ix_privacy_vault_org_id_expires_at", "org_id", "expires_at"),
    )
