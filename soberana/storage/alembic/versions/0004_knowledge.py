"""Knowledge collections: documents, chunks, lexical and vector indexes, ingestion jobs, conversations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 03:29:39.584366
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_collections",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("classification", sa.String(length=40), nullable=False),
        sa.Column("embedding_model", sa.String(length=120), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_knowledge_collections_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_collections")),
        sa.UniqueConstraint("org_id", "name", name="uq_knowledge_collections_org_name"),
    )
    with op.batch_alter_table("knowledge_collections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_collections_org_id"), ["org_id"], unique=False)

    op.create_table(
        "knowledge_conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("collection_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=40), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["knowledge_collections.id"],
            name=op.f("fk_knowledge_conversations_collection_id_knowledge_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_conversations")),
    )
    with op.batch_alter_table("knowledge_conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_conversations_collection_id"), ["collection_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_conversations_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_conversations_org_id"), ["org_id"], unique=False)

    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("collection_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("format", sa.String(length=12), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=True),
        sa.Column("published", sa.String(length=32), nullable=True),
        sa.Column("modified", sa.String(length=32), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["knowledge_collections.id"],
            name=op.f("fk_knowledge_documents_collection_id_knowledge_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_documents")),
        sa.UniqueConstraint("collection_id", "key", name="uq_knowledge_documents_collection_key"),
    )
    op.create_table(
        "knowledge_ingest_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("collection_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("files_total", sa.Integer(), nullable=False),
        sa.Column("files_done", sa.Integer(), nullable=False),
        sa.Column("documents_added", sa.Integer(), nullable=False),
        sa.Column("documents_updated", sa.Integer(), nullable=False),
        sa.Column("documents_unchanged", sa.Integer(), nullable=False),
        sa.Column("chunks_added", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["knowledge_collections.id"],
            name=op.f("fk_knowledge_ingest_jobs_collection_id_knowledge_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_ingest_jobs")),
    )
    with op.batch_alter_table("knowledge_ingest_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_ingest_jobs_collection_id"), ["collection_id"], unique=False)

    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("collection_id", sa.String(length=40), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("heading_path", sa.JSON(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("words", sa.Integer(), nullable=False),
        sa.Column("embed_hash", sa.String(length=64), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name=op.f("fk_knowledge_chunks_document_id_knowledge_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunks")),
    )
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_knowledge_chunks_collection_id_embed_hash", ["collection_id", "embed_hash"], unique=False
        )
        batch_op.create_index("ix_knowledge_chunks_collection_id_id", ["collection_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_chunks_document_id"), ["document_id"], unique=False)

    op.create_table(
        "knowledge_handoff_cases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("contact", sa.String(length=320), nullable=True),
        sa.Column("assignee_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["knowledge_conversations.id"],
            name=op.f("fk_knowledge_handoff_cases_conversation_id_knowledge_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_handoff_cases")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_knowledge_handoff_cases_conversation_id")),
    )
    with op.batch_alter_table("knowledge_handoff_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_handoff_cases_org_id"), ["org_id"], unique=False)

    op.create_table(
        "knowledge_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("mode", sa.String(length=12), nullable=True),
        sa.Column("citations", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["knowledge_conversations.id"],
            name=op.f("fk_knowledge_messages_conversation_id_knowledge_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_messages")),
    )
    with op.batch_alter_table("knowledge_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_messages_conversation_id"), ["conversation_id"], unique=False)

    op.create_table(
        "knowledge_feedback",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["knowledge_messages.id"],
            name=op.f("fk_knowledge_feedback_message_id_knowledge_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_feedback")),
        sa.UniqueConstraint("message_id", name=op.f("uq_knowledge_feedback_message_id")),
    )
    with op.batch_alter_table("knowledge_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_feedback_conversation_id"), ["conversation_id"], unique=False)

    _create_search_indexes()


def _create_search_indexes() -> None:
    """The lexical index (FTS5 / tsvector) and, where pgvector is installed, the vector table.

    Kept out of the SQLAlchemy models because their column types exist on one database only.
    """
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts USING fts5("
            "context, terms, collection_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
        )
        return
    op.execute(
        "CREATE TABLE knowledge_fts ("
        "chunk_id BIGINT PRIMARY KEY REFERENCES knowledge_chunks (id) ON DELETE CASCADE, "
        "collection_id VARCHAR(40) NOT NULL, terms TSVECTOR NOT NULL)"
    )
    op.execute("CREATE INDEX ix_knowledge_fts_terms ON knowledge_fts USING GIN (terms)")
    op.execute("CREATE INDEX ix_knowledge_fts_collection_id ON knowledge_fts (collection_id)")
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").first()
    if available is None:
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        "CREATE TABLE knowledge_vectors ("
        "chunk_id BIGINT PRIMARY KEY REFERENCES knowledge_chunks (id) ON DELETE CASCADE, "
        "collection_id VARCHAR(40) NOT NULL, embedding VECTOR NOT NULL)"
    )
    op.execute("CREATE INDEX ix_knowledge_vectors_collection_id ON knowledge_vectors (collection_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS knowledge_vectors")
    op.execute("DROP TABLE IF EXISTS knowledge_fts")
    with op.batch_alter_table("knowledge_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_feedback_conversation_id"))

    op.drop_table("knowledge_feedback")
    with op.batch_alter_table("knowledge_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_messages_conversation_id"))

    op.drop_table("knowledge_messages")
    with op.batch_alter_table("knowledge_handoff_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_handoff_cases_org_id"))

    op.drop_table("knowledge_handoff_cases")
    with op.batch_alter_table("knowledge_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_chunks_document_id"))
        batch_op.drop_index("ix_knowledge_chunks_collection_id_id")
        batch_op.drop_index("ix_knowledge_chunks_collection_id_embed_hash")

    op.drop_table("knowledge_chunks")
    with op.batch_alter_table("knowledge_ingest_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_ingest_jobs_collection_id"))

    op.drop_table("knowledge_ingest_jobs")
    op.drop_table("knowledge_documents")
    with op.batch_alter_table("knowledge_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_conversations_org_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_conversations_expires_at"))
        batch_op.drop_index(batch_op.f("ix_knowledge_conversations_collection_id"))

    op.drop_table("knowledge_conversations")
    with op.batch_alter_table("knowledge_collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_collections_org_id"))

    op.drop_table("knowledge_collections")
