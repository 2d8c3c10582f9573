"""Governance: the register of AI use cases, their versions, assessments and incidents; suppliers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "governance_use_cases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("risk_group", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("approved_version", sa.Integer(), nullable=True),
        sa.Column("submitted_version", sa.Integer(), nullable=True),
        sa.Column("submitted_by", sa.String(length=80), nullable=True),
        sa.Column("approved_by", sa.String(length=80), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("suspended_from", sa.String(length=20), nullable=True),
        sa.Column("approved_risk_group", sa.String(length=20), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_governance_use_cases_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_use_cases")),
        sa.UniqueConstraint("org_id", "name", name="uq_governance_use_cases_org_name"),
    )
    op.create_index(op.f("ix_governance_use_cases_org_id"), "governance_use_cases", ["org_id"], unique=False)
    op.create_table(
        "governance_use_case_versions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("use_case_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["use_case_id"],
            ["governance_use_cases.id"],
            name=op.f("fk_governance_use_case_versions_use_case_id_governance_use_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_use_case_versions")),
        sa.UniqueConstraint("use_case_id", "version", name="uq_governance_use_case_versions_version"),
    )
    op.create_index(
        op.f("ix_governance_use_case_versions_use_case_id"),
        "governance_use_case_versions",
        ["use_case_id"],
        unique=False,
    )

    op.create_table(
        "governance_assessments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("use_case_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("use_case_version", sa.Integer(), nullable=False),
        sa.Column("questionnaire", sa.String(length=80), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["use_case_id"],
            ["governance_use_cases.id"],
            name=op.f("fk_governance_assessments_use_case_id_governance_use_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_assessments")),
        sa.UniqueConstraint("use_case_id", "kind", "version", name="uq_governance_assessments_version"),
    )
    op.create_index(
        op.f("ix_governance_assessments_use_case_id"), "governance_assessments", ["use_case_id"], unique=False
    )

    op.create_table(
        "governance_incidents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("use_case_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("serious_kind", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("reported_by", sa.String(length=80), nullable=False),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_to_authority_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_governance_incidents_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["use_case_id"],
            ["governance_use_cases.id"],
            name=op.f("fk_governance_incidents_use_case_id_governance_use_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_incidents")),
    )
    op.create_index(op.f("ix_governance_incidents_org_id"), "governance_incidents", ["org_id"], unique=False)
    op.create_index(op.f("ix_governance_incidents_use_case_id"), "governance_incidents", ["use_case_id"], unique=False)

    op.create_table(
        "governance_suppliers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("registration_number", sa.String(length=200), nullable=False),
        sa.Column("contract_reference", sa.String(length=200), nullable=False),
        sa.Column("data_residency", sa.JSON(), nullable=False),
        sa.Column("retention_terms", sa.Text(), nullable=False),
        sa.Column("trains_on_customer_data", sa.String(length=20), nullable=False),
        sa.Column("training_terms", sa.Text(), nullable=False),
        sa.Column("certifications", sa.JSON(), nullable=False),
        sa.Column("sub_processors", sa.JSON(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_suppliers")),
        sa.UniqueConstraint("legal_name", name="uq_governance_suppliers_legal_name"),
    )


def downgrade() -> None:
    op.drop_table("governance_suppliers")
    op.drop_table("governance_incidents")
    op.drop_table("governance_assessments")
    op.drop_table("governance_use_case_versions")
    op.drop_table("governance_use_cases")
