"""Usage metering: one record per model call, written in batches off the request path.

:meth:`UsageMeter.record` only appends to a list. A background task writes the list every
``usage_flush_seconds`` (sooner when ``usage_flush_records`` are waiting) in one transaction that
also appends a ``usage.batch`` entry to the audit chain holding the batch's SHA-256. On a clean
shutdown the rest is written before the process ends; a failed write keeps the records for the
next try. :class:`UsageChainVerifier` lets ``soberana audit verify`` recompute every batch, so an
altered, deleted or inserted usage record breaks verification.

:class:`UsageRetention` deletes records past their organisation's retention period. Each batch it
touches is re-anchored: a ``usage.batch.purged`` entry records the digest of the records left, and
:class:`UsagePurgeVerifier` checks those batches against their latest such entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import SYSTEM_ACTOR, AuditEvent
from soberana.audit.service import AuditLog
from soberana.core.clock import isoformat, utcnow
from soberana.core.crypto import canonical_json, sha256_hex
from soberana.gateway.models import UsageBatch, UsageRecord
from soberana.storage.db import Database

logger = logging.getLogger("soberana.gateway.metering")
BATCH_ACTION = "usage.batch"
PURGE_ACTION = "usage.batch.purged"
HASHED_FIELDS = tuple(c.key for c in UsageRecord.__table__.columns)
OPTIONAL_FIELDS = ("privacy",)


def record_digest(records: Sequence[dict[str, Any]]) -> str:
    """SHA-256 over the canonical JSON of the records, in id order."""
    rows = []
    for record in sorted(records, key=lambda r: r["id"]):
        row = {name: record.get(name) for name in HASHED_FIELDS}
        for name in OPTIONAL_FIELDS:  # columns added later: absent from the digests of older batches
            if row[name] is None:
                del row[name]
        row["occurred_at"] = isoformat(row["occurred_at"]) if isinstance(row["occurred_at"], datetime) else None
        rows.append(row)
    return sha256_hex(canonical_json(rows))


class UsageMeter:
    def __init__(self, db: Database, audit: AuditLog, *, flush_seconds: float, flush_records: int) -> None:
        self._db = db
        self._audit = audit
        self._flush_seconds = flush_seconds
        self._flush_records = flush_records
        self._buffer: list[dict[str, Any]] = []
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def record(self, record: dict[str, Any]) -> None:
        """Queue one usage record (a dict of :class:`UsageRecord` columns). Never blocks, never writes."""
        self._buffer.append(record)
        if len(self._buffer) >= self._flush_records and self._wake is not None:
            self._wake.set()

    async def start(self) -> None:
        self._wake, self._lock = asyncio.Event(), asyncio.Lock()
        self._task = asyncio.create_task(self._run(), name="soberana-usage-meter")

    async def stop(self) -> None:
        """Stop the background writer and write everything still waiting.

        The writer is asked to stop, not cancelled: cancelling it in the middle of a write could
        leave a database connection half-closed.
        """
        if self._task is not None:
            self._stopping = True
            if self._wake is not None:
                self._wake.set()
            await self._task
            self._task = None
        while self._buffer:
            await self.flush()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # keep running: the records stay queued for the next try
                logger.exception("writing usage records failed; %d kept for the next try", self.pending)

    async def flush(self) -> int:
        """Write what is queued now, as one batch; returns how many records were written."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            records, self._buffer = self._buffer, []
            if not records:
                return 0
            try:
                await self._write(records)
            except BaseException:
                self._buffer[:0] = records
                raise
            return len(records)

    async def _write(self, records: list[dict[str, Any]]) -> None:
        async with self._db.write_session() as session:
            batch_id = int(await session.scalar(select(func.coalesce(func.max(UsageBatch.id), 0))) or 0) + 1
            for record in records:
                record["batch_id"] = batch_id
            digest = await anyio.to_thread.run_sync(record_digest, records)  # CPU work: off the event loop
            session.add(UsageBatch(id=batch_id, written_at=utcnow(), count=len(records), sha256=digest))
            await session.execute(insert(UsageRecord), records)
            await self._audit.append(
                session,
                AuditEvent(
                    action=BATCH_ACTION,
                    actor=SYSTEM_ACTOR,
                    object_type="usage_batch",
                    object_id=str(batch_id),
                    details={"batch_id": batch_id, "count": len(records), "sha256": digest},
                ),
            )
            await session.commit()


class UsageChainVerifier:
    """Checks, during ``audit verify``, that usage records still match the batches anchored in the chain."""

    action = BATCH_ACTION

    async def check_entry(self, session: AsyncSession, details: dict[str, Any]) -> str | None:
        batch = await session.get(UsageBatch, details["batch_id"])
        if batch is not None and batch.purged:
            return None  # partly purged: checked against its latest re-anchoring (UsagePurgeVerifier)
        records = await _stored(session, details["batch_id"])
        if len(records) != details["count"]:
            return (
                f"anchors usage batch {details['batch_id']} of {details['count']} records, but "
                f"{len(records)} are stored: usage records were deleted or inserted"
            )
        if record_digest(records) != details["sha256"]:
            return f"anchors usage batch {details['batch_id']}, whose records were altered"
        return None

    async def check_complete(self, session: AsyncSession, seen: list[dict[str, Any]]) -> str | None:
        anchored = {d["batch_id"] for d in seen}
        stored = set((await session.scalars(select(UsageRecord.batch_id).distinct())).all())
        unanchored = sorted(stored - anchored)
        if unanchored:
            return f"usage batch {unanchored[0]} is not anchored in the audit chain: usage records were inserted"
        return None


async def _stored(session: AsyncSession, batch_id: int) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(UsageRecord).where(UsageRecord.batch_id == batch_id))).all()
    return [{name: getattr(row, name) for name in HASHED_FIELDS} for row in rows]


class UsagePurgeVerifier:
    """Checks batches that the retention purge touched against the latest digest anchored for them."""

    action = PURGE_ACTION

    async def check_entry(self, session: AsyncSession, details: dict[str, Any]) -> str | None:
        return None  # only the latest re-anchoring of a batch can be checked: see check_complete

    async def check_complete(self, session: AsyncSession, seen: list[dict[str, Any]]) -> str | None:
        latest: dict[int, dict[str, Any]] = {}
        removed: dict[int, int] = {}
        for details in seen:
            latest[details["batch_id"]] = details
            removed[details["batch_id"]] = removed.get(details["batch_id"], 0) + details["removed"]
        purged = (await session.scalars(select(UsageBatch).where(UsageBatch.purged > 0))).all()
        marked = {batch.id: batch.purged for batch in purged}
        for batch_id in sorted(set(marked) | set(latest)):
            if marked.get(batch_id, 0) != removed.get(batch_id, 0):
                return f"usage batch {batch_id} is marked as purged without a matching purge in the chain"
            records = await _stored(session, batch_id)
            details = latest[batch_id]
            if len(records) != details["count"] or record_digest(records) != details["sha256"]:
                return f"usage batch {batch_id} no longer matches its re-anchoring after a purge: records were altered"
        return None


def usage_verifiers() -> list[UsageChainVerifier | UsagePurgeVerifier]:
    """The audit-chain checks of usage records (give them to :class:`~soberana.audit.service.AuditLog`)."""
    return [UsageChainVerifier(), UsagePurgeVerifier()]


class UsageRetention:
    """Deletes usage records older than their organisation's retention period, re-anchoring each batch
    it touches in the audit chain. Registered with the privacy service's purge job."""

    kind = "usage"

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def default_days(self, settings: Any) -> float | None:
        days: int | None = settings.usage_retention_days
        return days

    def org_days(self, document: Any) -> float | None:
        days: int | None = document.retention.usage_days
        return days

    async def purge(
        self, session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
    ) -> dict[str, int]:
        at = UsageRecord.occurred_at
        conditions = [and_(UsageRecord.org_id == org_id, at <= cutoff) for org_id, cutoff in cutoffs.items()]
        if default_cutoff is not None:
            conditions.append(and_(UsageRecord.org_id.not_in(list(cutoffs)), at <= default_cutoff))
        if not conditions:
            return {}
        rows = (
            await session.execute(
                select(UsageRecord.id, UsageRecord.org_id, UsageRecord.batch_id).where(or_(*conditions))
            )
        ).all()
        deleted: dict[str, int] = {}
        per_batch: dict[int, list[tuple[str, str]]] = {}
        for record_id, org_id, batch_id in rows:
            per_batch.setdefault(batch_id, []).append((record_id, org_id))
        for batch_id, found in sorted(per_batch.items()):
            removed = 0
            for start in range(0, len(found), 500):
                part = found[start : start + 500]
                result = await session.execute(
                    delete(UsageRecord).where(UsageRecord.id.in_([record_id for record_id, _ in part]))
                )
                removed += int(getattr(result, "rowcount", 0) or 0)
            if not removed:
                continue  # deleted meanwhile by another purge
            for _, org_id in found:
                deleted[org_id] = deleted.get(org_id, 0) + 1
            remaining = await _stored(session, batch_id)
            digest = await anyio.to_thread.run_sync(record_digest, remaining)
            await session.execute(
                update(UsageBatch).where(UsageBatch.id == batch_id).values(purged=UsageBatch.purged + removed)
            )
            await self.audit.append(
                session,
                AuditEvent(
                    action=PURGE_ACTION,
                    actor=SYSTEM_ACTOR,
                    object_type="usage_batch",
                    object_id=str(batch_id),
                    details={"batch_id": batch_id, "count": len(remaining), "removed": removed, "sha256": digest},
                ),
            )
        return deleted
