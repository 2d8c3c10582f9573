"""Hybrid search: lexical and dense candidates, fused.

Two fusions, as small classes: :class:`ScoreFusion` (the default) adds a share of the normalised
lexical score to the dense similarity; :class:`RankFusion` is weighted reciprocal-rank fusion.
Both treat questions asked in another language than the pages with care: words of one language
rarely mean the same in another, so a Spanish question's lexical hits in English pages are mostly
noise — only names, numbers and shared words match — and plain RRF of the two rankings halves the
dense ranking's quality (the benchmark's XQuAD es→en row). Cross-language lexical evidence is
therefore weighted far below same-language evidence (or ignored, in rank fusion). What does carry
across languages — cognates, names and numbers — is scored apart: candidates in another language
than the question are ranked among themselves by BM25 over folded word prefixes
(:func:`~soberana.knowledge.text.cognate_terms`), and :class:`ScoreFusion` adds a small share of
that score. Every candidate passage that has a vector gets its exact dense similarity, so fusion
compares like with like.

Two more pieces of evidence join: the question's vector is searched with its generic part taken out
(:mod:`soberana.knowledge.centring`; ``similarity`` is that cosine, ``dense_score`` stays the plain
cosine that abstention reads), and each passage gets a share of its whole document's lexical score
(the document-level index of :mod:`soberana.knowledge.index`), so that a page whose sections together
hold the question's words rises above a page with one passage that happens to hold a few of them.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import numpy as np
from sqlalchemy import func, select

from soberana.auth.principal import Principal
from soberana.knowledge.centring import GENERIC_QUESTIONS, bank_for, centring_for, generic_questions
from soberana.knowledge.index import DocumentHit, Indexes
from soberana.knowledge.models import Chunk, Collection, Document
from soberana.knowledge.ports import Embedder, Reranker
from soberana.knowledge.text import LanguageDetector, analyse, cognate_terms
from soberana.storage.db import Database

CANDIDATES = 50  # passages taken from each ranking before fusion
RERANK_DEPTH = 20  # fused passages a rerank model re-orders, when one is configured


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
    dense_score: float | None = None  # cosine similarity with the question
    similarity: float | None = None  # cosine with the question as searched (centred); None: ``dense_score``
    lexical_score: float | None = None
    rerank_score: float | None = None
    dense_rank: int | None = None
    cognate_score: float | None = None  # 0–1 among the candidates in another language than the question


@dataclass(slots=True)
class Retrieval:
    hits: list[Hit]
    query_language: str | None
    query_vectors: dict[str, Any] = field(default_factory=dict)  # per collection id
    classifications: list[str] = field(default_factory=list)  # of the collections searched

    @property
    def top_dense_score(self) -> float | None:
        scores = [h.dense_score for h in self.hits if h.dense_score is not None]
        return max(scores) if scores else None


class Fusion(Protocol):
    def fuse(
        self,
        lexical: list[tuple[Hit, float]],
        dense: list[Hit],
        language: str | None,
        documents: Mapping[str, float] | None = None,
    ) -> None:
        """Set ``score`` on every hit; ``lexical`` holds (hit, lexical score) best first, ``dense`` hits best
        first, ``documents`` the document-level lexical score of the documents that matched, by document id."""


def _similarity(hit: Hit) -> float:
    """The cosine of the question as searched (centred), else the plain one; 0 for a passage without a vector."""
    similarity = hit.similarity if hit.similarity is not None else hit.dense_score
    return similarity or 0.0


def _same_language(hit: Hit, language: str | None) -> bool:
    return not (language and hit.language and hit.language != language)


@dataclass(frozen=True, slots=True)
class ScoreFusion:
    """``score = dense similarity + weight × lexical score / best lexical score of the query``, plus
    ``document_weight × its document's lexical score / best document score`` for a passage in the
    question's language, and, for a passage in another language, ``cognate_weight × cognate score``.

    Weights were chosen on ``bench/retrieval`` (document-level nDCG@10 over seven sets). The bonuses of
    the question's language never lift a passage above a passage in another language that is more
    similar to the question (:meth:`_keep_clearly_better_foreign`): a Spanish question about a UK
    procedure is answered by the English page, not by a Spanish paragraph that shares its words. In a
    collection of one language nothing changes.
    """

    lexical_weight: float = 0.05
    cross_language_weight: float = 0.01
    cognate_weight: float = 0.02
    document_weight: float = 0.03
    clear_margin: float = 0.0

    def fuse(
        self,
        lexical: list[tuple[Hit, float]],
        dense: list[Hit],
        language: str | None,
        documents: Mapping[str, float] | None = None,
    ) -> None:
        hits = {h.chunk_id: h for h in dense} | {h.chunk_id: h for h, _ in lexical}
        for hit in hits.values():
            hit.score = self._base(hit)
        best = max((score for _, score in lexical), default=0.0)
        if best > 0:
            for hit, score in lexical:
                weight = self.lexical_weight if _same_language(hit, language) else self.cross_language_weight
                hit.score += weight * score / best
        best_document = max(documents.values(), default=0.0) if documents else 0.0
        if documents and best_document > 0:
            for hit in hits.values():
                if _same_language(hit, language):
                    hit.score += self.document_weight * documents.get(hit.document_id, 0.0) / best_document
        self._keep_clearly_better_foreign(list(hits.values()), language)

    def _keep_clearly_better_foreign(self, hits: list[Hit], language: str | None) -> None:
        """A passage in the question's language whose lexical bonuses lifted it above the most similar
        passage in another language, though that one is more similar to the question (by more than
        ``clear_margin``), is put back below it. Embedding models already score a question higher
        against text in its own language: a passage in another language that is still more similar is
        clearly the better evidence. (``clear_margin`` chosen on the development set's train split:
        0 put the page that answers first for 20 of 22 Spanish questions, 0.02 for 17.)"""
        foreign = [h for h in hits if not _same_language(h, language)]
        if not language or not foreign:
            return
        best = max(foreign, key=_similarity)
        for hit in hits:
            if (
                _same_language(hit, language)
                and hit.score > best.score
                and _similarity(hit) + self.clear_margin < _similarity(best)
            ):
                hit.score = best.score - 0.001 * (1.0 + _similarity(best) - _similarity(hit))

    def _base(self, hit: Hit) -> float:
        """Dense similarity, plus the cognate share for a passage in another language than the question."""
        return _similarity(hit) + self.cognate_weight * (hit.cognate_score or 0.0)


@dataclass(frozen=True, slots=True)
class RankFusion:
    """Weighted reciprocal-rank fusion, ``Σ weight / (k + rank)``; cross-language lexical hits, cognate
    scores and document-level scores are ignored."""

    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    k: int = 60

    def fuse(
        self,
        lexical: list[tuple[Hit, float]],
        dense: list[Hit],
        language: str | None,
        documents: Mapping[str, float] | None = None,
    ) -> None:
        for hit, _ in lexical:
            hit.score = 0.0
        for hit in dense:
            hit.score = 0.0
        rank = 0
        for hit, _ in lexical:
            if _same_language(hit, language):
                rank += 1
                hit.score += self.lexical_weight / (self.k + rank)
        for rank, hit in enumerate(dense, 1):
            hit.score += self.dense_weight / (self.k + rank)


class Retriever:
    def __init__(
        self,
        db: Database,
        indexes: Indexes,
        embedder: Embedder,
        detector: LanguageDetector,
        fusion: Fusion | None = None,
        *,
        reranker: Reranker | None = None,
        rerank_model: str | None = None,
        centre_questions: bool = True,
    ) -> None:
        self.db = db
        self.indexes = indexes
        self.embedder = embedder
        self.detector = detector
        self.fusion: Fusion = fusion or ScoreFusion()
        self.reranker = reranker
        self.rerank_model = rerank_model
        self.centre_questions = centre_questions
        self._generic: dict[tuple[str, str], np.ndarray] = {}  # mean vector of generic questions, per model and bank
        self._generic_lock = asyncio.Lock()

    async def detect_language(self, text: str) -> str | None:
        return await anyio.to_thread.run_sync(self.detector.detect_question, text)

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
        # The question's language is needed by the lexical side only (its analysis and the fusion):
        # it is detected while the question is embedded.
        detecting = None if query_language else asyncio.ensure_future(self.detect_language(query))

        async def question_language() -> str | None:
            return query_language or (await detecting if detecting is not None else None)

        ids = [c.id for c in collections]
        levels = [c.classification for c in collections]
        query_vectors: dict[str, Any] = {}

        async def lexical_ranking() -> tuple[list[tuple[int, float]], list[DocumentHit]]:
            if method not in ("hybrid", "lexical"):
                return [], []
            terms = analyse(query, await question_language())
            async with self.db.session() as session:
                passages = await self.indexes.lexical.search(session, ids, terms, CANDIDATES)
                documents = await self.indexes.lexical.search_documents(session, ids, terms, CANDIDATES)
                return passages, documents

        by_model: dict[str, list[str]] = {}
        for c in collections:
            by_model.setdefault(c.embedding_model or default_model, []).append(c.id)
        embedded: list[tuple[list[str], Any]] = []
        search_vectors: dict[str, Any] = {}  # per collection id: the vector searched with (centred)

        async def embed_question() -> None:
            if method not in ("hybrid", "dense"):
                return
            for model, model_ids in by_model.items():
                vector = (await self.embedder.embed(principal, model, [query], kind="query", classifications=levels))[0]
                # the question's language is detected meanwhile, in a worker thread (lingua: a few ms)
                vector = np.asarray(vector, dtype=np.float32)
                searched = await self._centred(principal, model, vector, levels, await question_language())
                embedded.append((model_ids, searched))
                for cid in model_ids:
                    query_vectors[cid] = vector
                    search_vectors[cid] = searched

        async def dense_ranking() -> list[tuple[int, float]]:
            found: list[tuple[int, float]] = []
            for model_ids, vector in embedded:
                async with self.db.session() as session:
                    found.extend(await self.indexes.vectors.search(session, model_ids, vector, CANDIDATES))
            return sorted(found, key=lambda h: -h[1])

        async def embedded_ranking() -> list[tuple[int, float]]:
            await embed_question()
            return await dense_ranking()

        # The full-text search runs while the question is embedded, then searched among the vectors
        # (each in a worker thread; the embedded encoder takes one core for a question).
        try:
            (lexical, document_hits), dense = await asyncio.gather(lexical_ranking(), embedded_ranking())
            language = await question_language()
        finally:
            if detecting is not None and not detecting.done():
                detecting.cancel()
        async with self.db.session() as session:
            rows, stored = await self._load(session, {i for i, _ in lexical} | {i for i, _ in dense})
        wanted_languages = {lang.lower() for lang in languages} if languages else None
        wanted_documents = set(document_ids) if document_ids else None

        def allowed(hit: Hit) -> bool:
            if wanted_languages is not None and (hit.language or "") not in wanted_languages:
                return False
            return wanted_documents is None or hit.document_id in wanted_documents

        lexical_hits: list[tuple[Hit, float]] = []
        for chunk_id, score in lexical:
            hit = rows.get(chunk_id)
            if hit is not None and allowed(hit):
                hit.lexical_score = score
                lexical_hits.append((hit, score))
        dense_hits: list[Hit] = []
        for chunk_id, similarity in dense:
            hit = rows.get(chunk_id)
            if hit is not None and allowed(hit):
                hit.dense_rank = len(dense_hits) + 1
                hit.similarity = similarity
                dense_hits.append(hit)
        fused = {h.chunk_id: h for h, _ in lexical_hits} | {h.chunk_id: h for h in dense_hits}
        _fill_dense_scores(list(fused.values()), stored, query_vectors, search_vectors)
        if language and method == "hybrid":
            foreign = [h for h in fused.values() if h.language and h.language != language]
            if foreign:
                await anyio.to_thread.run_sync(_fill_cognate_scores, query, foreign)
        self.fusion.fuse(lexical_hits, dense_hits, language, dict(document_hits))
        ranked = sorted(fused.values(), key=lambda h: (-h.score, h.chunk_id))
        if self.reranker is not None and self.rerank_model and ranked:
            ranked = await self._rerank(principal, query, ranked, levels)
        ranked = ranked[:limit]
        return Retrieval(ranked, language, query_vectors=query_vectors, classifications=levels)

    async def _centred(
        self, principal: Principal, model: str, vector: np.ndarray, levels: list[str], language: str | None
    ) -> np.ndarray:
        """The question's vector to search with: centred on the generic questions of its language where
        ``model`` is calibrated for it."""
        centring = centring_for(model) if self.centre_questions else None
        if centring is None:
            return vector
        key = (model, bank_for(language))
        generic = self._generic.get(key)
        if generic is None:  # not prepared (a collection indexed elsewhere): embedded now, once
            await self.prepare(principal, model, levels)
            generic = self._generic[key]
        return centring.apply(vector, generic)

    async def prepare(self, principal: Principal, model: str, classifications: Sequence[str] = ()) -> None:
        """Embed the generic-question banks of ``model`` (:mod:`.centring`) once per process: when the
        server starts and when a collection is indexed, so that no citizen's first question in a
        language waits for them. Metered to ``principal`` (the indexing's system principal)."""
        if not self.centre_questions or centring_for(model) is None:
            return
        async with self._generic_lock:
            if (model, "all") in self._generic:
                return
            banks = list(GENERIC_QUESTIONS)
            questions = [q for bank in banks for q in generic_questions(bank)]
            vectors = np.asarray(
                await self.embedder.embed(principal, model, questions, kind="query", classifications=classifications),
                dtype=np.float32,
            )
            start = 0
            for bank in banks:
                count = len(generic_questions(bank))
                self._generic[(model, bank)] = vectors[start : start + count].mean(axis=0)
                start += count
            self._generic[(model, "all")] = vectors.mean(axis=0)

    def prepared(self, model: str) -> bool:
        """Whether :meth:`prepare` has embedded ``model``'s banks (or it needs none)."""
        return not self.centre_questions or centring_for(model) is None or (model, "all") in self._generic

    async def _rerank(self, principal: Principal, query: str, ranked: list[Hit], levels: list[str]) -> list[Hit]:
        """Re-order the best fused passages by the rerank model's scores (the rest keep their order after them)."""
        assert self.reranker is not None and self.rerank_model is not None
        head = ranked[:RERANK_DEPTH]
        documents = [" › ".join([h.title, *h.heading_path]) + "\n" + h.text for h in head]
        scores = await self.reranker.rerank(principal, self.rerank_model, query, documents, classifications=levels)
        for hit, score in zip(head, scores, strict=True):
            hit.rerank_score = score
        head.sort(key=lambda h: -(h.rerank_score or 0.0))
        return head + ranked[RERANK_DEPTH:]

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
                func.coalesce(func.nullif(Document.title, ""), Document.key),
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


def bm25_among(
    query: Sequence[str], documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75
) -> list[float]:
    """BM25 of each of ``documents`` (term lists) for ``query``, with document frequencies counted among them."""
    count = len(documents)
    if not count:
        return []
    average = sum(len(d) for d in documents) / count or 1.0
    frequencies = [Counter(d) for d in documents]
    terms = set(query)
    idf = {}
    for term in terms:
        df = sum(term in f for f in frequencies)
        idf[term] = math.log(1 + (count - df + 0.5) / (df + 0.5))
    scores = []
    for document, tf in zip(documents, frequencies, strict=True):
        norm = k1 * (1 - b + b * len(document) / average)
        scores.append(sum(idf[t] * tf[t] * (k1 + 1) / (tf[t] + norm) for t in terms if tf[t]))
    return scores


def _fill_cognate_scores(query: str, hits: list[Hit]) -> None:
    """Cognate score of passages in another language than ``query``: BM25 over folded word prefixes
    (:func:`cognate_terms`) among those passages, read with their page title and headings, divided by the best."""
    passages = [cognate_terms(" ".join([h.title, *h.heading_path, h.text])) for h in hits]
    scores = bm25_among(cognate_terms(query), passages)
    best = max(scores)
    for hit, score in zip(hits, scores, strict=True):
        hit.cognate_score = score / best if best > 0 else 0.0


def _fill_dense_scores(
    hits: list[Hit], stored: dict[int, bytes], query_vectors: dict[str, Any], search_vectors: dict[str, Any]
) -> None:
    """Each passage's cosine with the question (abstention reads the best one) and, for passages found
    lexically only, with the vector searched with."""
    for hit in hits:
        blob = stored.get(hit.chunk_id)
        vector = query_vectors.get(hit.collection_id)
        if blob is not None and vector is not None:
            passage = np.frombuffer(blob, dtype=np.float32)
            if passage.shape == np.shape(vector):
                hit.dense_score = float(passage @ vector)
                if hit.similarity is None:
                    hit.similarity = float(passage @ search_vectors.get(hit.collection_id, vector))
