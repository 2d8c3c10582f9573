"""Request and response bodies of the knowledge API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Visibility = Literal["public", "internal"]
AnswerMode = Literal["generated", "extractive", "abstained"]
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


def _origin(value: str) -> str:
    """A web origin: scheme, host and optional port, nothing else (``https://www.city.example``)."""
    problem = ValueError("an origin is a scheme and a host, e.g. https://www.city.example")
    try:
        parsed = urlsplit(value.strip())
        port = parsed.port
    except ValueError:
        raise problem from None
    host = parsed.hostname or ""
    if (
        parsed.scheme not in ("http", "https")
        or not _HOST.fullmatch(host)
        or parsed.username is not None
        or parsed.password is not None
        or parsed.path not in ("", "/")
        or parsed.query
        or parsed.fragment
    ):
        raise problem
    return f"{parsed.scheme}://{host}" + (f":{port}" if port else "")


Origin = Annotated[str, Field(max_length=200), AfterValidator(_origin)]


class CollectionCreate(_In):
    name: str = Field(pattern=NAME_PATTERN, description="Short name, unique in the organisation (`city-services`).")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    visibility: Visibility = Field(
        "internal", description="`public`: may serve citizens; `internal`: staff of the organisation only."
    )
    classification: str | None = Field(
        None,
        max_length=40,
        description="Data classification (used by data protection). Default: `public` for public collections, "
        "`internal` otherwise.",
    )
    embedding_model: str | None = Field(
        None, max_length=120, description="Embeddings model alias. Default: SOBERANA_KNOWLEDGE_EMBEDDING_MODEL."
    )
    org_id: str | None = Field(None, description="Owning organisation. Default: the caller's.")
    widget_origins: list[Origin] = Field(
        default_factory=list,
        max_length=50,
        description="Sites that may embed this public collection's assistant widget (`https://www.city.example`).",
    )


class CollectionUpdate(_In):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    visibility: Visibility | None = None
    classification: str | None = Field(None, max_length=40)
    widget_origins: list[Origin] | None = Field(None, max_length=50)


class CollectionOut(_Out):
    object: Literal["collection"] = "collection"
    id: str
    org_id: str
    name: str
    title: str
    description: str
    visibility: Visibility
    classification: str
    embedding_model: str | None
    widget_origins: list[str] = Field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    created_at: datetime
    updated_at: datetime


class DocumentOut(_Out):
    object: Literal["document"] = "document"
    id: str
    collection_id: str
    key: str
    title: str
    source_url: str | None
    language: str | None
    format: str
    content_hash: str
    published: str | None
    modified: str | None
    page_count: int | None
    chunk_count: int
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class FileError(BaseModel):
    file: str
    message: str


class IngestJobOut(_Out):
    object: Literal["ingest_job"] = "ingest_job"
    id: str
    collection_id: str
    status: Literal["queued", "running", "succeeded", "partial", "failed"]
    files_total: int
    files_done: int
    documents_added: int
    documents_updated: int
    documents_unchanged: int
    chunks_added: int
    errors: list[FileError]
    created_at: datetime
    finished_at: datetime | None


class SearchRequest(_In):
    query: str = Field(min_length=1, max_length=4000)
    collections: list[str] = Field(min_length=1, max_length=20, description="Collection ids or names.")
    limit: int = Field(10, ge=1, le=100)
    languages: list[str] | None = Field(None, description="Only passages in these languages (ISO 639-1).")
    document_ids: list[str] | None = Field(None, max_length=100, description="Only passages of these documents.")
    method: Literal["hybrid", "lexical", "dense"] = "hybrid"


class SearchHit(BaseModel):
    chunk_id: int
    document_id: str
    collection_id: str
    title: str
    url: str | None
    heading_path: list[str]
    text: str
    page: int | None
    language: str | None
    score: float = Field(description="Fused relevance, higher is better (comparable within one response).")
    dense_score: float | None = Field(description="Cosine similarity to the question, when the passage has a vector.")
    cognate_score: float | None = Field(
        default=None,
        description="For a passage in another language than the question (hybrid search): its share, 0 to 1, "
        "of the best cognate match among such candidates (shared word prefixes, names, numbers).",
    )


class SearchResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[SearchHit]
    query_language: str | None


class AnswerRequest(_In):
    question: str = Field(min_length=1, max_length=4000)
    collections: list[str] = Field(min_length=1, max_length=20, description="Collection ids or names.")
    model: str | None = Field(None, description="Chat model alias. Default: SOBERANA_KNOWLEDGE_ANSWER_MODEL.")
    extractive: bool = Field(False, description="Quote passages instead of generating, even when a model is set.")
    top_k: int | None = Field(None, ge=1, le=20)
    language: str | None = Field(None, description="Answer in this language instead of the question's.")


class Citation(BaseModel):
    index: int = Field(description="The number the answer cites, as in `[1]`.")
    chunk_id: int
    document_id: str
    title: str
    url: str | None
    heading_path: list[str]
    page: int | None
    quote: str


class AnswerOut(BaseModel):
    object: Literal["answer"] = "answer"
    id: str | None = Field(None, description="The message id, in a conversation (for feedback).")
    mode: AnswerMode
    answer: str
    language: str | None
    citations: list[Citation]
    flags: list[str] = Field(
        description="`invalid_citation_removed`: the model cited a passage that was not retrieved; "
        "`uncited`: the generated answer cites nothing; `unsupported_contact`: a link, telephone number or "
        "e-mail address that no retrieved passage holds was replaced by a note; `excerpts`: the answer quotes "
        "passages."
    )
    handoff_offered: bool
    model: str | None
    top_score: float | None
    threshold: float
    answerability: float | None = Field(
        None,
        description="The probability, by the answerability decision fitted for the embedding model, that the "
        "retrieved passages answer the question (answered at or above `threshold`); null where one cosine "
        "threshold decides (`top_score` against `threshold`).",
    )


class ConversationCreate(_In):
    collection: str = Field(description="Collection id, or `org-slug/name` for a public assistant.")


class ConversationOut(BaseModel):
    object: Literal["conversation"] = "conversation"
    id: str
    collection_id: str
    token: str | None = Field(None, description="Shown once: send it as `X-Conversation-Token` on later calls.")
    language: str | None
    expires_at: datetime


class QuestionIn(_In):
    question: str = Field(min_length=1, max_length=4000)


class MessageOut(_Out):
    object: Literal["message"] = "message"
    id: str
    role: Literal["user", "assistant", "staff"]
    content: str
    language: str | None
    mode: AnswerMode | None
    citations: list[dict[str, Any]]
    flags: list[str]
    created_at: datetime


class TranscriptOut(BaseModel):
    object: Literal["transcript"] = "transcript"
    conversation: ConversationOut
    messages: list[MessageOut]
    handoff: HandoffOut | None


FeedbackReason = Literal["wrong", "incomplete", "unclear", "not_my_question", "outdated", "other"]


class FeedbackIn(_In):
    message_id: str
    helpful: bool
    reason: FeedbackReason | None = None
    comment: str | None = Field(None, max_length=2000)


class HandoffIn(_In):
    reason: str | None = Field(None, max_length=2000)
    contact: str | None = Field(None, max_length=320, description="How the citizen wants to be contacted, if at all.")


class HandoffOut(_Out):
    object: Literal["handoff_case"] = "handoff_case"
    id: str
    conversation_id: str
    org_id: str
    status: Literal["open", "assigned", "closed"]
    reason: str | None
    contact: str | None
    assignee_id: str | None
    created_at: datetime
    updated_at: datetime


class StaffReplyIn(_In):
    message: str = Field(min_length=1, max_length=8000)
    close: bool = False


TranscriptOut.model_rebuild()


class ProblemIn(BaseModel):
    """A citizen's report of a problem with the assistant (a wrong or harmful answer, something broken)."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=4000, description="What went wrong, in your own words.")
