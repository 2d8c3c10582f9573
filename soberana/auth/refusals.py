"""Refused authentications in the audit log, aggregated so that a flood cannot fill it.

Each audit entry takes the log's write lock, so recording every refused request (a script sending
keys that do not exist, requests with no key at all) would let anyone slow every tenant's writes.
Refusals are grouped by kind (API key, password, identity provider), client address, key prefix or
account name, reason and organisation, per minute: the first refusal of a group in a minute is
written at once (an administrator sees it straight away), the others of that minute are counted and
written as one entry (``details.count``) when the minute is over. Beyond ``per_minute`` refusals from
one address the caller gets 429 instead, and those refusals are counted, not written one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from soberana.audit.schemas import Actor, AuditEvent, Outcome
from soberana.audit.service import AuditLog
from soberana.storage.db import Database

logger = logging.getLogger("soberana.auth")
WINDOW_SECONDS = 60
MAX_GROUPS = 10_000  # groups counted in one window; more are counted under one overflow group


@dataclass(frozen=True)
class RefusalGroup:
    action: str
    method: str
    reason: str
    ip: str | None
    subject: str | None  # key prefix or account name
    org_id: str | None
    actor: Actor


@dataclass
class _Tally:
    count: int = 0  # refusals not yet written
    first: float = field(default_factory=time.time)
    last: float = field(default_factory=time.time)
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None


class RefusalLog:
    """Groups refused authentications per minute and writes them to the audit log."""

    def __init__(self, db: Database, audit: AuditLog, *, enabled: bool, window_seconds: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.audit = audit
        self.enabled = enabled
        self.window_seconds = window_seconds
        self._window = self._window_of(time.monotonic())
        self._seen: set[RefusalGroup] = set()
        self._pending: dict[RefusalGroup, _Tally] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def _window_of(self, now: float) -> int:
        return int(now // self.window_seconds)

    async def record(
        self, group: RefusalGroup, details: dict[str, Any], request_id: str | None, *, write_now: bool = True
    ) -> None:
        """Count one refusal; write it at once if it is its group's first this minute and ``write_now``."""
        if not self.enabled:
            return
        window = self._window_of(time.monotonic())
        if window != self._window:
            await self.flush()
            self._window = window
        if write_now and group not in self._seen and len(self._seen) < MAX_GROUPS:
            self._seen.add(group)
            await self.audit.record(self.db, self._event(group, details, request_id, count=1))
            return
        if group not in self._pending and len(self._pending) >= MAX_GROUPS:
            group = RefusalGroup(group.action, group.method, "many_sources", None, None, None, Actor(type="anonymous"))
            details = {}
        tally = self._pending.setdefault(group, _Tally(details=details, request_id=request_id))
        tally.count += 1
        tally.last = time.time()

    def _event(
        self,
        group: RefusalGroup,
        details: dict[str, Any],
        request_id: str | None,
        *,
        count: int,
        since: float | None = None,
    ) -> AuditEvent:
        info: dict[str, Any] = {"method": group.method, "reason": group.reason, **details}
        if since is not None:  # an aggregate: how many, since when
            info["count"] = count
            info["first_at"] = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
        return AuditEvent(
            action=group.action,
            actor=group.actor,
            outcome=Outcome.DENIED,
            org_id=group.org_id,
            details=info,
            ip=group.ip,
            request_id=request_id,
        )

    async def flush(self) -> int:
        """Write the refusals counted and not yet written (one entry per group); returns how many."""
        pending, self._pending, self._seen = self._pending, {}, set()
        if not pending:
            return 0
        try:
            async with self.db.write_session() as session:
                for group, tally in pending.items():
                    event = self._event(group, tally.details, tally.request_id, count=tally.count, since=tally.first)
                    await self.audit.append(session, event)
                await session.commit()
        except BaseException:  # not written: counted again with what comes next, never lost
            for group, tally in pending.items():
                kept = self._pending.setdefault(group, _Tally(details=tally.details, request_id=tally.request_id))
                kept.count += tally.count
                kept.first = min(kept.first, tally.first)
            raise
        return len(pending)

    async def start(self) -> None:
        """Write the counted refusals once a minute (the server)."""
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="soberana-refusals")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.window_seconds):
                    await self._stopping.wait()
            try:
                await self.flush()
            except Exception:  # the next round tries again
                logger.exception("writing refused authentications to the audit log failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        else:
            await self.flush()
