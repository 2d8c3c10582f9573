"""Retention: how long each kind of data is kept, and the purge that deletes what is past it.

The installation's settings give each kind's period; an organisation's policy, or one above it, may
only shorten it. Each capability that keeps such data hands the purge a
:class:`~soberana.privacy.ports.Purger`; the composition root (:mod:`soberana.wiring`) gives the one
list of them to the server and to ``soberana retention purge`` alike. Each purge is recorded in the
audit log, per organisation, with the cutoff it applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import SYSTEM_ACTOR, AuditEvent
from soberana.audit.service import AuditLog
from soberana.core.clock import utcnow
from soberana.privacy.policy import PolicyBook, shortest
from soberana.privacy.ports import Purger
from soberana.privacy.vault import Vault
from soberana.settings import Settings
from soberana.storage.db import Database

PURGE_LOCK = 0x50_55_52_47_45  # PostgreSQL advisory lock id of the retention purge ("PURGE")


async def _only_purge(session: AsyncSession) -> bool:
    """Whether this transaction is the only purge running (PostgreSQL, several server processes); on
    SQLite the write transaction is exclusive already."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(sql("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PURGE_LOCK}))


async def delete_in_batches(
    rows: Sequence[tuple[str, str]], delete: Callable[[list[str]], Awaitable[None]], batch: int = 500
) -> dict[str, int]:
    """Delete ``(id, org_id)`` rows through ``delete``, ``batch`` ids at a time; returns how many rows
    each organisation lost (what a :class:`Purger` reports)."""
    deleted: dict[str, int] = {}
    for _, org_id in rows:
        deleted[org_id] = deleted.get(org_id, 0) + 1
    ids = [row_id for row_id, _ in rows]
    for start in range(0, len(ids), batch):
        await delete(ids[start : start + batch])
    return deleted


class RetentionPurge:
    """The retention periods in force and the purge job over every kind of data."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditLog,
        book: PolicyBook,
        vault: Vault,
        purgers: Sequence[Purger],
    ) -> None:
        self.settings = settings
        self.db = db
        self.audit = audit
        self.book = book
        self.vault = vault
        self.purgers = tuple(purgers)
        kinds = [p.kind for p in self.purgers]
        if len(set(kinds)) != len(kinds) or "vault" in kinds:
            raise ValueError(f"each kind of data has one purger: {kinds}")

    def purger(self, kind: str) -> Purger | None:
        return next((p for p in self.purgers if p.kind == kind), None)

    def _org_days(self, purger: Purger, org_id: str) -> float | None:
        """The shortest period the policies at and above ``org_id`` set, if any sets one."""
        return shortest(purger.org_days(document) for document in self.book.org_documents(org_id))

    def days(self, org_id: str, kind: str) -> float | None:
        """How many days ``org_id`` keeps data of ``kind`` (``None``: for ever, or an unknown kind)."""
        purger = self.purger(kind)
        if purger is None:
            return None
        return shortest([purger.default_days(self.settings), self._org_days(purger, org_id)])

    def vault_ttl(self, org_id: str) -> timedelta:
        hours = shortest([self.settings.vault_ttl_hours, self.book.retention(org_id).vault_hours])
        return timedelta(hours=hours or self.settings.vault_ttl_hours)

    async def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Delete everything past its retention period; each purge is recorded in the audit log."""
        now = now or utcnow()
        totals: dict[str, int] = {"vault": 0, **{p.kind: 0 for p in self.purgers}}
        async with self.db.write_session() as session:
            if not await _only_purge(session):
                return totals  # another server process is purging right now
            per_org = await self.vault.purge(session, now)
            await self._record_purge(session, "vault", per_org, None)
            totals["vault"] = sum(per_org.values())
            await session.commit()
        bound = set(self.book.organisations) | {
            org for org in self.book.parents if any(o in self.book.organisations for o in self.book.lineage(org))
        }
        for purger in self.purgers:
            default = purger.default_days(self.settings)
            cutoffs: dict[str, datetime] = {}
            for org_id in sorted(bound):
                days = self._org_days(purger, org_id)
                if days is not None:
                    cutoffs[org_id] = now - timedelta(days=shortest([days, default]) or days)
            default_cutoff = now - timedelta(days=default) if default is not None else None
            async with self.db.write_session() as session:
                if not await _only_purge(session):
                    continue
                per_org = await purger.purge(session, default_cutoff, cutoffs)
                await self._record_purge(session, purger.kind, per_org, (default_cutoff, cutoffs))
                await session.commit()
            totals[purger.kind] = sum(per_org.values())
        return totals

    async def _record_purge(
        self,
        session: AsyncSession,
        kind: str,
        per_org: dict[str, int],
        cutoffs: tuple[datetime | None, dict[str, datetime]] | None,
    ) -> None:
        for org_id, count in sorted(per_org.items()):
            if not count:
                continue
            details: dict[str, Any] = {"kind": kind, "count": count}
            if cutoffs is not None:
                cutoff = cutoffs[1].get(org_id, cutoffs[0])
                details["cutoff"] = cutoff.isoformat() if cutoff else None
            await self.audit.append(
                session,
                AuditEvent(
                    action="retention.purged",
                    actor=SYSTEM_ACTOR,
                    org_id=org_id or None,
                    object_type="retention",
                    object_id=kind,
                    details=details,
                ),
            )
