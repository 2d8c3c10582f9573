"""The search engine of an installation: its index backends, the ingestor and the retriever.

Which backends serve an installation (FTS5 or PostgreSQL full text; faiss in-process vectors or
pgvector) is known only after a database round trip, so they are picked on first use and shared by
the services that store, search and remove passages.
"""

from __future__ import annotations

import asyncio

from soberana.knowledge.index import Indexes
from soberana.knowledge.ingest import Ingestor
from soberana.knowledge.ports import Models
from soberana.knowledge.search import Retriever
from soberana.knowledge.text import LanguageDetector
from soberana.settings import Settings
from soberana.storage.db import Database


class KnowledgeEngine:
    """The :class:`Ingestor` and :class:`Retriever` over one database, built on first use."""

    def __init__(self, settings: Settings, db: Database, models: Models, detector: LanguageDetector) -> None:
        self.settings = settings
        self.db = db
        self.models = models
        self.detector = detector
        self._parts: tuple[Ingestor, Retriever] | None = None
        self._lock = asyncio.Lock()

    async def ready(self) -> tuple[Ingestor, Retriever]:
        """The ingestor and retriever (the index backends are chosen on the first call)."""
        if self._parts is None:
            async with self._lock:
                if self._parts is None:
                    s = self.settings
                    async with self.db.session() as session:
                        indexes = await Indexes.for_database(self.db.dialect, session, s.knowledge_vector_index)
                    ingestor = Ingestor(
                        self.db,
                        indexes,
                        self.models,
                        batch=s.knowledge_embed_batch,
                        concurrency=s.knowledge_embed_concurrency,
                    )
                    retriever = Retriever(
                        self.db,
                        indexes,
                        self.models,
                        self.detector,
                        reranker=self.models,
                        rerank_model=s.knowledge_rerank_model,
                    )
                    self._parts = (ingestor, retriever)
        return self._parts

    async def ingestor(self) -> Ingestor:
        return (await self.ready())[0]

    async def retriever(self) -> Retriever:
        return (await self.ready())[1]
