"""Ingestion jobs, and the background worker that embeds new passages.

An upload becomes a job: its files are parsed a group at a time (unchanged files are skipped before
they are even parsed), stored in one transaction per group, and the job records its progress after
each group. A file that fails is reported by name; the others go on. Passages are embedded in the
background, or in the foreground by the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import SYSTEM_ACTOR, AuditEvent, Outcome
from soberana.audit.service import AuditLog
from soberana.auth.principal import Origin, Principal, system_principal
from soberana.core.clock import utcnow
from soberana.core.crypto import sha256_hex
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound, SoberanaError, require_id
from soberana.knowledge.backfill import index_unindexed_documents
from soberana.knowledge.engine import KnowledgeEngine
from soberana.knowledge.ingest import PreparedDocument, Progress, StoreResult, prepare_many
from soberana.knowledge.models import Chunk, Collection, IngestJob
from soberana.knowledge.parsing import DocumentFormat, detect_format
from soberana.knowledge.parsing.sandbox import SandboxedParser
from soberana.knowledge.service import KnowledgeService
from soberana.privacy.service import PrivacyService
from soberana.settings import Settings
from soberana.storage.db import Database

logger = logging.getLogger("soberana.knowledge")

# Files parsed together and stored in one transaction; a job records its progress after each group.
JOB_GROUP_FILES = 32
JOB_GROUP_BYTES = 4 * 1024 * 1024
IDLE_SECONDS = 300  # the worker looks for passages without vectors at least this often


@dataclass(frozen=True, slots=True)
class UploadedFile:
    name: str
    data: bytes
    content_type: str | None = None


@dataclass
class JobCounts(StoreResult):
    """A job's progress: its files done and failed, and what storing them did."""

    files_done: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


def _queued_job(collection: Collection, files: int) -> IngestJob:
    return IngestJob(
        id=new_id("job"),
        collection_id=collection.id,
        org_id=collection.org_id,
        status="queued",
        files_total=files,
        errors=[],
    )


def _groups(files: list[UploadedFile]) -> list[list[UploadedFile]]:
    """``files`` in groups of at most ``JOB_GROUP_FILES`` files and ``JOB_GROUP_BYTES`` (or one file)."""
    groups: list[list[UploadedFile]] = []
    size = 0
    for file in files:
        if not groups or len(groups[-1]) >= JOB_GROUP_FILES or size + len(file.data) > JOB_GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(file)
        size += len(file.data)
    return groups


def _record_failure(counts: JobCounts, file: UploadedFile, error: Exception) -> None:
    if isinstance(error, SoberanaError):
        message = error.message
    else:  # a parser bug must not stop the other files
        logger.error("ingesting %s failed", file.name, exc_info=error)
        message = f"Unexpected error ({type(error).__name__})."
    counts.errors.append({"file": file.name, "message": message})
    counts.files_done += 1


class IngestionJobs:
    """Upload jobs and the embedding worker of one server process (or of one command)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditLog,
        knowledge: KnowledgeService,
        engine: KnowledgeEngine,
        privacy: PrivacyService,
        parser: SandboxedParser | None,
    ) -> None:
        """``parser`` reads uploads in worker processes with time and memory limits; ``None`` reads them
        in this process (``knowledge_parse_workers = 0``: tests, or a trusted single-user install)."""
        self.settings = settings
        self.db = db
        self.audit = audit
        self.knowledge = knowledge
        self.engine = engine
        self.privacy = privacy
        self.parser = parser
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._started_at = utcnow()

    # -- the worker ------------------------------------------------------------------------------------

    def start_background(self) -> None:
        """Start the worker that embeds new passages (the server)."""
        self._started_at = utcnow()
        self._spawn(self._background())
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.parser is not None:  # may wait for a busy worker: off the event loop
            await anyio.to_thread.run_sync(self.parser.close)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _background(self) -> None:
        await self._fail_interrupted_jobs()
        try:  # documents stored before the document-level index existed
            await index_unindexed_documents(self.db, (await self.engine.ingestor()).indexes)
        except Exception:  # searching still works without it; the next start tries again
            logger.exception("indexing older documents as whole pages failed")
        try:
            await self.prepare_searching()
        except SoberanaError as error:  # e.g. the embeddings model is not configured: the first question will
            logger.warning("generic questions not embedded at start: %s", error.message)
        except Exception:
            logger.exception("embedding the generic questions at start failed; the first question will")
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.embed_all_pending()
            except SoberanaError as error:  # e.g. the embeddings model is not configured: retry later
                logger.warning("background indexing paused: %s", error.message)
            except Exception:
                logger.exception("background indexing failed; retrying later")

    async def _fail_interrupted_jobs(self) -> None:
        """Mark the jobs a previous run of the server left unfinished as failed (not this run's own)."""
        async with self.db.write_session() as session:
            stmt = select(IngestJob).where(
                IngestJob.status.in_(["queued", "running"]), IngestJob.created_at < self._started_at
            )
            jobs = (await session.scalars(stmt)).all()
            for job in jobs:
                job.status = "failed"
                job.errors = [*job.errors, {"file": "*", "message": "The server stopped before the job finished."}]
                job.finished_at = utcnow()
            await session.commit()

    # -- jobs ------------------------------------------------------------------------------------------

    async def start_ingest(
        self,
        session: AsyncSession,
        principal: Principal,
        ref: str,
        files: Sequence[UploadedFile],
        origin: Origin,
    ) -> IngestJob:
        """Queue ``files`` for ingestion in the background; the job reports progress as it goes."""
        collection = await self.knowledge.writable(session, principal, ref)
        if not files:
            raise InvalidRequest("Upload at least one file.", param="files")
        job = _queued_job(collection, len(files))
        session.add(job)
        await self.knowledge.admin.record_change(
            session,
            principal,
            origin,
            action="knowledge.ingest.started",
            org_id=collection.org_id,
            object_type="knowledge_collection",
            object_id=collection.id,
            details={"job_id": job.id, "files": [f.name for f in files][:100]},
        )
        await session.commit()
        self._spawn(self.run_job(job.id, collection, list(files)))
        return job

    async def get_job(self, session: AsyncSession, principal: Principal, job_id: str) -> IngestJob:
        require_id(job_id, "job", "ingest job")
        job = await session.get(IngestJob, job_id)
        visible = await self.knowledge.admin.visible_org_ids(session, principal)
        if job is None or (visible is not None and job.org_id not in visible):
            raise NotFound(f"No ingest job {job_id!r}.")
        return job

    async def new_job(self, collection: Collection, files: int) -> str:
        """A job row for ingestion run in the foreground (the command line)."""
        async with self.db.write_session() as session:
            job = _queued_job(collection, files)
            session.add(job)
            await session.commit()
            return job.id

    async def run_job(
        self, job_id: str, collection: Collection, files: list[UploadedFile], progress: Progress | None = None
    ) -> IngestJob:
        """Ingest ``files`` as job ``job_id``, a group at a time, recording progress after each group."""
        counts = JobCounts()
        await self._update_job(job_id, counts, "running")
        for group in _groups(files):
            await self._ingest_group(collection, group, counts)
            await self._update_job(job_id, counts, "running")
            if progress:
                progress(counts.files_done, len(files))
        ok = counts.files_done - len(counts.errors)
        status = "succeeded" if not counts.errors else ("partial" if ok else "failed")
        job = await self._update_job(job_id, counts, status, finished=True)
        async with self.db.write_session() as session:
            await self.audit.append(
                session,
                AuditEvent(
                    action="knowledge.ingest.finished",
                    actor=SYSTEM_ACTOR,
                    outcome=Outcome.SUCCESS if status == "succeeded" else Outcome.FAILURE,
                    org_id=collection.org_id,
                    object_type="knowledge_collection",
                    object_id=collection.id,
                    details={
                        "job_id": job_id,
                        "status": status,
                        "added": counts.added,
                        "updated": counts.updated,
                        "unchanged": counts.unchanged,
                        "failed_files": [e["file"] for e in counts.errors][:100],
                    },
                ),
            )
            await session.commit()
        self._wake.set()
        return job

    async def _ingest_group(self, collection: Collection, group: list[UploadedFile], counts: JobCounts) -> None:
        """Ingest a few files: skip those stored from the same bytes already, read the others in the
        parser's worker processes (time and memory limits) and chunk them in one worker thread, store
        them in one transaction. A file that fails is reported by name; the others go on."""
        ingestor = await self.engine.ingestor()
        first_error = len(counts.errors)
        known: list[tuple[UploadedFile, DocumentFormat]] = []
        for file in group:
            try:
                known.append((file, detect_format(file.name, file.content_type, file.data)))
            except SoberanaError as error:  # not a format Soberana reads
                _record_failure(counts, file, error)
        keys = [file.name for file, fmt in known if fmt != "jsonl"]
        stored = await ingestor.file_hashes(collection.id, keys)
        todo: list[tuple[UploadedFile, DocumentFormat]] = []
        for file, fmt in known:
            if fmt != "jsonl" and stored.get(file.name) == sha256_hex(file.data):
                counts.unchanged += 1  # unchanged file: not even parsed
                counts.files_done += 1
            else:
                todo.append((file, fmt))
        s = self.settings
        redact = self.privacy.ingestion_redactor(collection.org_id)
        detector = self.engine.detector
        parse_many = self.parser.parse_many if self.parser is not None else None

        def prepare_all() -> list[list[PreparedDocument] | Exception]:
            return prepare_many(
                [(file.data, file.name, file.content_type) for file, _ in todo],
                detector,
                target_words=s.knowledge_chunk_target_words,
                max_words=s.knowledge_chunk_max_words,
                redact=redact,
                parse_many=parse_many,
            )

        together: list[tuple[UploadedFile, list[PreparedDocument]]] = []
        for (file, fmt), outcome in zip(todo, await anyio.to_thread.run_sync(prepare_all), strict=True):
            if isinstance(outcome, Exception):
                _record_failure(counts, file, outcome)
            elif fmt == "jsonl":  # a JSON Lines file also removes its own records that are gone
                await self._store_files(collection.id, [(file, outcome)], counts, replace_prefix=f"{file.name}#")
            else:
                together.append((file, outcome))
        await self._store_files(collection.id, together, counts)
        position = {file.name: i for i, file in enumerate(group)}  # failures reported in the files' order
        counts.errors[first_error:] = sorted(counts.errors[first_error:], key=lambda e: position[e["file"]])

    async def _store_files(
        self,
        collection_id: str,
        files: list[tuple[UploadedFile, list[PreparedDocument]]],
        counts: JobCounts,
        *,
        replace_prefix: str | None = None,
    ) -> None:
        """Store the documents of ``files`` in one go; if that fails, file by file, to name the culprit."""
        if not files:
            return
        ingestor = await self.engine.ingestor()
        try:
            result = await ingestor.store(
                collection_id, [doc for _, docs in files for doc in docs], replace_prefix=replace_prefix
            )
        except Exception as error:  # noqa: BLE001 - reported by file name; the other files go on
            if len(files) == 1:
                _record_failure(counts, files[0][0], error)
                return
            for one in files:
                await self._store_files(collection_id, [one], counts, replace_prefix=replace_prefix)
            return
        counts.include(result)
        counts.files_done += len(files)

    async def _update_job(self, job_id: str, counts: JobCounts, status: str, *, finished: bool = False) -> IngestJob:
        async with self.db.write_session() as session:
            job = await session.get(IngestJob, job_id)
            assert job is not None
            job.status = status
            job.files_done = counts.files_done
            job.documents_added = counts.added
            job.documents_updated = counts.updated
            job.documents_unchanged = counts.unchanged
            job.chunks_added = counts.chunks
            job.errors = list(counts.errors)
            if finished:
                job.finished_at = utcnow()
            await session.commit()
            return job

    # -- embedding -------------------------------------------------------------------------------------

    async def embed_pending(self, collection: Collection, progress: Progress | None = None) -> int:
        """Embed the passages of ``collection`` that have no vector yet; returns how many were embedded."""
        ingestor = await self.engine.ingestor()
        org = await self.knowledge.org_slug(collection.org_id)
        principal = system_principal(collection.org_id, org, "knowledge-indexing")
        model = collection.embedding_model or self.settings.knowledge_embedding_model
        embedded = await ingestor.embed_pending(
            collection.id, principal, model, progress, lambda: self._stopping, collection.classification
        )
        await self._prepare_questions(collection, principal, model)
        return embedded

    async def _prepare_questions(self, collection: Collection, principal: Principal, model: str) -> None:
        """Embed the generic questions that centre questions to ``model``'s collections (see
        :meth:`Retriever.prepare`): once per process, before a citizen's first question needs them."""
        retriever = await self.engine.retriever()
        if not retriever.prepared(model):
            await retriever.prepare(principal, model, [collection.classification])

    async def prepare_searching(self) -> None:
        """At start: the generic questions of every embedding model that an indexed collection uses."""
        async with self.db.session() as session:
            collections = (await session.scalars(select(Collection).order_by(Collection.created_at))).all()
        seen: set[str] = set()
        for collection in collections:
            model = collection.embedding_model or self.settings.knowledge_embedding_model
            if model in seen or self._stopping:
                continue
            seen.add(model)
            org = await self.knowledge.org_slug(collection.org_id)
            principal = system_principal(collection.org_id, org, "knowledge-indexing")
            await self._prepare_questions(collection, principal, model)

    async def embed_all_pending(self) -> None:
        async with self.db.session() as session:
            ids = (await session.scalars(select(Chunk.collection_id).where(Chunk.embedding.is_(None)).distinct())).all()
            collections = [c for c in [await session.get(Collection, i) for i in ids] if c is not None]
        for collection in collections:
            if self._stopping:
                return
            await self.embed_pending(collection)
