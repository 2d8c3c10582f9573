"""Usage metering: one record per model call, written in batches off the request path.

:meth:`UsageMeter.record` only appends to a list. A background task writes the list every
``usage_flush_seconds`` (sooner when ``usage_flush_records`` are waiting) in one transaction that
also appends a ``usage.batch`` entry to the audit chain holding the batch's SHA-256. On a clean
shutdown the rest is written before the process ends; a failed write keeps the records for the
next try. :class:`UsageChainVerifier` lets ``soberana audit verify`` recompute every batch, so an
altered, deleted or inserted usage record breaks verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import SYSTEM_ACTOR, AuditEvent
from soberana.audit.service import AuditLog
from soberana.core.clock import isoformat, utcnow
from soberana.core.crypto import canonical_json, sha256_hex
from soberana.gateway.models import UsageBatch, UsageRecord
from soberana.storage.db import Database

logger = logging.getLogger("soberana.gateway.metering")
BATCH_ACTION = "usage.batch"
HASHED_FIELDS = tuple(c.key for c in UsageRecord.__table__.columns)


def record_digest(records: Sequence[dict[str, Any]]) -> str:
    """SHA-256 over the canonical JSON of the records, in id order."""
    rows = []
    for record in sorted(records, key=lambda r: r["id"]):
        row = {name: record.get(name) for name in HASHED_FIELDS}
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
        rows = (await session.scalars(select(UsageRecord).where(UsageRecord.batch_id == details["batch_id"]))).all()
        records = [{name: getattr(row, name) for name in HASHED_FIELDS} for row in rows]
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
