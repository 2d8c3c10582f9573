"""Filling the document-level lexical index for documents stored before it existed.

Migrations only change the schema (they are frozen: they import nothing of the application, whose
code moves on). Documents ingested since the index exists are indexed as they are stored; those
stored before are indexed here, by the knowledge worker when a server starts, a batch per
transaction, with the same analysis as ingestion. A cheap count tells whether there is anything to do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import anyio
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError

from soberana.knowledge.index import DocumentRow, Indexes
from soberana.knowledge.ingest import document_terms
from soberana.storage.db import Database

logger = logging.getLogger("soberana.knowledge")
BATCH = 200  # documents analysed and written per transaction

_INDEXED = "SELECT count(*) FROM knowledge_fts_documents"
_WITH_PASSAGES = "SELECT count(DISTINCT document_id) FROM knowledge_chunks"
_INDEXED_IDS = "SELECT document_id FROM knowledge_fts_documents"
_DOCUMENTS = (
    "SELECT id, collection_id, title, language FROM knowledge_documents "
    "WHERE id IN (SELECT DISTINCT document_id FROM knowledge_chunks) ORDER BY id"
)
_PASSAGES = text(
    "SELECT document_id, id, text, heading_path FROM knowledge_chunks "
    "WHERE document_id IN :ids ORDER BY document_id, ordinal"
).bindparams(bindparam("ids", expanding=True))


def _rows(documents: Sequence[Any], passages: Sequence[Any]) -> list[DocumentRow]:
    """Each document's terms, under the id of its first passage (CPU work: run in a worker thread)."""
    found: dict[str, list[tuple[int, str, list[str]]]] = {}
    for document_id, chunk_id, passage, path in passages:
        headings = json.loads(path) if isinstance(path, str) else path
        found.setdefault(document_id, []).append((chunk_id, passage, list(headings or [])))
    rows: list[DocumentRow] = []
    for document_id, collection_id, title, language in documents:
        chunks = found.get(document_id)
        if chunks:
            terms = document_terms(title, [(passage, path) for _, passage, path in chunks], language)
            rows.append((chunks[0][0], document_id, collection_id, terms))
    return rows


async def index_unindexed_documents(db: Database, indexes: Indexes, batch: int = BATCH) -> int:
    """Add the documents missing from the document-level index; returns how many were added."""
    async with db.session() as session:
        indexed = int(await session.scalar(text(_INDEXED)) or 0)
        stored = int(await session.scalar(text(_WITH_PASSAGES)) or 0)
        if indexed >= stored:
            return 0
        known = set((await session.scalars(text(_INDEXED_IDS))).all())
        missing = [row for row in (await session.execute(text(_DOCUMENTS))).all() if row[0] not in known]
    logger.info("indexing %d documents stored before the document-level index", len(missing))
    added = 0
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        async with db.session() as session:
            passages = (await session.execute(_PASSAGES, {"ids": [d[0] for d in part]})).all()
        rows = await anyio.to_thread.run_sync(_rows, part, passages)  # the write lock is not held meanwhile
        async with db.write_session() as session:
            try:
                await indexes.lexical.add_documents(session, rows)
                await session.commit()
            except IntegrityError:  # a document of this batch was ingested again meanwhile, and indexed
                await session.rollback()
                continue
        added += len(rows)
    return added
