"""Queries over the knowledge tables."""

from __future__ import annotations

from collections.abc import Collection as Ids
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def collections(session: AsyncSession, org_ids: Ids[str] | None) -> list[Collection]:
    stmt = select(Collection).order_by(Collection.org_id, Collection.name)
    if org_ids is not None:
        stmt = stmt.where(Collection.org_id.in_(list(org_ids)))
    return list((await session.scalars(stmt)).all())


async def rated_message_ids(session: AsyncSession, conversation_id: str) -> set[str]:
    stmt = select(Feedback.message_id).where(Feedback.conversation_id == conversation_id)
    return set((await session.scalars(stmt)).all())


async def collection_by_name(session: AsyncSession, org_id: str, name: str) -> Collection | None:
    stmt = select(Collection).where(Collection.org_id == org_id, Collection.name == name)
    return (await session.scalars(stmt)).one_or_none()


async def collection_counts(session: AsyncSession, ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """(documents, chunks, chunks with a vector) per collection."""
    if not ids:
        return {}
    docs = dict(
        (
            await session.execute(
                select(Document.collection_id, func.count())
                .where(Document.collection_id.in_(ids))
                .group_by(Document.collection_id)
            )
        ).all()
    )
    chunks = {
        cid: (int(total), int(embedded or 0))
        for cid, total, embedded in (
            await session.execute(
                select(Chunk.collection_id, func.count(), func.count(Chunk.embedding))
                .where(Chunk.collection_id.in_(ids))
                .group_by(Chunk.collection_id)
            )
        ).all()
    }
    return {i: (int(docs.get(i, 0)), *chunks.get(i, (0, 0))) for i in ids}


async def documents(session: AsyncSession, collection_id: str, limit: int, offset: int) -> list[Document]:
    stmt = (
        select(Document)
        .where(Document.collection_id == collection_id)
        .order_by(Document.key)
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(stmt)).all())


async def jobs(session: AsyncSession, collection_id: str, limit: int = 20) -> list[IngestJob]:
    stmt = (
        select(IngestJob)
        .where(IngestJob.collection_id == collection_id)
        .order_by(IngestJob.created_at.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def messages(session: AsyncSession, conversation_id: str) -> list[Message]:
    stmt = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.created_at, Message.id)
    return list((await session.scalars(stmt)).all())


async def handoff_for(session: AsyncSession, conversation_id: str) -> HandoffCase | None:
    stmt = select(HandoffCase).where(HandoffCase.conversation_id == conversation_id)
    return (await session.scalars(stmt)).one_or_none()


async def handoff_cases(
    session: AsyncSession, org_ids: Ids[str] | None, status: str | None, *, limit: int, after: str | None = None
) -> tuple[list[HandoffCase], bool]:
    """A page of cases, oldest first (ids are time-ordered), after the case ``after``; and whether
    more follow."""
    stmt = select(HandoffCase).order_by(HandoffCase.id).limit(limit + 1)
    if org_ids is not None:
        stmt = stmt.where(HandoffCase.org_id.in_(list(org_ids)))
    if status:
        stmt = stmt.where(HandoffCase.status == status)
    if after:
        stmt = stmt.where(HandoffCase.id > after)
    rows = list((await session.scalars(stmt)).all())
    return rows[:limit], len(rows) > limit


async def conversations_before(
    session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
) -> list[tuple[str, str]]:
    """(id, org_id) of conversations whose last message is older than their organisation's cutoff
    (``default_cutoff`` for organisations not in ``cutoffs``; ``None``: theirs are kept)."""
    last = Conversation.last_activity_at
    conditions = [and_(Conversation.org_id == org_id, last <= cutoff) for org_id, cutoff in cutoffs.items()]
    if default_cutoff is not None:
        conditions.append(and_(Conversation.org_id.not_in(list(cutoffs)), last <= default_cutoff))
    if not conditions:
        return []
    rows = (await session.execute(select(Conversation.id, Conversation.org_id).where(or_(*conditions)))).all()
    return [(row[0], row[1]) for row in rows]


async def delete_conversations(session: AsyncSession, ids: list[str]) -> None:
    if ids:
        await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))


async def assistant_figures(session: AsyncSession, collection_ids: Ids[str], since: datetime) -> dict[str, int]:
    """What the public assistants of ``collection_ids`` did since ``since``: questions, conversations,
    hand-offs to a person, and the answers rated (``helpful`` of them)."""
    if not collection_ids:
        return {"questions": 0, "conversations": 0, "handoffs": 0, "ratings": 0, "helpful": 0}
    ids = list(collection_ids)
    recent = select(Conversation.id).where(Conversation.collection_id.in_(ids), Conversation.created_at >= since)
    questions = await session.scalar(
        select(func.count()).where(Message.conversation_id.in_(recent), Message.role == "user")
    )
    conversations = await session.scalar(select(func.count()).select_from(recent.subquery()))
    handoffs = await session.scalar(select(func.count()).where(HandoffCase.conversation_id.in_(recent)))
    rated = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((Feedback.helpful, 1), else_=0)), 0)).where(
                Feedback.conversation_id.in_(recent)
            )
        )
    ).one()
    return {
        "questions": int(questions or 0),
        "conversations": int(conversations or 0),
        "handoffs": int(handoffs or 0),
        "ratings": int(rated[0]),
        "helpful": int(rated[1]),
    }


async def documents_by_id(
    session: AsyncSession, collection_id: str, document_ids: Sequence[str] | None
) -> list[Document]:
    """Documents of a collection (all of them for ``None``)."""
    stmt = select(Document).where(Document.collection_id == collection_id).order_by(Document.key)
    if document_ids is not None:
        stmt = stmt.where(Document.id.in_(list(document_ids)))
    return list((await session.scalars(stmt)).all())


async def chunk_texts(session: AsyncSession, document_ids: Sequence[str]) -> dict[str, list[str]]:
    """The passages' texts of each document, in order."""
    found: dict[str, list[str]] = {}
    if not document_ids:
        return found
    stmt = (
        select(Chunk.document_id, Chunk.text)
        .where(Chunk.document_id.in_(list(document_ids)))
        .order_by(Chunk.document_id, Chunk.ordinal)
    )
    for document_id, text in (await session.execute(stmt)).all():
        found.setdefault(document_id, []).append(text)
    return found
