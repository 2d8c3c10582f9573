"""Queries over the workspace tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.workspace.models import WorkspaceConversation


async def conversations(session: AsyncSession, user_id: str, limit: int) -> list[WorkspaceConversation]:
    stmt = (
        select(WorkspaceConversation)
        .where(WorkspaceConversation.user_id == user_id)
        .order_by(WorkspaceConversation.updated_at.desc(), WorkspaceConversation.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def before(
    session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
) -> list[tuple[str, str]]:
    """``(id, org_id)`` of conversations unchanged since their organisation's cutoff."""
    conditions = [
        and_(WorkspaceConversation.org_id == org_id, WorkspaceConversation.updated_at < cutoff)
        for org_id, cutoff in cutoffs.items()
    ]
    if default_cutoff is not None:
        others = WorkspaceConversation.updated_at < default_cutoff
        if cutoffs:
            others = and_(others, WorkspaceConversation.org_id.not_in(list(cutoffs)))
        conditions.append(others)
    if not conditions:
        return []
    stmt = select(WorkspaceConversation.id, WorkspaceConversation.org_id).where(or_(*conditions))
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def delete_conversations(session: AsyncSession, ids: list[str]) -> None:
    await session.execute(delete(WorkspaceConversation).where(WorkspaceConversation.id.in_(ids)))
