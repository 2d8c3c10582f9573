"""Document-level lexical index: each document's terms as one text (FTS5 / tsvector), filled for the
documents already stored.

A question whose words are spread over several sections of a page matches no single passage well;
ranked as a whole, the page still scores (see ``soberana.knowledge.index``). A row is keyed by the id
of the document's first passage, so deleting a document's passages deletes its row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200  # documents analysed and written per round while filling the index


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts_documents USING fts5("
            "terms, document_id UNINDEXED, collection_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
        )
        insert = (
            "INSERT INTO knowledge_fts_documents (rowid, terms, document_id, collection_id) "
            "VALUES (:id, :terms, :document, :collection)"
        )
    else:
        op.execute(
            "CREATE TABLE knowledge_fts_documents ("
            "chunk_id BIGINT PRIMARY KEY REFERENCES knowledge_chunks (id) ON DELETE CASCADE, "
            "document_id VARCHAR(40) NOT NULL, collection_id VARCHAR(40) NOT NULL, terms TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_knowledge_fts_documents_terms ON knowledge_fts_documents USING GIN (terms)")
        op.execute("CREATE INDEX ix_knowledge_fts_documents_collection_id ON knowledge_fts_documents (collection_id)")
        insert = (
            "INSERT INTO knowledge_fts_documents (chunk_id, document_id, collection_id, terms) "
            "VALUES (:id, :document, :collection, to_tsvector('simple', :terms))"
        )
    _fill(bind, sa.text(insert))


def _fill(bind: sa.Connection, insert: sa.TextClause) -> None:
    """Index the documents already stored, from their passages (the analysis the ingestion uses)."""
    from soberana.knowledge.ingest import document_terms

    documents = bind.execute(sa.text("SELECT id, collection_id, title, language FROM knowledge_documents")).all()
    for start in range(0, len(documents), _BATCH):
        part = documents[start : start + _BATCH]
        passages: dict[str, list[tuple[int, str, list[str]]]] = {}
        rows = bind.execute(
            sa.text(
                "SELECT document_id, id, text, heading_path FROM knowledge_chunks "
                "WHERE document_id IN :ids ORDER BY document_id, ordinal"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": [d[0] for d in part]},
        )
        for document_id, chunk_id, passage, path in rows:
            headings = json.loads(path) if isinstance(path, str) else path
            passages.setdefault(document_id, []).append((chunk_id, passage, list(headings or [])))
        values = []
        for document_id, collection_id, title, language in part:
            found = passages.get(document_id)
            if found:
                terms = document_terms(title, [(text, path) for _, text, path in found], language)
                values.append({"id": found[0][0], "document": document_id, "collection": collection_id, "terms": terms})
        if values:
            bind.execute(insert, values)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS knowledge_fts_documents")
