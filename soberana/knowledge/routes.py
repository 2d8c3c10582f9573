"""HTTP routes of the knowledge API: collections and documents, search, answers, citizen
conversations and the staff hand-off queue. Thin: each handler checks input and calls the service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, UploadFile, status

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.core.components import provider
from soberana.errors import InvalidRequest, PayloadTooLarge
from soberana.knowledge.answers import Answer
from soberana.knowledge.citizens import CitizenAssistant
from soberana.knowledge.handoff import HandoffQueue
from soberana.knowledge.jobs import IngestionJobs, UploadedFile
from soberana.knowledge.models import Collection, Conversation, HandoffCase, IngestJob, Message
from soberana.knowledge.schemas import (
    AnswerOut,
    AnswerRequest,
    Citation,
    CollectionCreate,
    CollectionOut,
    CollectionUpdate,
    ConversationCreate,
    ConversationOut,
    DocumentOut,
    FeedbackIn,
    HandoffIn,
    HandoffOut,
    IngestJobOut,
    MessageOut,
    ProblemIn,
    QuestionIn,
    SearchHit,
    SearchRequest,
    SearchResponse,
    StaffReplyIn,
    TranscriptOut,
)
from soberana.knowledge.service import KnowledgeService
from soberana.storage.deps import Session, WriteSession

Knowledge = Annotated[KnowledgeService, Depends(provider(KnowledgeService))]
Jobs = Annotated[IngestionJobs, Depends(provider(IngestionJobs))]
Citizens = Annotated[CitizenAssistant, Depends(provider(CitizenAssistant))]
Handoff = Annotated[HandoffQueue, Depends(provider(HandoffQueue))]
ConversationToken = Annotated[
    str | None, Header(alias="X-Conversation-Token", description="The token returned when the conversation opened.")
]

router = APIRouter(prefix="/v1", tags=["knowledge"])
conversations = APIRouter(prefix="/v1/conversations", tags=["citizen assistant"])


def collection_out(collection: Collection, counts: dict[str, tuple[int, int, int]]) -> CollectionOut:
    documents, chunks, embedded = counts.get(collection.id, (0, 0, 0))
    out = CollectionOut.model_validate(collection)
    return out.model_copy(update={"documents": documents, "chunks": chunks, "chunks_embedded": embedded})


def answer_out(answer: Answer, message_id: str | None = None) -> AnswerOut:
    return AnswerOut(
        id=message_id,
        mode=answer.mode,
        answer=answer.text,
        language=answer.language,
        citations=[Citation(**c) for c in answer.citations],
        flags=answer.flags,
        handoff_offered=answer.handoff_offered,
        model=answer.model,
        top_score=answer.top_score,
        threshold=answer.threshold,
        answerability=answer.answerability,
    )


def conversation_out(conversation: Conversation, token: str | None = None) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        collection_id=conversation.collection_id,
        token=token,
        language=conversation.language,
        expires_at=conversation.expires_at,
    )


# -- collections and documents ------------------------------------------------------------------------


@router.get("/collections", summary="List the collections you can read")
async def list_collections(principal: CurrentPrincipal, knowledge: Knowledge, session: Session) -> dict[str, object]:
    found = await knowledge.list_collections(session, principal)
    counts = await knowledge.counts(session, found)
    return {"object": "list", "data": [collection_out(c, counts) for c in found]}


@router.post("/collections", status_code=status.HTTP_201_CREATED, summary="Create a collection")
async def create_collection(
    body: CollectionCreate, principal: CurrentPrincipal, knowledge: Knowledge, session: WriteSession, origin: OriginDep
) -> CollectionOut:
    collection = await knowledge.create_collection(session, principal, body, origin)
    return collection_out(collection, {})


@router.get("/collections/{collection}", summary="A collection, by id or name")
async def get_collection(
    collection: str, principal: CurrentPrincipal, knowledge: Knowledge, session: Session
) -> CollectionOut:
    found = await knowledge.get_collection(session, principal, collection)
    return collection_out(found, await knowledge.counts(session, [found]))


@router.patch("/collections/{collection}", summary="Change a collection's title, description, visibility…")
async def update_collection(
    collection: str,
    body: CollectionUpdate,
    principal: CurrentPrincipal,
    knowledge: Knowledge,
    session: WriteSession,
    origin: OriginDep,
) -> CollectionOut:
    found = await knowledge.update_collection(session, principal, collection, body, origin)
    return collection_out(found, await knowledge.counts(session, [found]))


@router.delete(
    "/collections/{collection}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a collection and its documents"
)
async def delete_collection(
    collection: str, principal: CurrentPrincipal, knowledge: Knowledge, session: WriteSession, origin: OriginDep
) -> Response:
    await knowledge.delete_collection(session, principal, collection, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/collections/{collection}/documents", summary="Documents of a collection")
async def list_documents(
    collection: str,
    principal: CurrentPrincipal,
    knowledge: Knowledge,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, object]:
    found = await knowledge.list_documents(session, principal, collection, limit, offset)
    return {"object": "list", "data": [DocumentOut.model_validate(d) for d in found]}


@router.post(
    "/collections/{collection}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload documents (PDF, DOCX, HTML, Markdown, text, JSON Lines); ingested in the background",
)
async def upload_documents(
    request: Request,
    collection: str,
    files: list[UploadFile],
    principal: CurrentPrincipal,
    jobs: Jobs,
    session: WriteSession,
    origin: OriginDep,
) -> IngestJobOut:
    limit = jobs.settings.knowledge_max_upload_bytes
    uploads = []
    for file in files:
        data = await file.read()
        if len(data) > limit:
            raise PayloadTooLarge(f"{file.filename} is larger than the limit of {limit} bytes.")
        if not file.filename:
            raise InvalidRequest("Every uploaded file needs a file name.", param="files")
        uploads.append(UploadedFile(file.filename, data, file.content_type))
    job = await jobs.start_ingest(session, principal, collection, uploads, origin)
    return IngestJobOut.model_validate(job)


@router.delete(
    "/collections/{collection}/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a document and its passages",
)
async def delete_document(
    collection: str,
    document_id: str,
    principal: CurrentPrincipal,
    knowledge: Knowledge,
    session: WriteSession,
    origin: OriginDep,
) -> Response:
    await knowledge.delete_document(session, principal, collection, document_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/ingest-jobs/{job_id}", summary="Progress and outcome of an ingestion job")
async def get_job(job_id: str, principal: CurrentPrincipal, jobs: Jobs, session: Session) -> IngestJobOut:
    job: IngestJob = await jobs.get_job(session, principal, job_id)
    return IngestJobOut.model_validate(job)


# -- search and answers --------------------------------------------------------------------------------


@router.post("/search", summary="Hybrid search (lexical + dense, fused) over collections")
async def search(body: SearchRequest, principal: CurrentPrincipal, knowledge: Knowledge) -> SearchResponse:
    retrieval = await knowledge.search(principal, body)
    hits = [
        SearchHit(
            chunk_id=h.chunk_id,
            document_id=h.document_id,
            collection_id=h.collection_id,
            title=h.title,
            url=h.url,
            heading_path=h.heading_path,
            text=h.text,
            page=h.page,
            language=h.language,
            score=h.score,
            dense_score=h.dense_score,
            cognate_score=h.cognate_score,
        )
        for h in retrieval.hits
    ]
    return SearchResponse(data=hits, query_language=retrieval.query_language)


@router.post("/answers", summary="A grounded answer with citations, excerpts, or an abstention")
async def answers(body: AnswerRequest, principal: CurrentPrincipal, knowledge: Knowledge) -> AnswerOut:
    return answer_out(await knowledge.answer(principal, body))


# -- citizen conversations (no API key: the conversation token) ----------------------------------------


@conversations.post("", status_code=status.HTTP_201_CREATED, summary="Open an anonymous conversation")
async def open_conversation(body: ConversationCreate, citizens: Citizens, origin: OriginDep) -> ConversationOut:
    conversation, token = await citizens.open_conversation(body.collection, origin)
    return conversation_out(conversation, token)


@conversations.get("/{conversation_id}", summary="The conversation so far")
async def transcript(
    conversation_id: str, citizens: Citizens, origin: OriginDep, token: ConversationToken = None
) -> TranscriptOut:
    conversation, messages, case = await citizens.transcript(conversation_id, token, origin)
    return TranscriptOut(
        conversation=conversation_out(conversation),
        messages=[MessageOut.model_validate(m) for m in messages],
        handoff=HandoffOut.model_validate(case) if case else None,
    )


@conversations.post("/{conversation_id}/messages", summary="Ask a question (follow-ups use the conversation)")
async def ask(
    conversation_id: str, body: QuestionIn, citizens: Citizens, origin: OriginDep, token: ConversationToken = None
) -> AnswerOut:
    answered = await citizens.ask(conversation_id, token, body.question, origin)
    return answer_out(answered.answer, answered.message.id)


@conversations.post(
    "/{conversation_id}/feedback", status_code=status.HTTP_201_CREATED, summary="Was this answer helpful?"
)
async def feedback(
    conversation_id: str, body: FeedbackIn, citizens: Citizens, origin: OriginDep, token: ConversationToken = None
) -> dict[str, object]:
    saved = await citizens.feedback(conversation_id, token, body, origin)
    return {"object": "feedback", "id": saved.id, "message_id": saved.message_id, "helpful": saved.helpful}


@conversations.post(
    "/{conversation_id}/problems", status_code=status.HTTP_201_CREATED, summary="Report a problem with the assistant"
)
async def report_problem(
    conversation_id: str, body: ProblemIn, citizens: Citizens, origin: OriginDep, token: ConversationToken = None
) -> dict[str, object]:
    reference = await citizens.report_problem(conversation_id, token, body.description, origin)
    return {"object": "problem_report", "reference": reference}


@conversations.post(
    "/{conversation_id}/handoff", status_code=status.HTTP_201_CREATED, summary="Ask to talk to a person"
)
async def handoff(
    conversation_id: str,
    body: HandoffIn,
    citizens: Citizens,
    origin: OriginDep,
    token: ConversationToken = None,
) -> HandoffOut:
    return HandoffOut.model_validate(await citizens.request_handoff(conversation_id, token, body, origin))


@conversations.delete(
    "/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Erase the conversation (right to erasure)"
)
async def erase(
    conversation_id: str, citizens: Citizens, origin: OriginDep, token: ConversationToken = None
) -> Response:
    await citizens.erase_conversation(conversation_id, token, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the staff hand-off queue --------------------------------------------------------------------------


def case_transcript(case: HandoffCase, conversation: Conversation, messages: list[Message]) -> TranscriptOut:
    return TranscriptOut(
        conversation=conversation_out(conversation),
        messages=[MessageOut.model_validate(m) for m in messages],
        handoff=HandoffOut.model_validate(case),
    )


@router.get("/handoff-cases", summary="Citizens' requests to talk to a person, in your organisations")
async def list_cases(
    principal: CurrentPrincipal,
    handoff: Handoff,
    session: Session,
    status_filter: Annotated[Literal["open", "assigned", "closed"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(max_length=40, description="The last case id of the previous page.")] = None,
) -> dict[str, object]:
    cases, more = await handoff.list_cases(session, principal, status_filter, limit=limit, after=after)
    return {"object": "list", "data": [HandoffOut.model_validate(c) for c in cases], "has_more": more}


@router.get("/handoff-cases/{case_id}", summary="A hand-off case with the conversation's transcript")
async def get_case(case_id: str, principal: CurrentPrincipal, handoff: Handoff, session: Session) -> TranscriptOut:
    return case_transcript(*await handoff.get_case(session, principal, case_id))


@router.post(
    "/handoff-cases/{case_id}/replies",
    status_code=status.HTTP_201_CREATED,
    summary="Reply to the citizen (shown in their conversation)",
)
async def reply(
    case_id: str,
    body: StaffReplyIn,
    principal: CurrentPrincipal,
    handoff: Handoff,
    session: WriteSession,
    origin: OriginDep,
) -> MessageOut:
    _, message = await handoff.reply(session, principal, case_id, body, origin)
    return MessageOut.model_validate(message)
