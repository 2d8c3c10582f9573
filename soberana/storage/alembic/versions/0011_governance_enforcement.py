"""Governance run-time enforcement: which use case each API key, public assistant and staff workspace
answers for, and the register's change counter.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "governance_bindings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("use_case_id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_governance_bindings_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["use_case_id"],
            ["governance_use_cases.id"],
            name=op.f("fk_governance_bindings_use_case_id_governance_use_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_bindings")),
        sa.UniqueConstraint("kind", "subject_id", name="uq_governance_bindings_subject"),
    )
    op.create_index(op.f("ix_governance_bindings_org_id"), "governance_bindings", ["org_id"], unique=False)
    op.create_index(op.f("ix_governance_bindings_use_case_id"), "governance_bindings", ["use_case_id"], unique=False)
    op.create_table(
        "governance_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_generation")),
    )
    op.bulk_insert(sa.table("governance_generation", sa.column("id"), sa.column("value")), [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("governance_generation")
    op.drop_index(op.f("ix_governance_bindings_use_case_id"), table_name="governance_bindings")
    op.drop_index(op.f("ix_governance_bindings_org_id"), table_name="governance_bindings")
    op.drop_table("governance_bindings")
