"""Governance: public transparency records, the versions of the AI usage policy, and what people
recorded about each requirement of a use case.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"], ["organisations.id"], name=op.f(f"fk_{table}_org_id_organisations"), ondelete="CASCADE"
    )


def _use_case(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["use_case_id"],
        ["governance_use_cases.id"],
        name=op.f(f"fk_{table}_use_case_id_governance_use_cases"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    table = "governance_transparency_records"
    op.create_table(
        table,
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("use_case_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=80), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        _org(table),
        _use_case(table),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("use_case_id", "version", name="uq_governance_transparency_records_version"),
    )
    op.create_index(op.f(f"ix_{table}_org_id"), table, ["org_id"], unique=False)
    op.create_index(op.f(f"ix_{table}_use_case_id"), table, ["use_case_id"], unique=False)

    table = "governance_policy_versions"
    op.create_table(
        table,
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("digests", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=80), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        _org(table),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("org_id", "version", name="uq_governance_policy_versions_version"),
    )
    op.create_index(op.f(f"ix_{table}_org_id"), table, ["org_id"], unique=False)

    table = "governance_requirement_states"
    op.create_table(
        table,
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("use_case_id", sa.String(length=40), nullable=False),
        sa.Column("requirement", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("catalogue", sa.String(length=80), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _use_case(table),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("use_case_id", "requirement", name="uq_governance_requirement_states"),
    )
    op.create_index(op.f(f"ix_{table}_use_case_id"), table, ["use_case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_governance_requirement_states_use_case_id"), table_name="governance_requirement_states")
    op.drop_table("governance_requirement_states")
    op.drop_index(op.f("ix_governance_policy_versions_org_id"), table_name="governance_policy_versions")
    op.drop_table("governance_policy_versions")
    op.drop_index(op.f("ix_governance_transparency_records_use_case_id"), table_name="governance_transparency_records")
    op.drop_index(op.f("ix_governance_transparency_records_org_id"), table_name="governance_transparency_records")
    op.drop_table("governance_transparency_records")
