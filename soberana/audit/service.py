"""Appending to, verifying and reading the hash-chained audit log.

Each entry stores ``prev_hash`` (the previous entry's hash; 64 zeros for the first), its own
``hash`` — SHA-256 of the canonical JSON of its content, ``prev_hash`` and ``seq`` included — and a
``signature``: HMAC-SHA256 of that hash under the server secret. The hash chain shows that rows were
altered, removed or inserted; the signature shows that a rewritten tail, even with correctly
recomputed hashes, was not written by this installation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit import repo
from soberana.audit.models import GENESIS_HASH, AuditEntry
from soberana.audit.schemas import AuditEntryOut, AuditEvent, VerificationResult
from soberana.core.clock import isoformat, utcnow
from soberana.core.crypto import canonical_json, constant_time_equal, hmac_sha256_hex, sha256_hex
from soberana.storage.db import Database

_CONTENT_FIELDS = (
    "seq",
    "occurred_at",
    "org_id",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip",
    "request_id",
    "details",
    "prev_hash",
)


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the canonical JSON of an entry's content (everything but its hash and signature)."""
    content: dict[str, Any] = {name: getattr(entry, name) for name in _CONTENT_FIELDS}
    content["occurred_at"] = isoformat(entry.occurred_at)
    return sha256_hex(canonical_json(content))


def to_out(entry: AuditEntry) -> AuditEntryOut:
    columns = {column.key: getattr(entry, column.key) for column in AuditEntry.__table__.columns}
    return AuditEntryOut.model_validate({**columns, "details": json.loads(entry.details)})


class ChainVerifier(Protocol):
    """Extra checks for entries that anchor data kept elsewhere (e.g. usage-record batches)."""

    action: str

    async def check_entry(self, session: AsyncSession, details: dict[str, Any]) -> str | None:
        """Why the data anchored by one entry no longer matches it, or ``None``."""

    async def check_complete(self, session: AsyncSession, seen: list[dict[str, Any]]) -> str | None:
        """After the whole chain: why the stored data has parts no entry anchors, or ``None``."""


class AuditLog:
    """The audit-log service. ``secret`` keys the entry signatures (the server secret)."""

    def __init__(self, secret: bytes, verifiers: Sequence[ChainVerifier] = ()) -> None:
        self._secret = secret
        self._verifiers = {v.action: v for v in verifiers}

    def _sign(self, digest: str) -> str:
        return hmac_sha256_hex(self._secret, digest)

    async def append(self, session: AsyncSession, event: AuditEvent) -> AuditEntry:
        """Add ``event`` to the chain inside the caller's transaction; it commits with the action.

        Use a :meth:`Database.write_session` so that, on SQLite, the chain head is read under the
        write lock.
        """
        head = await repo.lock_head(session)
        entry = AuditEntry(
            seq=head.seq + 1,
            occurred_at=utcnow(),
            org_id=event.org_id,
            actor_type=event.actor.type,
            actor_id=event.actor.id,
            actor_label=event.actor.label,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            outcome=str(event.outcome),
            ip=event.ip,
            request_id=event.request_id,
            details=canonical_json(event.details),
            prev_hash=head.hash,
        )
        entry.hash = entry_hash(entry)
        entry.signature = self._sign(entry.hash)
        session.add(entry)
        head.seq, head.hash = entry.seq, entry.hash
        await session.flush()
        return entry

    async def record(self, db: Database, event: AuditEvent) -> None:
        """Append ``event`` in a transaction of its own (for events with no surrounding action)."""
        async with db.write_session() as session:
            await self.append(session, event)
            await session.commit()

    async def verify(
        self,
        session: AsyncSession,
        *,
        anchor: tuple[int, str] | None = None,
        batch_size: int = 1000,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> VerificationResult:
        """Recompute the whole chain and report the first entry that breaks it.

        ``on_progress(checked, total)`` is called after each batch (for progress bars). Pass a
        session that has not run a query yet: on PostgreSQL it is switched to REPEATABLE READ so the
        whole check sees one snapshot while other processes keep appending.
        """
        if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        head = await repo.get_head(session)
        head_seq = head.seq if head else 0
        head_hash = head.hash if head else GENESIS_HASH
        expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
        last_hash = GENESIS_HASH
        problem: tuple[int, str] | None = None
        anchor_seen = anchor is None
        seen: dict[str, list[dict[str, Any]]] = {}
        while problem is None:
            rows = await repo.entries_after(session, expected_seq - 1, batch_size)
            if not rows:
                break
            for row in rows:
                problem = self._check(row, expected_seq, expected_prev)
                if problem is not None:
                    break
                if anchor is not None and row.seq == anchor[0]:
                    anchor_seen = True
                    if not constant_time_equal(row.hash, anchor[1]):
                        problem = (row.seq, "does not match the anchor hash recorded earlier: the log was rewritten")
                        break
                verifier = self._verifiers.get(row.action)
                if verifier is not None:
                    details = json.loads(row.details)
                    seen.setdefault(row.action, []).append(details)
                    why = await verifier.check_entry(session, details)
                    if why is not None:
                        problem = (row.seq, why)
                        break
                checked += 1
                expected_seq, expected_prev, last_hash = row.seq + 1, row.hash, row.hash
            if on_progress is not None:
                on_progress(checked, head_seq)
        if problem is None and (head_seq != expected_seq - 1 or head_hash != last_hash):
            if head_seq > expected_seq - 1:
                problem = (
                    expected_seq,
                    f"missing: the log ends at entry {expected_seq - 1} but its head records "
                    f"entry {head_seq} (entries were deleted from the end)",
                )
            else:
                problem = (
                    head_seq + 1,
                    f"not recorded in the chain head (head is entry {head_seq}): entries were "
                    "added after the head, or the head was altered",
                )
        if problem is None and not anchor_seen and anchor is not None:
            problem = (anchor[0], "named by the anchor is missing from the log")
        for action, verifier in self._verifiers.items():
            if problem is None:
                why = await verifier.check_complete(session, seen.get(action, []))
                if why is not None:
                    problem = (head_seq, f"is the head, but {why}")
        return VerificationResult(
            ok=problem is None,
            entries_checked=checked,
            head_seq=head_seq,
            head_hash=head_hash,
            first_broken_seq=problem[0] if problem else None,
            problem=f"entry {problem[0]} {problem[1]}" if problem else None,
        )

    def _check(self, row: AuditEntry, expected_seq: int, expected_prev: str) -> tuple[int, str] | None:
        if row.seq != expected_seq:
            missing = f"{expected_seq}" if row.seq == expected_seq + 1 else f"{expected_seq}–{row.seq - 1}"
            return (row.seq, f"follows a gap: entry {missing} was deleted")
        if not constant_time_equal(entry_hash(row), row.hash):
            return (row.seq, "was altered: its content no longer matches its hash")
        if not constant_time_equal(row.prev_hash, expected_prev):
            return (row.seq, "does not link to the entry before it: an entry was inserted or replaced")
        if not constant_time_equal(self._sign(row.hash), row.signature):
            return (
                row.seq,
                "has an invalid signature: it was not written by this installation "
                "(forged, or the server secret changed)",
            )
        return None

    async def search(
        self, session: AsyncSession, *, org_ids: Collection[str] | None, limit: int = 100, **filters: Any
    ) -> tuple[list[AuditEntryOut], bool]:
        """Newest-first page of entries visible to ``org_ids``; returns ``(entries, has_more)``."""
        rows = await repo.search(session, org_ids=org_ids, limit=limit + 1, **filters)
        return [to_out(r) for r in rows[:limit]], len(rows) > limit

    async def export(
        self,
        session: AsyncSession,
        *,
        org_ids: Collection[str] | None,
        since: datetime | None = None,
        until: datetime | None = None,
        batch_size: int = 1000,
    ) -> AsyncIterator[AuditEntryOut]:
        """Every visible entry in chain order, fetched in batches (for JSON Lines export)."""
        after = 0
        while True:
            rows = await repo.search(
                session,
                org_ids=org_ids,
                since=since,
                until=until,
                after_seq=after,
                limit=batch_size,
                newest_first=False,
            )
            for row in rows:
                yield to_out(row)
            if len(rows) < batch_size:
                return
            after = rows[-1].seq
