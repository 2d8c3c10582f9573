"""Data protection: policies, the pseudonym vault, privacy counts on usage records, purged batches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_policies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=12), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_policies")),
        sa.UniqueConstraint("subject_type", "subject_id", name="uq_privacy_policies_subject"),
    )
    op.create_index(op.f("ix_privacy_policies_org_id"), "privacy_policies", ["org_id"], unique=False)
    op.create_table(
        "privacy_vault",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("placeholder", sa.String(length=60), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_vault")),
        sa.UniqueConstraint("scope", "placeholder", name="uq_privacy_vault_scope_placeholder"),
    )
    op.create_index("ix_privacy_vault_org_id_expires_at", "privacy_vault", ["org_id", "expires_at"], unique=False)
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("privacy", sa.JSON(none_as_null=True), nullable=True))
    with op.batch_alter_table("usage_batches") as batch:
        batch.add_column(sa.Column("purged", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("usage_batches") as batch:
        batch.drop_column("purged")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("privacy")
    op.drop_index("ix_privacy_vault_org_id_expires_at", table_name="privacy_vault")
    op.drop_table("privacy_vault")
    op.drop_index(op.f("ix_privacy_policies_org_id"), table_name="privacy_policies")
    op.drop_table("privacy_policies")
