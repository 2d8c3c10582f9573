"""Document-level lexical index: each document's terms as one text (FTS5 / tsvector).

A question whose words are spread over several sections of a page matches no single passage well;
ranked as a whole, the page still scores (see ``soberana.knowledge.index``). A row is keyed by the id
of the document's first passage, so deleting a document's passages deletes its row. Documents stored
before this revision are indexed by the knowledge worker when the server starts
(``soberana.knowledge.backfill``): a migration analyses no text, it only changes the schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts_documents USING fts5("
            "terms, document_id UNINDEXED, collection_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE knowledge_fts_documents ("
            "chunk_id BIGINT PRIMARY KEY REFERENCES knowledge_chunks (id) ON DELETE CASCADE, "
            "document_id VARCHAR(40) NOT NULL, collection_id VARCHAR(40) NOT NULL, terms TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_knowledge_fts_documents_terms ON knowledge_fts_documents USING GIN (terms)")
        op.execute("CREATE INDEX ix_knowledge_fts_documents_collection_id ON knowledge_fts_documents (collection_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS knowledge_fts_documents")
