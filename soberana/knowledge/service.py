"""The knowledge capability: collections, ingestion jobs, search, grounded answers, conversations.

Who may do what:

* Reading (search, answers) needs the ``inference`` scope. Internal collections are readable by
  the owning organisation and the organisations above it; public ones by every key.
* Writing (collections, documents) needs the ``knowledge`` scope in the owning organisation's tree.
* Citizens use public collections without a key, through a conversation whose token proves it is
  theirs. Their questions are answered (and metered) as the organisation's public assistant.
* Staff with the ``knowledge`` scope see the hand-off cases of their organisations and reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import SYSTEM_ACTOR, Actor, AuditEvent, Outcome
from soberana.audit.service import AuditLog
from soberana.auth.principal import Principal, Scope, system_principal
from soberana.auth.service import AdminService, Origin
from soberana.core.aio import closing_stream
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    SoberanaError,
    require_id,
)
from soberana.knowledge import repo
from soberana.knowledge.answers import Answer, Answerer, Delta, threshold_for
from soberana.knowledge.index import Indexes
from soberana.knowledge.ingest import Ingestor, PreparedDocument, Progress, StoreResult, prepare, sha256
from soberana.knowledge.models import (
    Chunk,
    Collection,
    Conversation,
    Document,
    Feedback,
    HandoffCase,
    IngestJob,
    Message,
)
from soberana.knowledge.parsing import DocumentFormat, detect_format
from soberana.knowledge.ports import Models
from soberana.knowledge.schemas import (
    AnswerRequest,
    CollectionCreate,
    CollectionUpdate,
    FeedbackIn,
    HandoffIn,
    SearchRequest,
    StaffReplyIn,
)
from soberana.knowledge.search import Retrieval, Retriever
from soberana.knowledge.text import LanguageDetector
from soberana.privacy.schemas import PolicyDocument
from soberana.privacy.service import PrivacyService, delete_in_batches
from soberana.settings import Settings
from soberana.storage.db import Database

logger = logging.getLogger("soberana.knowledge")

CITIZEN_ASSISTANT = "citizen-assistant"
CITIZEN_ASSISTANT_ID = f"system:{CITIZEN_ASSISTANT}"  # the principal citizens' questions are answered as
# Files parsed together and stored in one transaction; a job records its progress after each group.
JOB_GROUP_FILES = 32
JOB_GROUP_BYTES = 4 * 1024 * 1024
FOLLOW_UP_WORDS = 6  # a question this short is read together with the one before it
HISTORY_QUESTIONS = 1


@dataclass(frozen=True, slots=True)
class Answered:
    """A citizen's question answered: the reply as stored in the conversation, and the answer."""

    message: Message
    answer: Answer


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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KnowledgeService:
    def __init__(self, settings: Settings, db: Database, audit: AuditLog, admin: AdminService, models: Models) -> None:
        self.settings = settings
        self.db = db
        self.audit = audit
        self.admin = admin
        self.models = models
        self.detector = LanguageDetector(settings.knowledge_languages)
        self.answerer = Answerer(models)
        self._indexes: Indexes | None = None
        self._ingestor: Ingestor | None = None
        self._retriever: Retriever | None = None
        self._setup_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._citizen_windows: dict[str, deque[float]] = {}
        self.privacy: PrivacyService | None = None  # set by the composition root
        self._started_at = utcnow()

    # -- set-up ----------------------------------------------------------------------------------------

    async def _ready(self) -> tuple[Ingestor, Retriever]:
        """Pick the index backends on first use (it needs a database round trip)."""
        if self._ingestor is None or self._retriever is None:
            async with self._setup_lock:
                if self._indexes is None:
                    async with self.db.session() as session:
                        self._indexes = await Indexes.for_database(
                            self.db.dialect, session, self.settings.knowledge_vector_index
                        )
                    s = self.settings
                    self._ingestor = Ingestor(
                        self.db,
                        self._indexes,
                        self.models,
                        batch=s.knowledge_embed_batch,
                        concurrency=s.knowledge_embed_concurrency,
                    )
                    self._retriever = Retriever(
                        self.db,
                        self._indexes,
                        self.models,
                        self.detector,
                        reranker=self.models,
                        rerank_model=s.knowledge_rerank_model,
                    )
        assert self._ingestor is not None and self._retriever is not None
        return self._ingestor, self._retriever

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

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _background(self) -> None:
        await self._fail_interrupted_jobs()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(300):
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

    # -- collections -----------------------------------------------------------------------------------

    @staticmethod
    def _require(principal: Principal, scope: Scope, what: str) -> None:
        if not principal.can(scope):
            raise PermissionDenied(f"{what} needs the '{scope}' scope.", code="insufficient_scope")

    async def _resolve(self, session: AsyncSession, principal: Principal, ref: str) -> Collection:
        """A collection by id, or by name in the caller's organisation, that the caller may read."""
        if ref.startswith("col_"):
            require_id(ref, "col", "collection")
            found = await session.get(Collection, ref)
        elif principal.org_id is not None:
            found = await repo.collection_by_name(session, principal.org_id, ref)
        else:
            found = None
        visible = await self.admin.visible_org_ids(session, principal)
        if found is None or not (found.visibility == "public" or visible is None or found.org_id in visible):
            raise NotFound(f"No collection {ref!r}.", param="collections")
        return found

    async def _writable(self, session: AsyncSession, principal: Principal, ref: str) -> Collection:
        self._require(principal, Scope.KNOWLEDGE, "Changing collections and documents")
        found = await self._resolve(session, principal, ref)
        visible = await self.admin.visible_org_ids(session, principal)
        if visible is not None and found.org_id not in visible:
            raise NotFound(f"No collection {ref!r}.")  # a public collection of another organisation
        return found

    async def readable(self, session: AsyncSession, principal: Principal, refs: Sequence[str]) -> list[Collection]:
        self._require(principal, Scope.INFERENCE, "Searching collections")
        found: dict[str, Collection] = {}
        for ref in refs:
            collection = await self._resolve(session, principal, ref)
            found[collection.id] = collection
        return list(found.values())

    async def list_collections(self, session: AsyncSession, principal: Principal) -> list[Collection]:
        self._require(principal, Scope.INFERENCE, "Listing collections")
        return await repo.collections(session, await self.admin.visible_org_ids(session, principal))

    async def get_collection(self, session: AsyncSession, principal: Principal, ref: str) -> Collection:
        self._require(principal, Scope.INFERENCE, "Reading collections")
        return await self._resolve(session, principal, ref)

    async def counts(self, session: AsyncSession, collections: Sequence[Collection]) -> dict[str, tuple[int, int, int]]:
        return await repo.collection_counts(session, [c.id for c in collections])

    async def create_collection(
        self, session: AsyncSession, principal: Principal, body: CollectionCreate, origin: Origin
    ) -> Collection:
        self._require(principal, Scope.KNOWLEDGE, "Creating collections")
        org_id = body.org_id or principal.org_id
        if org_id is None:
            raise InvalidRequest("Name the organisation that owns the collection.", param="org_id")
        require_id(org_id, "org", "organisation", param="org_id")
        visible = await self.admin.visible_org_ids(session, principal)
        if (visible is not None and org_id not in visible) or await self.admin.public_organisation(
            session, org_id=org_id
        ) is None:
            raise NotFound(f"No organisation {org_id!r}.", param="org_id")
        collection = Collection(
            id=new_id("col"),
            org_id=org_id,
            name=body.name,
            title=body.title,
            description=body.description,
            visibility=body.visibility,
            classification=self._classification(body.classification, body.visibility),
            embedding_model=body.embedding_model or self.settings.knowledge_embedding_model,
            widget_origins=list(body.widget_origins),
        )
        session.add(collection)
        await self._audit(session, principal, origin, "knowledge.collection.created", collection)
        await self._commit(session, f"A collection named {body.name!r} exists already in this organisation.")
        return collection

    def _classification(self, requested: str | None, visibility: str) -> str:
        """A known data classification: the one asked for, else the least sensitive level for public
        collections and the installation's default for internal ones."""
        levels = self.settings.privacy_classifications
        if requested is not None:
            if requested not in levels:
                raise InvalidRequest(
                    f"Unknown data classification {requested!r}; this installation uses: {', '.join(levels)}.",
                    param="classification",
                )
            return requested
        return levels[0] if visibility == "public" else self.settings.privacy_default_classification

    async def update_collection(
        self, session: AsyncSession, principal: Principal, ref: str, body: CollectionUpdate, origin: Origin
    ) -> Collection:
        collection = await self._writable(session, principal, ref)
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        if "classification" in changes:
            self._classification(changes["classification"], collection.visibility)
        for name, value in changes.items():
            setattr(collection, name, value)
        await self._audit(session, principal, origin, "knowledge.collection.updated", collection, {"fields": changes})
        await self._commit(session)
        return collection

    async def delete_collection(self, session: AsyncSession, principal: Principal, ref: str, origin: Origin) -> None:
        collection = await self._writable(session, principal, ref)
        ingestor, _ = await self._ready()
        await ingestor.remove_collection_chunks(session, collection.id)
        await self._audit(session, principal, origin, "knowledge.collection.deleted", collection)
        await session.delete(collection)
        await self._commit(session)

    # -- documents and ingestion -----------------------------------------------------------------------

    async def list_documents(
        self, session: AsyncSession, principal: Principal, ref: str, limit: int, offset: int
    ) -> list[Document]:
        collection = await self.get_collection(session, principal, ref)
        return await repo.documents(session, collection.id, limit, offset)

    async def delete_document(
        self, session: AsyncSession, principal: Principal, ref: str, document_id: str, origin: Origin
    ) -> None:
        collection = await self._writable(session, principal, ref)
        require_id(document_id, "doc", "document")
        document = await session.get(Document, document_id)
        if document is None or document.collection_id != collection.id:
            raise NotFound(f"No document {document_id!r} in this collection.")
        ingestor, _ = await self._ready()
        await ingestor.remove_document(session, collection.id, document_id)
        await self._audit(
            session, principal, origin, "knowledge.document.deleted", collection, {"document_id": document_id}
        )
        await self._commit(session)

    async def start_ingest(
        self,
        session: AsyncSession,
        principal: Principal,
        ref: str,
        files: Sequence[UploadedFile],
        origin: Origin,
    ) -> IngestJob:
        """Queue ``files`` for ingestion in the background; the job reports progress as it goes."""
        collection = await self._writable(session, principal, ref)
        if not files:
            raise InvalidRequest("Upload at least one file.", param="files")
        job = _queued_job(collection, len(files))
        session.add(job)
        await self._audit(
            session,
            principal,
            origin,
            "knowledge.ingest.started",
            collection,
            {"job_id": job.id, "files": [f.name for f in files][:100]},
        )
        await session.commit()
        self._spawn(self.run_job(job.id, collection, list(files)))
        return job

    async def get_job(self, session: AsyncSession, principal: Principal, job_id: str) -> IngestJob:
        require_id(job_id, "job", "ingest job")
        job = await session.get(IngestJob, job_id)
        visible = await self.admin.visible_org_ids(session, principal)
        if job is None or (visible is not None and job.org_id not in visible):
            raise NotFound(f"No ingest job {job_id!r}.")
        return job

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
        """Ingest a few files: skip those stored from the same bytes already, parse the others in one
        worker thread, store them in one transaction. A file that fails is reported by name; the others
        go on."""
        ingestor, _ = await self._ready()
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
            if fmt != "jsonl" and stored.get(file.name) == sha256(file.data):
                counts.unchanged += 1  # unchanged file: not even parsed
                counts.files_done += 1
            else:
                todo.append((file, fmt))
        s = self.settings
        redact = self.privacy.ingestion_redactor(collection.org_id) if self.privacy else None

        def prepare_all() -> list[list[PreparedDocument] | Exception]:
            outcomes: list[list[PreparedDocument] | Exception] = []
            for file, _ in todo:
                try:
                    outcomes.append(
                        prepare(
                            file.data,
                            file.name,
                            file.content_type,
                            self.detector,
                            target_words=s.knowledge_chunk_target_words,
                            max_words=s.knowledge_chunk_max_words,
                            redact=redact,
                        )
                    )
                except Exception as error:  # noqa: BLE001 - reported by name below; the other files go on
                    outcomes.append(error)
            return outcomes

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
        ingestor, _ = await self._ready()
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

    async def new_job(self, collection: Collection, files: int) -> str:
        """A job row for ingestion run in the foreground (the CLI)."""
        async with self.db.write_session() as session:
            job = _queued_job(collection, files)
            session.add(job)
            await session.commit()
            return job.id

    async def embed_pending(self, collection: Collection, progress: Progress | None = None) -> int:
        ingestor, _ = await self._ready()
        org = await self._org(collection.org_id)
        principal = system_principal(collection.org_id, org, "knowledge-indexing")
        model = collection.embedding_model or self.settings.knowledge_embedding_model
        return await ingestor.embed_pending(
            collection.id, principal, model, progress, lambda: self._stopping, collection.classification
        )

    async def embed_all_pending(self) -> None:
        async with self.db.session() as session:
            ids = (await session.scalars(select(Chunk.collection_id).where(Chunk.embedding.is_(None)).distinct())).all()
            collections = [c for c in [await session.get(Collection, i) for i in ids] if c is not None]
        for collection in collections:
            if self._stopping:
                return
            await self.embed_pending(collection)

    async def _org(self, org_id: str) -> str | None:
        async with self.db.session() as session:
            org = await self.admin.public_organisation(session, org_id=org_id)
        return org.slug if org else None

    # -- search and answers ----------------------------------------------------------------------------

    async def search(self, principal: Principal, body: SearchRequest) -> Retrieval:
        _, retriever = await self._ready()
        async with self.db.session() as session:
            collections = await self.readable(session, principal, body.collections)
        return await retriever.search(
            principal,
            collections,
            body.query,
            limit=body.limit,
            method=body.method,
            languages=body.languages,
            document_ids=body.document_ids,
            default_model=self.settings.knowledge_embedding_model,
        )

    async def answer(self, principal: Principal, body: AnswerRequest, *, history: Sequence[str] = ()) -> Answer:
        async with self.db.session() as session:
            collections = await self.readable(session, principal, body.collections)
        return await self._answer(principal, collections, body.question, body, history)

    async def _answer(
        self,
        principal: Principal,
        collections: Sequence[Collection],
        question: str,
        body: AnswerRequest | None,
        history: Sequence[str],
        conversation: str | None = None,
    ) -> Answer:
        async with closing_stream(
            self._answer_stream(principal, collections, question, body, history, conversation)
        ) as items:
            async for item in items:
                if isinstance(item, Answer):
                    return item
        raise AssertionError("an answer stream ends with its answer")

    async def _answer_stream(
        self,
        principal: Principal,
        collections: Sequence[Collection],
        question: str,
        body: AnswerRequest | None,
        history: Sequence[str],
        conversation: str | None = None,
        *,
        stream: bool = False,
    ) -> AsyncIterator[Delta | Answer]:
        """Retrieve, then answer: generated (streamed piece by piece when ``stream``), extractive or an
        abstention. Ends with the :class:`Answer`."""
        _, retriever = await self._ready()
        s = self.settings
        language = await retriever.detect_language(question)
        query = question
        if history and len(question.split()) <= FOLLOW_UP_WORDS:
            query = " ".join([*history[-HISTORY_QUESTIONS:], question])  # a follow-up: read it in context
        top_k = (body.top_k if body else None) or s.knowledge_top_k
        retrieval = await retriever.search(
            principal,
            collections,
            query,
            limit=top_k,
            query_language=language,
            default_model=s.knowledge_embedding_model,
        )
        answer_language = (body.language if body else None) or language
        embedding_model = collections[0].embedding_model or s.knowledge_embedding_model
        threshold = threshold_for(embedding_model, s.knowledge_abstain_threshold)
        if self.answerer.should_abstain(retrieval, threshold):
            yield self.answerer.abstain(answer_language, retrieval, threshold)
            return
        model = (body.model if body else None) or s.knowledge_answer_model
        classifications = [c.classification for c in collections]
        if model and not (body and body.extractive):
            arguments = (principal, model, question, retrieval, answer_language, threshold)
            if stream:
                generated = self.answerer.generated_stream(
                    *arguments, classifications=classifications, conversation=conversation
                )
                async with closing_stream(generated) as items:
                    async for item in items:
                        yield item
            else:
                yield await self.answerer.generated(
                    *arguments, classifications=classifications, conversation=conversation
                )
            return
        query_vector = retrieval.query_vectors.get(retrieval.hits[0].collection_id)
        yield await self.answerer.extractive(
            principal,
            embedding_model,
            question,
            query_vector,
            retrieval,
            answer_language,
            threshold,
            classifications=classifications,
        )

    # -- conversations (citizens) ----------------------------------------------------------------------

    async def _public_collection(self, session: AsyncSession, ref: str) -> Collection:
        collection: Collection | None = None
        if ref.startswith("col_"):
            require_id(ref, "col", "collection", param="collection")
            collection = await session.get(Collection, ref)
        elif "/" in ref:
            slug, name = ref.split("/", 1)
            org = await self.admin.public_organisation(session, slug=slug)
            collection = await repo.collection_by_name(session, org.id, name) if org else None
        if collection is None or collection.visibility != "public":
            raise NotFound(f"No public assistant {ref!r}.", param="collection")
        return collection

    async def public_assistants(self) -> list[tuple[Collection, str, str]]:
        """Every public collection of an active organisation: ``(collection, org slug, org name)``."""
        async with self.db.session() as session:
            found = []
            for collection in await repo.collections(session, None):
                if collection.visibility != "public":
                    continue
                org = await self.admin.public_organisation(session, org_id=collection.org_id)
                if org is not None:
                    found.append((collection, org.slug, org.name))
        return found

    async def public_assistant(self, collection_ref: str) -> tuple[Collection, str]:
        """A public collection's assistant (``org-slug/name`` or its id) and the organisation's name."""
        async with self.db.session() as session:
            collection = await self._public_collection(session, collection_ref)
            org = await self.admin.public_organisation(session, org_id=collection.org_id)
        return collection, org.name if org else ""

    async def open_conversation(self, collection_ref: str) -> tuple[Conversation, str]:
        """A new anonymous conversation on a public collection, and its token (shown once)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write_session() as session:
            collection = await self._public_collection(session, collection_ref)
            conversation = Conversation(
                id=new_id("conv"),
                collection_id=collection.id,
                org_id=collection.org_id,
                token_hash=_token_hash(token),
                created_at=now,
                last_activity_at=now,
                expires_at=now + self._retention(collection.org_id),
            )
            session.add(conversation)
            await session.commit()
        return conversation, token

    async def _conversation(self, session: AsyncSession, conversation_id: str, token: str | None) -> Conversation:
        require_id(conversation_id, "conv", "conversation")
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None or conversation.expires_at < utcnow():
            raise NotFound(f"No conversation {conversation_id!r} (it may have expired).")
        if not token or not hmac.compare_digest(conversation.token_hash, _token_hash(token)):
            raise AuthenticationFailed(
                "This conversation needs its token in the X-Conversation-Token header.",
                code="invalid_conversation_token",
            )
        return conversation

    def _limit_citizen(self, address: str | None) -> None:
        """At most ``citizen_questions_per_minute`` questions per client address (in this process)."""
        now = time.monotonic()
        window = self._citizen_windows.setdefault(address or "?", deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.settings.citizen_questions_per_minute:
            retry = int(60 - (now - window[0])) + 1
            raise RateLimited(
                "Too many questions from this address; please wait a minute.",
                headers={"Retry-After": str(retry)},
            )
        window.append(now)
        if len(self._citizen_windows) > 10_000:  # forget idle addresses
            for key in [k for k, w in self._citizen_windows.items() if not w or w[-1] <= now - 60]:
                del self._citizen_windows[key]

    async def ask(
        self, conversation_id: str, token: str | None, question: str, origin: Origin | None = None
    ) -> tuple[Message, Answer]:
        async with closing_stream(self.ask_stream(conversation_id, token, question, origin, stream=False)) as items:
            async for item in items:
                if isinstance(item, Answered):
                    return item.message, item.answer
        raise AssertionError("ask_stream ends with the stored answer")

    async def ask_stream(
        self,
        conversation_id: str,
        token: str | None,
        question: str,
        origin: Origin | None = None,
        *,
        stream: bool = True,
    ) -> AsyncIterator[Delta | Answered]:
        """A citizen's question: a generated answer's pieces as the model writes them (:class:`Delta`),
        then the answer as stored in the conversation (:class:`Answered`)."""
        self._limit_citizen(origin.ip if origin else None)
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            collection = await session.get(Collection, conversation.collection_id)
            history = [m.content for m in await repo.messages(session, conversation.id) if m.role == "user"]
        assert collection is not None
        principal = system_principal(collection.org_id, await self._org(collection.org_id), CITIZEN_ASSISTANT)
        answer: Answer | None = None
        answering = self._answer_stream(
            principal, [collection], question, None, history, conversation_id, stream=stream
        )
        async with closing_stream(answering) as items:
            async for item in items:
                if isinstance(item, Answer):
                    answer = item
                else:
                    yield item
        assert answer is not None
        now = utcnow()
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            session.add(
                Message(
                    id=new_id("msg"),
                    conversation_id=conversation.id,
                    role="user",
                    content=question,
                    language=answer.language,
                    created_at=now,
                )
            )
            reply = Message(
                id=new_id("msg"),
                conversation_id=conversation.id,
                role="assistant",
                content=answer.text,
                language=answer.language,
                mode=answer.mode,
                citations=answer.citations,
                flags=answer.flags,
                created_at=now + timedelta(microseconds=1),
            )
            session.add(reply)
            conversation.language = answer.language
            conversation.last_activity_at = now
            conversation.expires_at = now + self._retention(conversation.org_id)
            await session.commit()
        yield Answered(reply, answer)

    async def transcript(
        self, conversation_id: str, token: str | None
    ) -> tuple[Conversation, list[Message], HandoffCase | None]:
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            return (
                conversation,
                await repo.messages(session, conversation.id),
                await repo.handoff_for(session, conversation.id),
            )

    async def rated(self, conversation_id: str, token: str | None) -> set[str]:
        """The answers of a conversation that already have the citizen's feedback."""
        async with self.db.session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            return await repo.rated_message_ids(session, conversation.id)

    async def feedback(self, conversation_id: str, token: str | None, body: FeedbackIn) -> Feedback:
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            message = await session.get(Message, body.message_id)
            if message is None or message.conversation_id != conversation.id or message.role != "assistant":
                raise NotFound("No answer with that id in this conversation.", param="message_id")
            feedback = Feedback(
                id=new_id("fb"),
                message_id=message.id,
                conversation_id=conversation.id,
                helpful=body.helpful,
                reason=body.reason,
                comment=body.comment,
            )
            session.add(feedback)
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict("This answer has feedback already.") from None
            return feedback

    async def request_handoff(
        self, conversation_id: str, token: str | None, body: HandoffIn, origin: Origin
    ) -> HandoffCase:
        """Open a case in the staff queue (or return the one already open)."""
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            existing = await repo.handoff_for(session, conversation.id)
            if existing is not None:
                return existing
            case = HandoffCase(
                id=new_id("case"),
                conversation_id=conversation.id,
                org_id=conversation.org_id,
                status="open",
                reason=body.reason,
                contact=body.contact,
            )
            session.add(case)
            await self.audit.append(
                session,
                AuditEvent(
                    action="knowledge.handoff.opened",
                    actor=Actor(type="anonymous"),
                    org_id=conversation.org_id,
                    object_type="knowledge_handoff_case",
                    object_id=case.id,
                    details={"conversation_id": conversation.id},
                    ip=origin.ip,
                    request_id=origin.request_id,
                ),
            )
            await session.commit()
            return case

    async def erase_conversation(self, conversation_id: str, token: str | None, origin: Origin) -> None:
        """Erase a citizen's conversation on their request: messages, feedback and hand-off case."""
        async with self.db.write_session() as session:
            conversation = await self._conversation(session, conversation_id, token)
            await repo.delete_conversations(session, [conversation.id])
            if self.privacy is not None:
                await self.privacy.erase_conversation(
                    session, conversation.org_id, CITIZEN_ASSISTANT_ID, conversation.id
                )
            await self.audit.append(
                session,
                AuditEvent(
                    action="knowledge.conversation.erased",
                    actor=Actor(type="anonymous"),
                    org_id=conversation.org_id,
                    object_type="knowledge_conversation",
                    object_id=conversation.id,
                    ip=origin.ip,
                    request_id=origin.request_id,
                ),
            )
            await session.commit()

    def conversation_retention(self, org_id: str) -> timedelta:
        """How long a citizen conversation of ``org_id`` is kept after its last message."""
        return self._retention(org_id)

    def _retention(self, org_id: str) -> timedelta:
        days = self.privacy.retention_days(org_id, "conversations") if self.privacy else None
        return timedelta(days=days or self.settings.conversation_retention_days)

    # -- hand-off queue (staff) ------------------------------------------------------------------------

    async def list_cases(self, session: AsyncSession, principal: Principal, status: str | None) -> list[HandoffCase]:
        self._require(principal, Scope.KNOWLEDGE, "The hand-off queue")
        return await repo.handoff_cases(session, await self.admin.visible_org_ids(session, principal), status)

    async def get_case(
        self, session: AsyncSession, principal: Principal, case_id: str
    ) -> tuple[HandoffCase, Conversation, list[Message]]:
        self._require(principal, Scope.KNOWLEDGE, "The hand-off queue")
        require_id(case_id, "case", "hand-off case")
        case = await session.get(HandoffCase, case_id)
        visible = await self.admin.visible_org_ids(session, principal)
        if case is None or (visible is not None and case.org_id not in visible):
            raise NotFound(f"No hand-off case {case_id!r}.")
        conversation = await session.get(Conversation, case.conversation_id)
        assert conversation is not None
        return case, conversation, await repo.messages(session, conversation.id)

    async def reply(
        self, session: AsyncSession, principal: Principal, case_id: str, body: StaffReplyIn, origin: Origin
    ) -> tuple[HandoffCase, Message]:
        """A staff member's reply: it appears in the citizen's conversation."""
        case, conversation, _ = await self.get_case(session, principal, case_id)
        if case.status == "closed":
            raise Conflict("This case is closed.")
        message = Message(
            id=new_id("msg"), conversation_id=conversation.id, role="staff", content=body.message, created_at=utcnow()
        )
        session.add(message)
        case.assignee_id = principal.id
        case.status = "closed" if body.close else "assigned"
        conversation.last_activity_at = utcnow()
        await self._audit(
            session, principal, origin, "knowledge.handoff.replied", case, {"closed": body.close}, object_type="case"
        )
        await session.commit()
        return case, message

    # -- helpers ---------------------------------------------------------------------------------------

    async def _audit(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        action: str,
        obj: Collection | HandoffCase,
        details: dict[str, Any] | None = None,
        *,
        object_type: str | None = None,
    ) -> None:
        await self.audit.append(
            session,
            AuditEvent(
                action=action,
                actor=principal.actor(),
                org_id=obj.org_id,
                object_type=object_type or type(obj).__tablename__.removesuffix("s"),
                object_id=obj.id,
                details=details or {},
                ip=origin.ip,
                request_id=origin.request_id,
            ),
        )

    @staticmethod
    async def _commit(session: AsyncSession, conflict: str = "Conflicting change.") -> None:
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise Conflict(conflict) from None


class ConversationRetention:
    """Deletes citizen conversations (messages, feedback, hand-off cases) a retention period after their
    last message; registered with :class:`~soberana.privacy.service.PrivacyService`'s purge job."""

    kind = "conversations"

    def default_days(self, settings: Settings) -> float | None:
        return settings.conversation_retention_days

    def org_days(self, document: PolicyDocument) -> float | None:
        return document.retention.conversations_days

    async def purge(
        self, session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
    ) -> dict[str, int]:
        rows = await repo.conversations_before(session, default_cutoff, cutoffs)
        return await delete_in_batches(rows, lambda ids: repo.delete_conversations(session, ids))
