"""Queries over the audit tables. Only this module touches them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.models import AuditEntry, AuditHead


async def lock_head(session: AsyncSession) -> AuditHead:
    """Load the chain head, locking it until the transaction ends (PostgreSQL; SQLite is locked already)."""
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())).scalar_one_or_none()
    if head is None:
        raise RuntimeError("audit_head row missing: run `soberana db upgrade`")
    return head


async def get_head(session: AsyncSession) -> AuditHead | None:
    return await session.get(AuditHead, 1)


async def entries_after(session: AsyncSession, after_seq: int, limit: int) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.seq > after_seq).order_by(AuditEntry.seq).limit(limit)
    return list((await session.scalars(stmt)).all())


async def get_entry(session: AsyncSession, seq: int) -> AuditEntry | None:
    return await session.get(AuditEntry, seq)


async def search(
    session: AsyncSession,
    *,
    org_ids: Collection[str] | None,
    action: str | None = None,
    actor_id: str | None = None,
    object_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> list[AuditEntry]:
    """Entries matching every given filter, restricted to ``org_ids`` unless that is ``None``."""
    stmt = select(AuditEntry)
    if org_ids is not None:
        stmt = stmt.where(AuditEntry.org_id.in_(list(org_ids)))
    if action:
        # "key." matches every key action; an exact name matches itself.
        stmt = stmt.where(AuditEntry.action.startswith(action) if action.endswith(".") else AuditEntry.action == action)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if outcome:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    if since:
        stmt = stmt.where(AuditEntry.occurred_at >= since)
    if until:
        stmt = stmt.where(AuditEntry.occurred_at < until)
    if before_seq is not None:
        stmt = stmt.where(AuditEntry.seq < before_seq)
    if after_seq is not None:
        stmt = stmt.where(AuditEntry.seq > after_seq)
    stmt = stmt.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq).limit(limit)
    return list((await session.scalars(stmt)).all())
