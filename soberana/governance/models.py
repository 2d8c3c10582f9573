"""Governance tables: the register of AI use cases and every version of each."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from soberana.core.clock import utcnow
from soberana.storage.base import Base, UTCDateTime


class UseCase(Base):
    """One use of AI by an organisation: its state, its risk group and which version is approved."""

    __tablename__ = "governance_use_cases"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_governance_use_cases_org_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    risk_group: Mapped[str] = mapped_column(String(20), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # the latest
    approved_version: Mapped[int | None] = mapped_column(Integer)
    submitted_version: Mapped[int | None] = mapped_column(Integer)
    submitted_by: Mapped[str | None] = mapped_column(String(80))
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    suspended_from: Mapped[str | None] = mapped_column(String(20))  # the state a resume returns to
    approved_risk_group: Mapped[str | None] = mapped_column(String(20))  # what the approval rested on
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class UseCaseVersion(Base):
    """The register fields of a use case as one change left them; never changed afterwards."""

    __tablename__ = "governance_use_case_versions"
    __table_args__ = (UniqueConstraint("use_case_id", "version", name="uq_governance_use_case_versions_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    use_case_id: Mapped[str] = mapped_column(
        ForeignKey("governance_use_cases.id", ondelete="CASCADE"), index=True, nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    author: Mapped[str] = mapped_column(String(80), nullable=False)
    note: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Assessment(Base):
    """One assessment of a use case (``kind``: ``aia``, Canada's Algorithmic Impact Assessment): the
    answers, what they gave, and the questionnaire and use-case versions they were given for. Each new
    assessment of a kind is a new version; none is changed afterwards."""

    __tablename__ = "governance_assessments"
    __table_args__ = (UniqueConstraint("use_case_id", "kind", "version", name="uq_governance_assessments_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    use_case_id: Mapped[str] = mapped_column(
        ForeignKey("governance_use_cases.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    use_case_version: Mapped[int] = mapped_column(Integer, nullable=False)
    questionnaire: Mapped[str] = mapped_column(String(80), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    author: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Incident(Base):
    """Something that went wrong with a use case: its triage state, severity, and for a serious incident
    (Art. 3(49)) the date its report to the authority is due (Art. 73)."""

    __tablename__ = "governance_incidents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    use_case_id: Mapped[str] = mapped_column(
        ForeignKey("governance_use_cases.id", ondelete="CASCADE"), index=True, nullable=False
    )
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    severity: Mapped[str] = mapped_column(String(20), nullable=False)
    serious_kind: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    reported_by: Mapped[str] = mapped_column(String(80), nullable=False)
    aware_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    report_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_to_authority_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # [{"at", "by", "status", "note"}, …]
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Supplier(Base):
    """A supplier of models or services to the installation, its terms and whether it may be used."""

    __tablename__ = "governance_suppliers"
    __table_args__ = (UniqueConstraint("legal_name", name="uq_governance_suppliers_legal_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    registration_number: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    contract_reference: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    data_residency: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    retention_terms: Mapped[str] = mapped_column(Text, nullable=False, default="")
    trains_on_customer_data: Mapped[str] = mapped_column(String(20), nullable=False)
    training_terms: Mapped[str] = mapped_column(Text, nullable=False, default="")
    certifications: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    sub_processors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    review_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Binding(Base):
    """What traffic a use case answers for: an API key (``kind`` ``api_key``), a public assistant
    (``collection``) or an organisation's staff workspace (``workspace``, the subject is the organisation).
    One use case per subject; run-time enforcement reads these."""

    __tablename__ = "governance_bindings"
    __table_args__ = (UniqueConstraint("kind", "subject_id", name="uq_governance_bindings_subject"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(40), nullable=False)
    use_case_id: Mapped[str] = mapped_column(
        ForeignKey("governance_use_cases.id", ondelete="CASCADE"), index=True, nullable=False
    )
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Generation(Base):
    """One row whose number grows with every change to the register: a server process that sees it
    changed reloads what it enforces (the kill switch's check when there is no Redis to signal it)."""

    __tablename__ = "governance_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class TransparencyRecord(Base):
    """One version of a use case's public transparency record: the record as written from the register and
    live facts, its state (``draft`` → ``approved`` → ``published``; an older published one becomes
    ``superseded``) and a fingerprint of what ran when it was written (it is out of date when that changes)."""

    __tablename__ = "governance_transparency_records"
    __table_args__ = (UniqueConstraint("use_case_id", "version", name="uq_governance_transparency_records_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    use_case_id: Mapped[str] = mapped_column(
        ForeignKey("governance_use_cases.id", ondelete="CASCADE"), index=True, nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    record: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PolicyVersion(Base):
    """One generated version of an organisation's AI usage policy: the facts it was written from (its
    configuration at the time), their SHA-256 per language, and whether it was approved."""

    __tablename__ = "governance_policy_versions"
    __table_args__ = (UniqueConstraint("org_id", "version", name="uq_governance_policy_versions_version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    digests: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # language -> SHA-256
    status: Mapped[str] = mapped_column(String(20), nullable=False)  # generated | approved
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RequirementState(Base):
    """What people recorded about one requirement of a use case: to do, in progress, done, or not
    applicable (with the reason); the platform's own evidence is computed live, not stored."""

    __tablename__ = "governance_requirement_states"
    __table_args__ = (UniqueConstraint("use_case_id", "requirement", name="uq_governance_requirement_states"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    use_case_id: Mapped[str] = mapped_column(
        ForeignKey("governance_use_cases.id", ondelete="CASCADE"), index=True, nullable=False
    )
    requirement: Mapped[str] = mapped_column(String(80), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    catalogue: Mapped[str] = mapped_column(String(80), nullable=False)  # the catalogue's stamp
    updated_by: Mapped[str] = mapped_column(String(80), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
