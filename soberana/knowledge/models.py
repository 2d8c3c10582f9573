"""Knowledge tables: collections, documents, chunks, ingestion jobs and citizen conversations.

The lexical index (an FTS5 table on SQLite, a ``tsvector`` table on PostgreSQL) and the pgvector
table are created by the migration and maintained by :mod:`soberana.knowledge.index`; they are not
mapped here because their column types exist on one database only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from soberana.core.clock import utcnow
from soberana.storage.base import Base, UTCDateTime

# An integer key that autoincrements on both databases (FTS5 needs an integer rowid).
ChunkKey = BigInteger().with_variant(Integer(), "sqlite")


class Collection(Base):
    """A set of documents an assistant or a search draws on, owned by one organisation."""

    __tablename__ = "knowledge_collections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(String(2000), nullable=False, default="")
    visibility: Mapped[str] = mapped_column(String(10), nullable=False)  # "public" | "internal"
    classification: Mapped[str] = mapped_column(String(40), nullable=False)
    embedding_model: Mapped[str | None] = mapped_column(String(120))
    # sites that may embed the assistant widget of a public collection
    widget_origins: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list, server_default="[]")
    # Bumped on every change to the collection's chunks: in-process vector caches reload on a change.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_knowledge_collections_org_name"),)


class Document(Base):
    """One source document (a page, a PDF, one JSON Lines record) in a collection."""

    __tablename__ = "knowledge_documents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(500), nullable=False)  # file name (or name#record) within the collection
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    source_url: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str | None] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(12), nullable=False)
    # SHA-256 of the document's content as parsed (title, address, text): re-saving a file with new
    # timestamps but the same text changes nothing. ``file_hash`` is the uploaded file's own SHA-256,
    # which lets an unchanged file be skipped without parsing it.
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    file_hash: Mapped[str | None] = mapped_column(String(64))
    published: Mapped[str | None] = mapped_column(String(32))
    modified: Mapped[str | None] = mapped_column(String(32))
    page_count: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("collection_id", "key", name="uq_knowledge_documents_collection_key"),)


class Chunk(Base):
    """A passage of a document: the unit that is searched and cited."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[int] = mapped_column(ChunkKey, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE"), index=True, nullable=False
    )
    collection_id: Mapped[str] = mapped_column(String(40), nullable=False)
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    heading_path: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    page: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(8))
    words: Mapped[int] = mapped_column(Integer, nullable=False)
    # SHA-256 of the text the embedding model reads: an unchanged passage keeps its vector on re-ingestion.
    embed_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # float32 little-endian, L2-normalised; NULL until the background embedder has reached it.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_knowledge_chunks_collection_id_id", "collection_id", "id"),
        Index("ix_knowledge_chunks_collection_id_embed_hash", "collection_id", "embed_hash"),
    )


class IngestJob(Base):
    """Ingestion of a batch of files, run in the background; its progress is readable while it runs."""

    __tablename__ = "knowledge_ingest_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE"), index=True, nullable=False
    )
    org_id: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # queued|running|succeeded|failed|partial
    files_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    files_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_added: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_updated: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks_added: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    """A citizen's (anonymous) or staff member's conversation with an assistant over a collection."""

    __tablename__ = "knowledge_conversations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE"), index=True, nullable=False
    )
    org_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    # A citizen proves a session is theirs with this token (its SHA-256 is stored, not the token).
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    principal_id: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class Message(Base):
    """One turn of a conversation: the citizen's question, the assistant's answer, or a staff reply."""

    __tablename__ = "knowledge_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_conversations.id", ondelete="CASCADE"), index=True, nullable=False
    )
    role: Mapped[str] = mapped_column(String(10), nullable=False)  # user | assistant | staff
    content: Mapped[str] = mapped_column(Text, nullable=False)
    language: Mapped[str | None] = mapped_column(String(8))
    mode: Mapped[str | None] = mapped_column(String(12))  # generated | extractive | abstained
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    flags: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Feedback(Base):
    """A citizen's verdict on one answer."""

    __tablename__ = "knowledge_feedback"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_messages.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    conversation_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    helpful: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class HandoffCase(Base):
    """A request to talk to a person: a case in the staff queue of the collection's organisation."""

    __tablename__ = "knowledge_handoff_cases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_conversations.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    org_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # open | assigned | closed
    reason: Mapped[str | None] = mapped_column(String(2000))
    contact: Mapped[str | None] = mapped_column(String(320))
    assignee_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
