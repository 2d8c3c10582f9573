"""The three document-level baselines: BM25 (bm25s), dense (multilingual-e5-small over chunks), plain RRF.

Each has ``index(documents)`` and ``search(query_text, k) -> list[doc_id]`` (best first, at most
``k`` and at most the number of documents).

- BM25: bm25s defaults (Lucene variant, k1 = 1.5, b = 0.75) over title + text; tokens are bm25s's
  default pattern (two or more word characters) on lowercased text; no stemming, no stop words.
- Dense: each document is split on whitespace into consecutive 200-word chunks, the title (if any)
  put before each chunk on its own line; a document scores the maximum cosine over its chunks.
- RRF: reciprocal-rank fusion, k = 60, of the top 100 of BM25 and of dense.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import bm25s
import numpy as np

from bench.retrieval.datasets import Document
from bench.retrieval.embeddings import E5Embedder

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
CHUNK_WORDS = 200
RRF_K = 60
RRF_DEPTH = 100


class Ranker(Protocol):
    """What the runner needs from a baseline."""

    def index(self, documents: Sequence[Document]) -> None: ...

    def search(self, query_text: str, k: int) -> list[str]: ...


def document_text(document: Document) -> str:
    """Title and text on separate lines; the text alone when there is no title."""
    return f"{document.title}\n{document.text}" if document.title else document.text


def tokenize(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """bm25s's default tokenisation: lowercase, runs of two or more word characters, optional stop words."""
    return [t for t in TOKEN_PATTERN.findall(text.lower()) if t not in stopwords]


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties keep index order)."""
    return np.argsort(-scores, kind="stable")[:k]


def chunk_document(document: Document, words: int = CHUNK_WORDS) -> list[str]:
    """Consecutive ``words``-word chunks of the text (whitespace split), each with the title on its first line.

    A document with no words still yields one chunk (its title, or the empty string).
    """
    tokens = document.text.split()
    pieces = [" ".join(tokens[i : i + words]) for i in range(0, len(tokens), words)] or [""]
    return [f"{document.title}\n{piece}" if document.title else piece for piece in pieces]


class BM25Baseline:
    """bm25s over title + text, lowercase, no stemming."""

    def __init__(self, stopwords: frozenset[str] = frozenset()) -> None:
        self.stopwords = stopwords
        self._retriever: bm25s.BM25 | None = None
        self._doc_ids: list[str] = []

    def index(self, documents: Sequence[Document]) -> None:
        """Tokenise every document and build the sparse BM25 matrix."""
        self._doc_ids = [d.doc_id for d in documents]
        retriever = bm25s.BM25()
        retriever.index([tokenize(document_text(d), self.stopwords) for d in documents], show_progress=False)
        self._retriever = retriever

    def scores(self, query_text: str) -> np.ndarray:
        """BM25 score of every document (zeros when no query token is in the vocabulary)."""
        assert self._retriever is not None, "index() first"
        tokens = [t for t in tokenize(query_text, self.stopwords) if t in self._retriever.vocab_dict]
        if not tokens:
            return np.zeros(len(self._doc_ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens))

    def search(self, query_text: str, k: int) -> list[str]:
        """The ``k`` best documents by BM25 score (zero-score documents included, as bm25s's retrieve does)."""
        return [self._doc_ids[i] for i in top_k(self.scores(query_text), k)]


class DenseBaseline:
    """E5 vectors of 200-word chunks; a document's score is its best chunk's cosine with the query."""

    def __init__(self, embedder: E5Embedder, cache_store: str = "default", chunk_words: int = CHUNK_WORDS) -> None:
        self.embedder = embedder
        self.cache_store = cache_store
        self.chunk_words = chunk_words
        self.chunk_count = 0
        self._doc_ids: list[str] = []
        self._matrix = np.empty((0, 0), dtype=np.float32)
        self._starts = np.empty(0, dtype=np.intp)

    def index(self, documents: Sequence[Document]) -> None:
        """Chunk every document and embed the chunks (through the embedder's cache)."""
        chunks: list[str] = []
        starts: list[int] = []
        for document in documents:
            starts.append(len(chunks))
            chunks.extend(chunk_document(document, self.chunk_words))
        self._doc_ids = [d.doc_id for d in documents]
        self._starts = np.asarray(starts, dtype=np.intp)
        self._matrix = self.embedder.embed(chunks, "passage", self.cache_store)
        self.chunk_count = len(chunks)

    def scores(self, query_text: str) -> np.ndarray:
        """Max-over-chunks cosine of every document (vectors are L2-normalised)."""
        chunk_scores = self._matrix @ self.embedder.query(query_text)
        return np.maximum.reduceat(chunk_scores, self._starts)

    def search(self, query_text: str, k: int) -> list[str]:
        """The ``k`` documents with the best chunk."""
        return [self._doc_ids[i] for i in top_k(self.scores(query_text), k)]


def rrf_fuse(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[str]:
    """Plain reciprocal-rank fusion: sum of 1 / (k + rank) over rankings; ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda doc_id: -scores[doc_id])


class RRFBaseline:
    """RRF of a lexical and a dense ranker, each cut at ``depth``.

    The components may be passed already indexed (the runner does this to reuse them); ``index``
    indexes both.
    """

    def __init__(self, lexical: Ranker, dense: Ranker, k: int = RRF_K, depth: int = RRF_DEPTH) -> None:
        self.lexical, self.dense, self.k, self.depth = lexical, dense, k, depth

    def index(self, documents: Sequence[Document]) -> None:
        """Index both components."""
        self.lexical.index(documents)
        self.dense.index(documents)

    def search(self, query_text: str, k: int) -> list[str]:
        """The ``k`` best documents of the fused top-``depth`` lists."""
        rankings = [self.lexical.search(query_text, self.depth), self.dense.search(query_text, self.depth)]
        return rrf_fuse(rankings, self.k)[:k]
