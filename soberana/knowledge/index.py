"""Search indexes of passages: lexical (full text) and dense (vectors), one backend per database.

=============  ===========================================  =================================================
               SQLite (embedded default)                    PostgreSQL (scale-out)
=============  ===========================================  =================================================
lexical        FTS5 table ``knowledge_fts``, BM25 ranking   ``knowledge_fts`` with a ``tsvector`` + GIN index
(passages)
lexical        FTS5 table ``knowledge_fts_documents``       ``knowledge_fts_documents`` (``tsvector`` + GIN)
(documents)
dense          :class:`MemoryVectorIndex`: NumPy matrix     :class:`PgVectorIndex` (pgvector) when the
               per collection, loaded from the chunks'      extension is installed, else the memory index
               stored vectors and refreshed incrementally
=============  ===========================================  =================================================

The document-level lexical index holds each document's terms as one text (title, headings and every
passage), keyed by the id of the document's first passage, so deleting a document's passages deletes
its row too: a question whose words are spread over several sections of a page still finds the page
(:class:`~soberana.knowledge.search.ScoreFusion` adds a share of it to each passage of the page).

All lexical tables hold *analysed* terms (:mod:`soberana.knowledge.text`), so ranking sees the
same stemmed words on both databases. Every chunk also keeps its vector in
``knowledge_chunks.embedding``, the source of truth from which any index can be rebuilt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import numpy as np
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.knowledge.models import Chunk, Collection

Hit = tuple[int, float]  # (chunk id, score: higher is better)


def _quote_terms(terms: Sequence[str]) -> list[str]:
    return [t for t in dict.fromkeys(terms) if t]


# Weight of a passage's context (document title, headings) against its own text in lexical ranking:
# the context tells which document a passage is in, its text which passage of it answers.
CONTEXT_WEIGHT = 0.4

LexicalRow = tuple[int, str, str, str]  # (chunk id, collection id, analysed context terms, analysed text terms)
# (id of the document's first chunk, document id, collection id, analysed terms of the whole document)
DocumentRow = tuple[int, str, str, str]
DocumentHit = tuple[str, float]  # (document id, score: higher is better)


class LexicalIndex(Protocol):
    async def add(self, session: AsyncSession, rows: Sequence[LexicalRow]) -> None:
        """Index passages: their analysed context (title, headings) and text, in separate fields."""

    async def add_documents(self, session: AsyncSession, rows: Sequence[DocumentRow]) -> None:
        """Index whole documents, each under the id of its first passage."""

    async def delete(self, session: AsyncSession, chunk_ids: Sequence[int]) -> None:
        """Remove passages, and the documents indexed under any of them."""

    async def search(
        self, session: AsyncSession, collection_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]: ...

    async def search_documents(
        self, session: AsyncSession, collection_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[DocumentHit]: ...


# In a large index, question terms held by more than this share of passages are left out of the
# search (BM25 gives them little weight, and scoring their long posting lists is most of the cost),
# and a long question keeps only its rarest terms.
COMMON_TERM_SHARE = 0.02
MAX_QUERY_TERMS = 10
PRUNE_FROM_PASSAGES = 50_000
_COUNT_TTL_SECONDS = 60.0


class Fts5Index:
    """SQLite FTS5 with its built-in BM25 (``bm25()`` is lower-is-better; negated here)."""

    def __init__(
        self,
        *,
        prune_from: int = PRUNE_FROM_PASSAGES,
        common_share: float = COMMON_TERM_SHARE,
        max_terms: int = MAX_QUERY_TERMS,
    ) -> None:
        self.prune_from = prune_from
        self.common_share = common_share
        self.max_terms = max_terms
        self._passages = (0, -_COUNT_TTL_SECONDS)  # (count, when counted)

    async def _passage_count(self, session: AsyncSession) -> int:
        count, counted = self._passages
        now = time.monotonic()
        if now - counted >= _COUNT_TTL_SECONDS:
            count = int(await session.scalar(text("SELECT count(*) FROM knowledge_chunks")) or 0)
            self._passages = (count, now)
        return count

    async def _selective(self, session: AsyncSession, words: list[str]) -> list[str]:
        """``words`` without the very common ones, and at most the ``max_terms`` rarest, in a large
        index (the rarest always stays)."""
        total = await self._passage_count(session)
        if total < self.prune_from or len(words) < 2:
            return words
        stmt = text("SELECT term, doc FROM knowledge_fts_vocab WHERE term IN :terms").bindparams(
            bindparam("terms", expanding=True)
        )
        frequency = {str(t): int(d) for t, d in (await session.execute(stmt, {"terms": words})).all()}
        kept = [w for w in words if frequency.get(w, 0) <= self.common_share * total]
        if len(kept) > self.max_terms:
            kept = sorted(kept, key=lambda w: frequency.get(w, 0))[: self.max_terms]
        return kept or [min(words, key=lambda w: frequency.get(w, 0))]

    async def add(self, session: AsyncSession, rows: Sequence[LexicalRow]) -> None:
        if rows:
            await session.execute(
                text(
                    "INSERT INTO knowledge_fts (rowid, context, terms, collection_id) "
                    "VALUES (:id, :context, :terms, :collection)"
                ),
                [{"id": i, "collection": c, "context": ctx, "terms": t} for i, c, ctx, t in rows],
            )

    async def add_documents(self, session: AsyncSession, rows: Sequence[DocumentRow]) -> None:
        if rows:
            await session.execute(
                text(
                    "INSERT INTO knowledge_fts_documents (rowid, terms, document_id, collection_id) "
                    "VALUES (:id, :terms, :document, :collection)"
                ),
                [{"id": i, "document": d, "collection": c, "terms": t} for i, d, c, t in rows],
            )

    async def delete(self, session: AsyncSession, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            for statement in (
                "DELETE FROM knowledge_fts WHERE rowid IN :ids",
                "DELETE FROM knowledge_fts_documents WHERE rowid IN :ids",
            ):
                stmt = text(statement).bindparams(bindparam("ids", expanding=True))
                await session.execute(stmt, {"ids": list(chunk_ids)})

    async def search(
        self, session: AsyncSession, collection_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        words = _quote_terms(terms)
        if not words or not collection_ids:
            return []
        match = " OR ".join(f'"{w}"' for w in await self._selective(session, words))
        # FTS5's own ``rank`` column (set to weighted BM25 by ``rank MATCH``) lets it order the matches
        # itself: the same ranking as calling bm25() in the query, at half the cost or less.
        stmt = text(
            "SELECT rowid, rank FROM knowledge_fts WHERE knowledge_fts MATCH :match AND rank MATCH :rank "
            "AND collection_id IN :collections ORDER BY rank LIMIT :limit"
        ).bindparams(bindparam("collections", expanding=True))
        rows = await session.execute(
            stmt,
            {
                "match": match,
                "rank": f"bm25({CONTEXT_WEIGHT}, 1.0)",
                "collections": list(collection_ids),
                "limit": limit,
            },
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    async def search_documents(
        self, session: AsyncSession, collection_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[DocumentHit]:
        words = _quote_terms(terms)
        if not words or not collection_ids:
            return []
        match = " OR ".join(f'"{w}"' for w in await self._selective(session, words))
        stmt = text(
            "SELECT document_id, rank FROM knowledge_fts_documents WHERE knowledge_fts_documents MATCH :match "
            "AND collection_id IN :collections ORDER BY rank LIMIT :limit"
        ).bindparams(bindparam("collections", expanding=True))
        rows = await session.execute(stmt, {"match": match, "collections": list(collection_ids), "limit": limit})
        return [(str(r[0]), -float(r[1])) for r in rows]


class PgTextIndex:
    """PostgreSQL full text over the analysed terms (``simple`` configuration: no second stemming)."""

    async def add(self, session: AsyncSession, rows: Sequence[LexicalRow]) -> None:
        if rows:
            await session.execute(
                text(
                    "INSERT INTO knowledge_fts (chunk_id, collection_id, terms) VALUES (:id, :collection, "
                    "setweight(to_tsvector('simple', :context), 'B') || setweight(to_tsvector('simple', :terms), 'A'))"
                ),
                [{"id": i, "collection": c, "context": ctx, "terms": t} for i, c, ctx, t in rows],
            )

    async def add_documents(self, session: AsyncSession, rows: Sequence[DocumentRow]) -> None:
        if rows:
            await session.execute(
                text(
                    "INSERT INTO knowledge_fts_documents (chunk_id, document_id, collection_id, terms) "
                    "VALUES (:id, :document, :collection, to_tsvector('simple', :terms))"
                ),
                [{"id": i, "document": d, "collection": c, "terms": t} for i, d, c, t in rows],
            )

    async def delete(self, session: AsyncSession, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            for statement in (
                "DELETE FROM knowledge_fts WHERE chunk_id = ANY(:ids)",
                "DELETE FROM knowledge_fts_documents WHERE chunk_id = ANY(:ids)",
            ):
                await session.execute(text(statement), {"ids": list(chunk_ids)})

    async def search(
        self, session: AsyncSession, collection_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[Hit]:
        words = _quote_terms(terms)
        if not words or not collection_ids:
            return []
        query = " | ".join(w.replace("'", "") for w in words if w.replace("'", ""))
        rows = await session.execute(
            text(
                "SELECT chunk_id, ts_rank(CAST(:weights AS real[]), terms, q, 1) AS rank "
                "FROM knowledge_fts, to_tsquery('simple', :query) q "
                "WHERE terms @@ q AND collection_id = ANY(:collections) ORDER BY rank DESC LIMIT :limit"
            ),
            {
                "query": query,
                "collections": list(collection_ids),
                "limit": limit,
                "weights": [0.0, 0.0, CONTEXT_WEIGHT, 1.0],  # D, C, B (context), A (text)
            },
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    async def search_documents(
        self, session: AsyncSession, collection_ids: Sequence[str], terms: Sequence[str], limit: int
    ) -> list[DocumentHit]:
        words = [w.replace("'", "") for w in _quote_terms(terms)]
        query = " | ".join(w for w in words if w)
        if not query or not collection_ids:
            return []
        rows = await session.execute(
            text(
                "SELECT document_id, ts_rank(terms, q, 1) AS rank "
                "FROM knowledge_fts_documents, to_tsquery('simple', :query) q "
                "WHERE terms @@ q AND collection_id = ANY(:collections) ORDER BY rank DESC LIMIT :limit"
            ),
            {"query": query, "collections": list(collection_ids), "limit": limit},
        )
        return [(str(r[0]), float(r[1])) for r in rows]


class VectorIndex(Protocol):
    async def add(self, session: AsyncSession, rows: Sequence[tuple[int, str, np.ndarray]]) -> None:
        """Index ``(chunk id, collection id, unit vector)`` rows (their bytes are already stored on the chunks)."""

    async def search(
        self, session: AsyncSession, collection_ids: Sequence[str], vector: np.ndarray, limit: int
    ) -> list[Hit]: ...


# From this many passages a collection's vectors are also kept as 8-bit codes (faiss's scalar
# quantizer, a quarter of the memory to read per search); the codes pick RESCORE × limit candidates
# and the float vectors score them exactly, so the ranking is the exact one in practice.
QUANTIZE_FROM = 20_000
RESCORE = 4


@dataclass
class _Matrix:
    version: int = -1
    ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    vectors: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    codes: Any = None  # a faiss.IndexScalarQuantizer over ``vectors``, for large collections


def _quantized(vectors: np.ndarray, quantize_from: int) -> Any:
    """8-bit codes of ``vectors`` (a faiss index), or None for a small matrix or without faiss."""
    if len(vectors) < quantize_from or not vectors.size:
        return None
    try:
        import faiss
    except ImportError:  # an optional speed-up: exact NumPy search without it
        return None
    faiss.omp_set_num_threads(1)  # this worker thread only: the encoder and the database need the others
    index = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    return index


class MemoryVectorIndex:
    """Exact cosine search over an in-process float32 matrix per collection.

    The matrix is loaded from ``knowledge_chunks.embedding`` on first use and refreshed when the
    collection's ``version`` moves (each process notices other processes' changes the same way):
    only the ids are re-read, and only new vectors are loaded. 100,000 passages of 384 dimensions
    take 150 MB and about 10 ms per search.
    """

    def __init__(self, *, quantize_from: int = QUANTIZE_FROM) -> None:
        self._matrices: dict[str, _Matrix] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.quantize_from = quantize_from

    async def add(self, session: AsyncSession, rows: Sequence[tuple[int, str, np.ndarray]]) -> None:
        return None  # the vectors are on the chunks; the version bump makes searches refresh

    async def _refresh(self, session: AsyncSession, collection_id: str, version: int) -> _Matrix:
        lock = self._locks.setdefault(collection_id, asyncio.Lock())
        async with lock:
            matrix = self._matrices.get(collection_id) or _Matrix()
            if matrix.version == version:
                return matrix
            current = np.fromiter(
                await session.scalars(
                    select(Chunk.id)
                    .where(Chunk.collection_id == collection_id, Chunk.embedding.is_not(None))
                    .order_by(Chunk.id)
                ),
                dtype=np.int64,
            )
            keep = np.isin(matrix.ids, current, assume_unique=True)
            missing = current[~np.isin(current, matrix.ids, assume_unique=True)]
            loaded_ids: list[int] = []
            loaded: list[np.ndarray] = []
            for start in range(0, len(missing), 5000):
                part = [int(i) for i in missing[start : start + 5000]]
                rows = await session.execute(select(Chunk.id, Chunk.embedding).where(Chunk.id.in_(part)))
                for chunk_id, blob in rows:
                    if blob is None:  # replaced since the ids were read; the next version bump reloads
                        continue
                    loaded_ids.append(chunk_id)
                    loaded.append(np.frombuffer(blob, dtype=np.float32))
            old = matrix.vectors[keep] if len(matrix.ids) else None
            parts = [p for p in (old, np.vstack(loaded) if loaded else None) if p is not None and len(p)]
            vectors = np.vstack(parts).astype(np.float32, copy=False) if parts else np.empty((0, 0), np.float32)
            ids = np.concatenate([matrix.ids[keep], np.asarray(loaded_ids, dtype=np.int64)])
            vectors = np.ascontiguousarray(vectors)
            codes = await anyio.to_thread.run_sync(_quantized, vectors, self.quantize_from)
            matrix = _Matrix(version, ids, vectors, codes)
            self._matrices[collection_id] = matrix
            return matrix

    async def search(
        self, session: AsyncSession, collection_ids: Sequence[str], vector: np.ndarray, limit: int
    ) -> list[Hit]:
        versions = (
            await session.execute(select(Collection.id, Collection.version).where(Collection.id.in_(collection_ids)))
        ).all()
        hits: list[Hit] = []
        query = np.asarray(vector, dtype=np.float32)
        for collection_id, version in versions:
            matrix = self._matrices.get(collection_id)
            if matrix is None or matrix.version != version:
                matrix = await self._refresh(session, collection_id, version)
            if not len(matrix.ids) or matrix.vectors.shape[1] != query.shape[0]:
                continue
            hits.extend(await anyio.to_thread.run_sync(_top, matrix, query, limit))
        hits.sort(key=lambda h: -h[1])
        return hits[:limit]


def _top(matrix: _Matrix, query: np.ndarray, limit: int) -> list[Hit]:
    """The ``limit`` best (id, similarity) of a matrix (run in a worker thread: 100k rows take ~10 ms
    exactly, a few ms through the 8-bit codes)."""
    if matrix.codes is not None:
        import faiss

        faiss.omp_set_num_threads(1)
        _, found = matrix.codes.search(query.reshape(1, -1), min(limit * RESCORE, len(matrix.ids)))
        candidates = found[0][found[0] >= 0]
        exact = matrix.vectors[candidates] @ query
        best = np.argsort(-exact, kind="stable")[:limit]
        return [(int(matrix.ids[candidates[i]]), float(exact[i])) for i in best]
    scores = matrix.vectors @ query
    top = min(limit, len(scores))
    best = np.argpartition(-scores, top - 1)[:top]
    return [(int(matrix.ids[i]), float(scores[i])) for i in best]


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector."""
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"


class PgVectorIndex:
    """pgvector: cosine distance ``<=>`` over ``knowledge_vectors``, filtered by collection."""

    async def add(self, session: AsyncSession, rows: Sequence[tuple[int, str, np.ndarray]]) -> None:
        if rows:
            await session.execute(
                text(
                    "INSERT INTO knowledge_vectors (chunk_id, collection_id, embedding) "
                    "VALUES (:id, :collection, CAST(:vector AS vector)) "
                    "ON CONFLICT (chunk_id) DO UPDATE SET embedding = EXCLUDED.embedding"
                ),
                [{"id": i, "collection": c, "vector": vector_literal(v)} for i, c, v in rows],
            )

    async def search(
        self, session: AsyncSession, collection_ids: Sequence[str], vector: np.ndarray, limit: int
    ) -> list[Hit]:
        if not collection_ids:
            return []
        rows = await session.execute(
            text(
                "SELECT chunk_id, 1 - (embedding <=> CAST(:vector AS vector)) AS score FROM knowledge_vectors "
                "WHERE collection_id = ANY(:collections) AND vector_dims(embedding) = :dims "
                "ORDER BY embedding <=> CAST(:vector AS vector) LIMIT :limit"
            ),
            {
                "vector": vector_literal(vector),
                "collections": list(collection_ids),
                "dims": int(vector.shape[0]),
                "limit": limit,
            },
        )
        return [(int(r[0]), float(r[1])) for r in rows]


async def pgvector_installed(session: AsyncSession) -> bool:
    """Whether the ``knowledge_vectors`` table exists (the migration creates it where pgvector is available)."""
    found = await session.scalar(text("SELECT to_regclass('knowledge_vectors') IS NOT NULL"))
    return bool(found)


@dataclass
class Indexes:
    """The lexical and dense index in use for one database."""

    lexical: LexicalIndex
    vectors: VectorIndex
    vector_backend: str

    @classmethod
    async def for_database(cls, dialect: str, session: AsyncSession, preference: str) -> Indexes:
        """Pick the backends: FTS5 or PostgreSQL text; pgvector or memory (``preference``: auto|memory|pgvector)."""
        if dialect == "sqlite":
            if preference == "pgvector":
                from soberana.errors import ConfigurationError

                raise ConfigurationError("SOBERANA_KNOWLEDGE_VECTOR_INDEX=pgvector needs PostgreSQL.")
            return cls(Fts5Index(), MemoryVectorIndex(), "memory")
        if preference != "memory" and await pgvector_installed(session):
            return cls(PgTextIndex(), PgVectorIndex(), "pgvector")
        if preference == "pgvector":
            from soberana.errors import ConfigurationError

            raise ConfigurationError(
                "SOBERANA_KNOWLEDGE_VECTOR_INDEX=pgvector, but the database has no knowledge_vectors table: the "
                "vector extension was not available when the knowledge migration ran. Install pgvector before "
                "migrating, or use SOBERANA_KNOWLEDGE_VECTOR_INDEX=memory."
            )
        return cls(PgTextIndex(), MemoryVectorIndex(), "memory")
