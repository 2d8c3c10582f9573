"""Hybrid search: lexical and dense candidates, fused by weighted reciprocal rank.

Fusion has one rule beyond plain RRF, for questions asked in another language than the pages:
a lexical match only counts when the passage is in the question's language. Words of one language
rarely mean the same in another, so a Spanish question's lexical hits in English pages are mostly
noise, and fusing them in halves the dense ranking's quality (the benchmark's XQuAD es→en row).
Dense vectors of a multilingual model carry the cross-lingual match alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
from sqlalchemy import select

from soberana.auth.principal import Principal
from soberana.knowledge.index import Indexes
from soberana.knowledge.models import Chunk, Collection, Document
from soberana.knowledge.ports import Embedder
from soberana.knowledge.text import LanguageDetector, analyse
from soberana.storage.db import Database


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """Reciprocal-rank fusion: ``score = Σ weight / (k + rank)`` over the rankings a passage is in."""

    lexical: float = 1.0
    dense: float = 1.0
    k: int = 60
    candidates: int = 50  # taken from each ranking before fusion


@dataclass(slots=True)
class Hit:
    chunk_id: int
    document_id: str
    collection_id: str
    title: str
    url: str | None
    heading_path: list[str]
    text: str
    page: int | None
    language: str | None
    score: float = 0.0
    dense_score: float | None = None
    lexical_rank: int | None = None
    dense_rank: int | None = None


@dataclass(slots=True)
class Retrieval:
    hits: list[Hit]
    query_language: str | None
    pending_embeddings: int = 0
    query_vectors: dict[str, Any] = field(default_factory=dict)  # per collection id

    @property
    def top_dense_score(self) -> float | None:
        scores = [h.dense_score for h in self.hits if h.dense_score is not None]
        return max(scores) if scores else None


class Retriever:
    def __init__(
        self,
        db: Database,
        indexes: Indexes,
        embedder: Embedder,
        detector: LanguageDetector,
        weights: FusionWeights | None = None,
    ) -> None:
        self.db = db
        self.indexes = indexes
        self.embedder = embedder
        self.detector = detector
        self.weights = weights or FusionWeights()

    async def detect_language(self, text: str) -> str | None:
        return await anyio.to_thread.run_sync(self.detector.detect, text)

    async def search(
        self,
        principal: Principal,
        collections: Sequence[Collection],
        query: str,
        *,
        limit: int,
        method: str = "hybrid",
        languages: Sequence[str] | None = None,
        document_ids: Sequence[str] | None = None,
        query_language: str | None = None,
        default_model: str,
    ) -> Retrieval:
        """The ``limit`` best passages of ``collections`` for ``query``, best first."""
        language = query_language or await self.detect_language(query)
        ids = [c.id for c in collections]
        w = self.weights
        lexical: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        query_vectors: dict[str, Any] = {}
        async with self.db.session() as session:
            if method in ("hybrid", "lexical"):
                lexical = await self.indexes.lexical.search(session, ids, analyse(query, language), w.candidates)
            if method in ("hybrid", "dense"):
                by_model: dict[str, list[str]] = {}
                for c in collections:
                    by_model.setdefault(c.embedding_model or default_model, []).append(c.id)
                for model, model_ids in by_model.items():
                    vector = (await self.embedder.embed(principal, model, [query], kind="query"))[0]
                    for cid in model_ids:
                        query_vectors[cid] = vector
                    dense.extend(await self.indexes.vectors.search(session, model_ids, vector, w.candidates))
                dense.sort(key=lambda h: -h[1])
            rows, stored = await self._load(session, {i for i, _ in lexical} | {i for i, _ in dense})
        wanted_languages = {lang.lower() for lang in languages} if languages else None
        wanted_documents = set(document_ids) if document_ids else None

        def allowed(hit: Hit) -> bool:
            if wanted_languages is not None and (hit.language or "") not in wanted_languages:
                return False
            return wanted_documents is None or hit.document_id in wanted_documents

        fused: dict[int, Hit] = {}
        rank = 0
        for chunk_id, _ in lexical:
            hit = rows.get(chunk_id)
            if hit is None or not allowed(hit):
                continue
            if language and hit.language and hit.language != language:
                continue  # cross-lingual lexical matches are noise (see the module docstring)
            rank += 1
            hit.lexical_rank = rank
            hit.score += w.lexical / (w.k + rank)
            fused[chunk_id] = hit
        rank = 0
        for chunk_id, similarity in dense:
            hit = rows.get(chunk_id)
            if hit is None or not allowed(hit):
                continue
            rank += 1
            hit.dense_rank = rank
            hit.dense_score = similarity
            hit.score += w.dense / (w.k + rank)
            fused[chunk_id] = hit
        _fill_dense_scores([h for h in fused.values() if h.dense_score is None], stored, query_vectors)
        ranked = sorted(fused.values(), key=lambda h: (-h.score, h.chunk_id))[:limit]
        return Retrieval(ranked, language, query_vectors=query_vectors)

    @staticmethod
    async def _load(session: Any, chunk_ids: set[int]) -> tuple[dict[int, Hit], dict[int, bytes]]:
        """The candidates' passages and document details, and their stored vectors."""
        if not chunk_ids:
            return {}, {}
        rows = await session.execute(
            select(
                Chunk.id,
                Chunk.document_id,
                Chunk.collection_id,
                Document.title,
                Document.source_url,
                Chunk.heading_path,
                Chunk.text,
                Chunk.page,
                Chunk.language,
                Chunk.embedding,
            )
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.id.in_(sorted(chunk_ids)))
        )
        hits: dict[int, Hit] = {}
        vectors: dict[int, bytes] = {}
        for row in rows:
            hits[row[0]] = Hit(row[0], row[1], row[2], row[3], row[4], list(row[5]), row[6], row[7], row[8])
            if row[9] is not None:
                vectors[row[0]] = row[9]
        return hits, vectors


def _fill_dense_scores(hits: list[Hit], stored: dict[int, bytes], query_vectors: dict[str, Any]) -> None:
    """Cosine similarity for passages found lexically only (abstention reads the best one)."""
    for hit in hits:
        blob = stored.get(hit.chunk_id)
        vector = query_vectors.get(hit.collection_id)
        if blob is not None and vector is not None:
            passage = np.frombuffer(blob, dtype=np.float32)
            if passage.shape == vector.shape:
                hit.dense_score = float(passage @ vector)
