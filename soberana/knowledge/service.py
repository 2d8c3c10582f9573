"""The knowledge capability's core: collections and their documents, search, grounded answers.

Who may do what:

* Reading (search, answers) needs the ``inference`` scope. Internal collections are readable by
  the owning organisation and the organisations above it; public ones by every key.
* Writing (collections, documents) needs the ``knowledge`` scope in the owning organisation's tree.
  Publishing a collection classified above the least sensitive level needs an administrator.

The rest of the capability builds on this service: ingestion jobs (:mod:`~soberana.knowledge.jobs`),
the citizens' assistant (:mod:`~soberana.knowledge.citizens`) and the staff hand-off queue
(:mod:`~soberana.knowledge.handoff`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.service import AdminService
from soberana.core.aio import closing_stream
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound, require_id
from soberana.knowledge import repo
from soberana.knowledge.answerability import decide, needs_reading
from soberana.knowledge.answers import Answer, Answerer, Delta
from soberana.knowledge.engine import KnowledgeEngine
from soberana.knowledge.models import Collection, Document
from soberana.knowledge.schemas import AnswerRequest, CollectionCreate, CollectionUpdate, SearchRequest
from soberana.knowledge.search import Retrieval
from soberana.settings import Settings
from soberana.storage.db import Database, commit_or_conflict, conflicts_as

FOLLOW_UP_WORDS = 6  # a question this short is read together with the one before it
HISTORY_QUESTIONS = 1


class KnowledgeService:
    def __init__(self, settings: Settings, db: Database, admin: AdminService, engine: KnowledgeEngine) -> None:
        self.settings = settings
        self.db = db
        self.admin = admin
        self.engine = engine
        self.detector = engine.detector
        self.answerer = Answerer(engine.models)

    # -- collections -----------------------------------------------------------------------------------

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

    async def writable(self, session: AsyncSession, principal: Principal, ref: str) -> Collection:
        """A collection of the caller's organisations that the caller may change (``knowledge`` scope)."""
        principal.require(Scope.KNOWLEDGE, "Changing collections and documents")
        found = await self._resolve(session, principal, ref)
        visible = await self.admin.visible_org_ids(session, principal)
        if visible is not None and found.org_id not in visible:
            raise NotFound(f"No collection {ref!r}.")  # a public collection of another organisation
        return found

    async def readable(self, session: AsyncSession, principal: Principal, refs: Sequence[str]) -> list[Collection]:
        principal.require(Scope.INFERENCE, "Searching collections")
        found: dict[str, Collection] = {}
        for ref in refs:
            collection = await self._resolve(session, principal, ref)
            found[collection.id] = collection
        return list(found.values())

    async def list_collections(self, session: AsyncSession, principal: Principal) -> list[Collection]:
        principal.require(Scope.INFERENCE, "Listing collections")
        return await repo.collections(session, await self.admin.visible_org_ids(session, principal))

    async def get_collection(self, session: AsyncSession, principal: Principal, ref: str) -> Collection:
        principal.require(Scope.INFERENCE, "Reading collections")
        return await self._resolve(session, principal, ref)

    async def find_collection(self, session: AsyncSession, collection_id: str) -> Collection | None:
        """A collection by id, whoever asks: for a capability that checks the organisation itself."""
        require_id(collection_id, "col", "collection")
        return await session.get(Collection, collection_id)

    async def assistant_figures(self, collection_ids: Sequence[str], since: datetime) -> dict[str, int]:
        """What these collections' public assistants did since ``since`` (for transparency records; the
        caller checks who may see them)."""
        async with self.db.session() as session:
            return await repo.assistant_figures(session, collection_ids, since)

    async def counts(self, session: AsyncSession, collections: Sequence[Collection]) -> dict[str, tuple[int, int, int]]:
        return await repo.collection_counts(session, [c.id for c in collections])

    async def create_collection(
        self, session: AsyncSession, principal: Principal, body: CollectionCreate, origin: Origin
    ) -> Collection:
        principal.require(Scope.KNOWLEDGE, "Creating collections")
        org_id = body.org_id or principal.org_id
        if org_id is None:
            raise InvalidRequest("Name the organisation that owns the collection.", param="org_id")
        require_id(org_id, "org", "organisation", param="org_id")
        visible = await self.admin.visible_org_ids(session, principal)
        if (visible is not None and org_id not in visible) or await self.admin.public_organisation(
            session, org_id=org_id
        ) is None:
            raise NotFound(f"No organisation {org_id!r}.", param="org_id")
        classification = self._classification(body.classification, body.visibility)
        self._check_publishing(principal, body.visibility, classification)
        collection = Collection(
            id=new_id("col"),
            org_id=org_id,
            name=body.name,
            title=body.title,
            description=body.description,
            visibility=body.visibility,
            classification=classification,
            embedding_model=body.embedding_model or self.settings.knowledge_embedding_model,
            widget_origins=list(body.widget_origins),
        )
        async with conflicts_as(session, f"A collection named {body.name!r} exists already in this organisation."):
            session.add(collection)
            await session.flush()  # the name's uniqueness is checked here, before the audit entry
            await self._record(session, principal, origin, "knowledge.collection.created", collection)
            await session.commit()
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

    def _check_publishing(self, principal: Principal, visibility: str, classification: str) -> None:
        """Only an administrator may show citizens a collection classified above the least sensitive level."""
        least = self.settings.privacy_classifications[0]
        if visibility == "public" and classification != least:
            principal.require(Scope.ADMIN, f"Publishing a collection classified {classification!r}")

    async def update_collection(
        self, session: AsyncSession, principal: Principal, ref: str, body: CollectionUpdate, origin: Origin
    ) -> Collection:
        collection = await self.writable(session, principal, ref)
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        if "classification" in changes:
            self._classification(changes["classification"], collection.visibility)
        if {"visibility", "classification"} & changes.keys():
            self._check_publishing(
                principal,
                changes.get("visibility", collection.visibility),
                changes.get("classification", collection.classification),
            )
        for name, value in changes.items():
            setattr(collection, name, value)
        await self._record(session, principal, origin, "knowledge.collection.updated", collection, {"fields": changes})
        await commit_or_conflict(session)
        return collection

    async def delete_collection(self, session: AsyncSession, principal: Principal, ref: str, origin: Origin) -> None:
        collection = await self.writable(session, principal, ref)
        ingestor = await self.engine.ingestor()
        await ingestor.remove_collection_chunks(session, collection.id)
        await self._record(session, principal, origin, "knowledge.collection.deleted", collection)
        await session.delete(collection)
        await commit_or_conflict(session)

    async def org_slug(self, org_id: str) -> str | None:
        """The slug of an active organisation (what system principals acting for it are metered under)."""
        async with self.db.session() as session:
            org = await self.admin.public_organisation(session, org_id=org_id)
        return org.slug if org else None

    # -- documents -------------------------------------------------------------------------------------

    async def list_documents(
        self, session: AsyncSession, principal: Principal, ref: str, limit: int, offset: int
    ) -> list[Document]:
        collection = await self.get_collection(session, principal, ref)
        return await repo.documents(session, collection.id, limit, offset)

    async def delete_document(
        self, session: AsyncSession, principal: Principal, ref: str, document_id: str, origin: Origin
    ) -> None:
        collection = await self.writable(session, principal, ref)
        require_id(document_id, "doc", "document")
        document = await session.get(Document, document_id)
        if document is None or document.collection_id != collection.id:
            raise NotFound(f"No document {document_id!r} in this collection.")
        ingestor = await self.engine.ingestor()
        await ingestor.remove_document(session, collection.id, document_id)
        await self._record(
            session, principal, origin, "knowledge.document.deleted", collection, {"document_id": document_id}
        )
        await commit_or_conflict(session)

    async def page_texts(self, collection_id: str, document_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """``(key, title, text)`` of each document, its passages joined in order (for the platform's own
        work, e.g. an evaluation's poisoned copies; no authorisation)."""
        async with self.db.session() as session:
            documents = {d.id: d for d in await repo.documents_by_id(session, collection_id, document_ids)}
            texts = await repo.chunk_texts(session, list(documents))
        return [
            (documents[i].key, documents[i].title, "\n\n".join(texts.get(i, [])))
            for i in document_ids
            if i in documents
        ]

    async def collection_text(self, collection_id: str) -> str:
        """Every passage of a collection, joined (no authorisation)."""
        async with self.db.session() as session:
            ids = [d.id for d in await repo.documents_by_id(session, collection_id, None)]
            texts = await repo.chunk_texts(session, ids)
        return "\n\n".join("\n\n".join(parts) for parts in texts.values())

    async def content_hash(self, collection_id: str) -> str:
        """A hash of a collection's content: its documents' keys and content hashes."""
        import hashlib

        async with self.db.session() as session:
            documents = await repo.documents_by_id(session, collection_id, None)
        listed = "\n".join(sorted(f"{d.key}\t{d.content_hash}" for d in documents))
        return hashlib.sha256(listed.encode()).hexdigest()[:16]

    # -- search and answers ----------------------------------------------------------------------------

    async def search(self, principal: Principal, body: SearchRequest) -> Retrieval:
        retriever = await self.engine.retriever()
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
        async with closing_stream(self.answer_stream(principal, collections, body.question, body, history)) as items:
            async for item in items:
                if isinstance(item, Answer):
                    return item
        raise AssertionError("an answer stream ends with its answer")

    async def answer_stream(
        self,
        principal: Principal,
        collections: Sequence[Collection],
        question: str,
        body: AnswerRequest | None,
        history: Sequence[str],
        conversation: str | None = None,
        *,
        stream: bool = False,
        max_tokens: int | None = None,
        instructions: str = "",
    ) -> AsyncIterator[Delta | Answer]:
        """Retrieve from ``collections`` (already authorised), then answer: generated (streamed piece by
        piece when ``stream``), extractive or an abstention. Ends with the :class:`Answer` (with the
        retrieved passages). ``instructions``: the operator's, added to a generating model's system prompt."""
        retriever = await self.engine.retriever()
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
        classifications = [c.classification for c in collections]
        model = (body.model if body else None) or s.knowledge_answer_model
        generating = bool(model and not (body and body.extractive))
        configured = s.knowledge_abstain_threshold
        reading = None
        if retrieval.hits and (not generating or needs_reading(embedding_model, configured)):
            reading = await self.answerer.read(
                principal, embedding_model, question, retrieval, language, classifications=classifications
            )
        decision = decide(embedding_model, configured, question, language, retrieval, reading)
        threshold = decision.threshold
        if not decision.answer:
            answer = self.answerer.abstain(answer_language, retrieval, threshold)
            answer.answerability = decision.probability
            answer.passages = list(retrieval.hits)
            yield answer
            return
        if model and generating:
            arguments = (principal, model, question, retrieval, answer_language, threshold)
            if stream:
                items_of = self.answerer.generated_stream(
                    *arguments,
                    classifications=classifications,
                    conversation=conversation,
                    max_tokens=max_tokens,
                    instructions=instructions,
                )
                async with closing_stream(items_of) as items:
                    async for item in items:
                        if isinstance(item, Answer):
                            item.answerability = decision.probability
                            item.passages = list(retrieval.hits)
                        yield item
            else:
                answer = await self.answerer.generated(
                    *arguments,
                    classifications=classifications,
                    conversation=conversation,
                    max_tokens=max_tokens,
                    instructions=instructions,
                )
                answer.answerability = decision.probability
                answer.passages = list(retrieval.hits)
                yield answer
            return
        assert reading is not None
        answer = self.answerer.extractive(reading, retrieval, answer_language, threshold)
        answer.answerability = decision.probability
        answer.passages = list(retrieval.hits)
        yield answer

    # -- helpers ---------------------------------------------------------------------------------------

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        action: str,
        collection: Collection,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.admin.record_change(
            session,
            principal,
            origin,
            action=action,
            org_id=collection.org_id,
            object_type="knowledge_collection",
            object_id=collection.id,
            details=details,
        )
