"""Ingestion: files → parsed documents → structural chunks → stored passages, lexical terms, vectors.

Three stages with different costs, kept apart:

1. :func:`prepare` (CPU, in a worker thread): parse, detect the language, chunk, analyse terms.
2. :meth:`Ingestor.store` (database): add, replace or skip each document by its content hash; a
   passage whose text is unchanged keeps its vector (looked up by the hash of what the embedding
   model reads), so editing one paragraph of a long page re-embeds one passage.
3. :meth:`Ingestor.embed_pending` (model): vectors for passages that have none, in batches of
   passages of similar length, with several requests in flight so a remote GPU endpoint stays busy.
   Lexical search serves the new passages from stage 2 on; dense search picks each one up as soon
   as its vector is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Principal
from soberana.core.crypto import sha256_hex
from soberana.core.ids import new_id
from soberana.knowledge import chunking, parsing
from soberana.knowledge.index import Indexes
from soberana.knowledge.models import Chunk, Collection, Document
from soberana.knowledge.ports import Embedder
from soberana.knowledge.text import LanguageDetector, terms_text
from soberana.storage.db import Database

Progress = Callable[[int, int], None]  # (done, total)
STORE_BATCH = 50  # documents written per transaction


@dataclass(frozen=True, slots=True)
class PreparedChunk:
    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    words: int
    embed_text: str
    embed_hash: str
    context_terms: str
    terms: str


@dataclass(slots=True)
class PreparedDocument:
    key: str
    title: str
    format: str
    content_hash: str
    file_hash: str | None
    source_url: str | None
    language: str | None
    published: str | None
    modified: str | None
    page_count: int | None
    meta: dict[str, str]
    chunks: list[PreparedChunk] = field(default_factory=list)
    context_terms: str = ""  # analysed title and headings (each once), for the document-level lexical index

    def terms(self) -> str:
        """What the document-level lexical index holds: title, headings, then every passage's text."""
        return " ".join(t for t in (self.context_terms, *(c.terms for c in self.chunks)) if t)


@dataclass
class StoreResult:
    """What storing documents did (documents added, updated, unchanged, removed; passages written)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    removed: int = 0

    def include(self, other: StoreResult) -> None:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.chunks += other.chunks
        self.removed += other.removed


Redactor = Callable[[str, str | None], str]


def embedding_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """What the embedding model reads for a passage: where it sits (title, headings), then the passage."""
    path = [h for h in heading_path if h and h != title]
    context = " › ".join([title, *path]) if title else " › ".join(path)
    return f"{context}\n{text}" if context else text


def document_context_terms(title: str, heading_paths: Iterable[Sequence[str]], language: str | None) -> str:
    """Analysed terms of a document's title and of each of its headings once."""
    headings = dict.fromkeys(h for path in heading_paths for h in path if h and h != title)
    return terms_text([title, *headings], language)


def document_terms(title: str, passages: Sequence[tuple[str, Sequence[str]]], language: str | None) -> str:
    """The document-level lexical terms of a stored document: ``passages`` are (text, heading path), in order."""
    context = document_context_terms(title, [path for _, path in passages], language)
    return " ".join(t for t in (context, *(terms_text([text], language) for text, _ in passages)) if t)


Parse = Callable[[bytes, str, str | None], list[parsing.ParsedDocument]]
ParseMany = Callable[[Sequence[tuple[bytes, str, str | None]]], list[list[parsing.ParsedDocument] | Exception]]


def prepare(
    data: bytes,
    filename: str,
    content_type: str | None,
    detector: LanguageDetector,
    *,
    target_words: int,
    max_words: int,
    redact: Redactor | None = None,
    parse: Parse = parsing.parse,
) -> list[PreparedDocument]:
    """Parse and chunk one uploaded file (CPU-bound: run it in a worker thread).

    ``redact(text, language)``, when given, removes personal data from every block and title before
    anything is chunked, stored or embedded (the organisation's data-protection policy). ``parse``
    reads the file: in this process by default, or ``SandboxedParser.parse`` (worker processes with
    memory and time limits).
    """
    return _prepare_parsed(
        parse(data, filename, content_type),
        data,
        filename,
        content_type,
        detector,
        target_words=target_words,
        max_words=max_words,
        redact=redact,
    )


def prepare_many(
    files: Sequence[tuple[bytes, str, str | None]],
    detector: LanguageDetector,
    *,
    target_words: int,
    max_words: int,
    redact: Redactor | None = None,
    parse_many: ParseMany | None = None,
) -> list[list[PreparedDocument] | Exception]:
    """:func:`prepare` for several files (``(data, filename, content_type)``), in order: each file's
    documents, or the exception it failed with (the other files go on).

    ``parse_many`` reads them all at once (``SandboxedParser.parse_many``: one message per group of
    files to its worker processes); without it each file is parsed in this process.
    """
    if parse_many is None:
        parsed: list[list[parsing.ParsedDocument] | Exception] = []
        for data, filename, content_type in files:
            try:
                parsed.append(parsing.parse(data, filename, content_type))
            except Exception as error:  # noqa: BLE001 - the caller reports it by file; the others go on
                parsed.append(error)
    else:
        parsed = parse_many(files)
    outcomes: list[list[PreparedDocument] | Exception] = []
    for (data, filename, content_type), documents in zip(files, parsed, strict=True):
        if isinstance(documents, Exception):
            outcomes.append(documents)
            continue
        try:
            outcomes.append(
                _prepare_parsed(
                    documents,
                    data,
                    filename,
                    content_type,
                    detector,
                    target_words=target_words,
                    max_words=max_words,
                    redact=redact,
                )
            )
        except Exception as error:  # noqa: BLE001 - the caller reports it by file; the others go on
            outcomes.append(error)
    return outcomes


def _prepare_parsed(
    documents: list[parsing.ParsedDocument],
    data: bytes,
    filename: str,
    content_type: str | None,
    detector: LanguageDetector,
    *,
    target_words: int,
    max_words: int,
    redact: Redactor | None,
) -> list[PreparedDocument]:
    """Language, redaction, chunks and lexical terms of the documents parsed from one file."""
    fmt = parsing.detect_format(filename, content_type, data)
    single = len(documents) == 1 and fmt != "jsonl"
    prepared = []
    for doc in documents:
        body = doc.text
        # A file without a title is known by its name; a JSON Lines record without one has none (its
        # key is no title, and the embedding model should not read it).
        title = (doc.title or ("" if "#" in doc.key else doc.key.rsplit("/", 1)[-1])).strip()[:500]
        language = doc.language or detector.detect(f"{title}\n{body}")
        metadata = dict(doc.metadata)
        if redact is not None:
            title = redact(title, language)
            metadata = {k: redact(v, language) for k, v in metadata.items()}  # authors, subjects, keywords
            doc = dataclasses.replace(
                doc, blocks=[dataclasses.replace(b, text=redact(b.text, language)) for b in doc.blocks]
            )
            body = doc.text
        result = PreparedDocument(
            key=doc.key[:500],
            title=title,
            format=fmt,
            content_hash=sha256_hex(f"{title}\x00{doc.source_url or ''}\x00{body}"),
            file_hash=sha256_hex(data) if single else None,
            source_url=doc.source_url,
            language=language,
            published=doc.published,
            modified=doc.modified,
            page_count=doc.page_count,
            meta=metadata,
        )
        for piece in chunking.chunk_document(doc, target_words=target_words, max_words=max_words):
            embed = embedding_text(title, piece.heading_path, piece.text)
            result.chunks.append(
                PreparedChunk(
                    ordinal=piece.ordinal,
                    text=piece.text,
                    heading_path=piece.heading_path,
                    page=piece.page,
                    words=piece.words,
                    embed_text=embed,
                    embed_hash=sha256_hex(embed),
                    context_terms=terms_text([title, *piece.heading_path], language),
                    terms=terms_text([piece.text], language),
                )
            )
        result.context_terms = document_context_terms(title, [c.heading_path for c in result.chunks], language)
        prepared.append(result)
    return prepared


class Ingestor:
    """Stores prepared documents and fills in their vectors, for one database."""

    def __init__(self, db: Database, indexes: Indexes, embedder: Embedder, *, batch: int, concurrency: int) -> None:
        self.db = db
        self.indexes = indexes
        self.embedder = embedder
        self.batch = batch
        self.concurrency = concurrency
        self._collection_locks: dict[str, asyncio.Lock] = {}

    def _lock(self, collection_id: str) -> asyncio.Lock:
        return self._collection_locks.setdefault(collection_id, asyncio.Lock())

    async def file_hashes(self, collection_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The hash of the bytes each file of ``keys`` was stored from (files not stored are absent), to
        skip unchanged files before they are even parsed."""
        hashes: dict[str, str] = {}
        unique = sorted(set(keys))
        async with self.db.session() as session:
            for start in range(0, len(unique), 500):
                rows = await session.execute(
                    select(Document.key, Document.file_hash).where(
                        Document.collection_id == collection_id, Document.key.in_(unique[start : start + 500])
                    )
                )
                hashes.update({key: file_hash for key, file_hash in rows if file_hash is not None})
        return hashes

    async def store(
        self, collection_id: str, documents: Sequence[PreparedDocument], *, replace_prefix: str | None = None
    ) -> StoreResult:
        """Add, replace or skip ``documents``; with ``replace_prefix`` (a JSON Lines file), also remove
        the file's earlier records that are no longer in it."""
        result = StoreResult()
        async with self._lock(collection_id):
            # Short transactions: on SQLite a writer holds the database's only write lock, and a long
            # ingestion must not keep usage metering or other writers waiting.
            for start in range(0, len(documents), STORE_BATCH):
                async with self.db.write_session() as session:
                    before = (result.added, result.updated)
                    for doc in documents[start : start + STORE_BATCH]:
                        await self._store_one(session, collection_id, doc, result)
                    if (result.added, result.updated) != before:
                        await self._bump(session, collection_id)
                    await session.commit()
            if replace_prefix is not None:
                async with self.db.write_session() as session:
                    keep = {d.key for d in documents}
                    rows = await session.execute(
                        select(Document.id, Document.key).where(
                            Document.collection_id == collection_id,
                            Document.key.startswith(replace_prefix, autoescape=True),
                        )
                    )
                    stale = [document_id for document_id, key in rows.all() if key not in keep]
                    for document_id in stale:
                        await self._remove_document(session, document_id)
                    result.removed = len(stale)
                    if stale:
                        await self._bump(session, collection_id)
                    await session.commit()
        return result

    @staticmethod
    async def _bump(session: AsyncSession, collection_id: str) -> None:
        await session.execute(
            update(Collection).where(Collection.id == collection_id).values(version=Collection.version + 1)
        )

    async def _store_one(
        self, session: AsyncSession, collection_id: str, doc: PreparedDocument, result: StoreResult
    ) -> None:
        existing = (
            await session.scalars(
                select(Document).where(Document.collection_id == collection_id, Document.key == doc.key)
            )
        ).one_or_none()
        if existing is not None and existing.content_hash == doc.content_hash:
            existing.file_hash = doc.file_hash  # same content in a re-saved file: remember the new bytes
            result.unchanged += 1
            return
        hashes = {c.embed_hash for c in doc.chunks}
        known = await self._known_vectors(session, collection_id, hashes)
        if existing is None:
            existing = Document(id=new_id("doc"), collection_id=collection_id, key=doc.key)
            session.add(existing)
            result.added += 1
        else:
            await self._remove_chunks(session, existing.id)
            result.updated += 1
        existing.title = doc.title
        existing.format = doc.format
        existing.content_hash = doc.content_hash
        existing.file_hash = doc.file_hash
        existing.source_url = doc.source_url
        existing.language = doc.language
        existing.published = doc.published
        existing.modified = doc.modified
        existing.page_count = doc.page_count
        existing.meta = doc.meta
        existing.chunk_count = len(doc.chunks)
        await session.flush()
        rows = [
            Chunk(
                document_id=existing.id,
                collection_id=collection_id,
                ordinal=c.ordinal,
                text=c.text,
                heading_path=list(c.heading_path),
                page=c.page,
                language=doc.language,
                words=c.words,
                embed_hash=c.embed_hash,
                embedding=known.get(c.embed_hash),
            )
            for c in doc.chunks
        ]
        session.add_all(rows)
        await session.flush()
        await self.indexes.lexical.add(
            session,
            [(row.id, collection_id, c.context_terms, c.terms) for row, c in zip(rows, doc.chunks, strict=True)],
        )
        if rows:
            await self.indexes.lexical.add_documents(session, [(rows[0].id, existing.id, collection_id, doc.terms())])
        reused = [
            (row.id, collection_id, np.frombuffer(row.embedding, dtype=np.float32))
            for row in rows
            if row.embedding is not None
        ]
        await self.indexes.vectors.add(session, reused)
        result.chunks += len(rows)

    @staticmethod
    async def _known_vectors(session: AsyncSession, collection_id: str, hashes: set[str]) -> dict[str, bytes]:
        known: dict[str, bytes] = {}
        hash_list = sorted(hashes)
        for start in range(0, len(hash_list), 500):
            rows = await session.execute(
                select(Chunk.embed_hash, Chunk.embedding).where(
                    Chunk.collection_id == collection_id,
                    Chunk.embed_hash.in_(hash_list[start : start + 500]),
                    Chunk.embedding.is_not(None),
                )
            )
            for embed_hash, blob in rows:
                if blob is not None:
                    known[embed_hash] = blob
        return known

    async def _remove_chunks(self, session: AsyncSession, document_id: str) -> None:
        ids = list((await session.scalars(select(Chunk.id).where(Chunk.document_id == document_id))).all())
        await self.indexes.lexical.delete(session, ids)
        await session.execute(delete(Chunk).where(Chunk.document_id == document_id))

    async def _remove_document(self, session: AsyncSession, document_id: str) -> None:
        await self._remove_chunks(session, document_id)
        await session.execute(delete(Document).where(Document.id == document_id))

    async def remove_document(self, session: AsyncSession, collection_id: str, document_id: str) -> None:
        """Remove a document, its passages and their index entries in the caller's write session (which
        commits them with its own changes: one writer at a time on SQLite)."""
        async with self._lock(collection_id):
            await self._remove_document(session, document_id)
            await self._bump(session, collection_id)

    async def remove_collection_chunks(self, session: AsyncSession, collection_id: str) -> None:
        """Empty the search indexes of a collection (before the collection itself is deleted), in the
        caller's write session, like :meth:`remove_document`."""
        async with self._lock(collection_id):
            ids = list((await session.scalars(select(Chunk.id).where(Chunk.collection_id == collection_id))).all())
            for start in range(0, len(ids), 1000):
                await self.indexes.lexical.delete(session, ids[start : start + 1000])

    # -- vectors --------------------------------------------------------------------------------

    async def pending(self, collection_id: str) -> int:
        async with self.db.session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Chunk)
                .where(Chunk.collection_id == collection_id, Chunk.embedding.is_(None))
            )
        return int(count or 0)

    async def embed_pending(
        self,
        collection_id: str,
        principal: Principal,
        model: str,
        progress: Progress | None = None,
        stop: Callable[[], bool] | None = None,
        classification: str | None = None,
    ) -> int:
        """Embed every passage of the collection that has no vector yet; returns how many were embedded.
        ``classification``: the collection's, which decides where its passages may be sent."""
        levels = (classification,) if classification else ()
        total = await self.pending(collection_id)
        done = 0
        if progress:
            progress(0, total)
        semaphore = asyncio.Semaphore(self.concurrency)
        while not (stop and stop()):
            work = await self._next_pending(collection_id, self.batch * self.concurrency * 2)
            if not work:
                break
            # texts of similar length in the same request: an encoder pads a batch to its longest text
            # (the embedded one, at 32 per request: 43 passages per second so, 38 in id order)
            work.sort(key=lambda item: len(item[1]))

            async def one(batch: list[tuple[int, str]]) -> int:
                async with semaphore:
                    vectors = await self.embedder.embed(
                        principal, model, [t for _, t in batch], kind="passage", classifications=levels
                    )
                await self._write_vectors(collection_id, [(i, v) for (i, _), v in zip(batch, vectors, strict=True)])
                return len(batch)

            tasks = [one(work[s : s + self.batch]) for s in range(0, len(work), self.batch)]
            for finished in asyncio.as_completed(tasks):
                done += await finished
                if progress:
                    progress(done, max(total, done))
        return done

    async def _next_pending(self, collection_id: str, limit: int) -> list[tuple[int, str]]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(Chunk.id, Chunk.text, Chunk.heading_path, Document.title)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.collection_id == collection_id, Chunk.embedding.is_(None))
                .order_by(Chunk.id)
                .limit(limit)
            )
            return [(int(i), embedding_text(title, path, text)) for i, text, path, title in rows]

    async def _write_vectors(self, collection_id: str, rows: list[tuple[int, Any]]) -> None:
        async with self.db.write_session() as session:
            await session.execute(
                update(Chunk), [{"id": i, "embedding": np.asarray(v, dtype="<f4").tobytes()} for i, v in rows]
            )
            await self.indexes.vectors.add(session, [(i, collection_id, np.asarray(v)) for i, v in rows])
            await self._bump(session, collection_id)
            await session.commit()
