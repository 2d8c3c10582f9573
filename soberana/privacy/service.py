"""The data-protection service: policies, protecting texts before they leave, the vault, retention.

:meth:`PrivacyService.protect` is called by the gateway for every text bound for a deployment that the
policy covers. Detection runs in a worker thread; the findings of each text are remembered by its
SHA-256 (a conversation resends its history at every turn). Only counts per kind of data are ever
logged or recorded — never a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import anyio
from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import SYSTEM_ACTOR, AuditEvent
from soberana.auth.principal import Principal, Scope, system_principal
from soberana.auth.service import AdminService, Origin
from soberana.core.clock import utcnow
from soberana.core.crypto import sha256_hex
from soberana.core.ids import new_id
from soberana.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge, PersonalDataRefused
from soberana.privacy.engine import PiiEngine
from soberana.privacy.entities import Entity
from soberana.privacy.models import PrivacyPolicy
from soberana.privacy.policy import PolicyBook, Resolved, detectors_spec
from soberana.privacy.pseudonyms import PseudonymMap, pseudonymise, redact
from soberana.privacy.schemas import EffectivePolicy, PolicyDocument
from soberana.privacy.vault import Vault, scope_of
from soberana.settings import Settings
from soberana.storage.db import Database

logger = logging.getLogger("soberana.privacy")

Action = Literal["detected", "pseudonymised", "redacted"]
ACTION_OF_MODE: dict[str, Action] = {"detect": "detected", "pseudonymise": "pseudonymised", "redact": "redacted"}


@dataclass
class Protected:
    """Texts as they may leave, and what was done to them."""

    texts: list[str]
    action: Action
    counts: Counter[str] = field(default_factory=Counter)
    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> value, to restore the answer

    @property
    def changed(self) -> bool:
        return self.action != "detected" and bool(self.counts)

    def header(self) -> str:
        """The ``x-soberana-pii`` value, e.g. ``pseudonymised; PERSON=2,ID_NUMBER=1`` (counts only)."""
        if not self.counts:
            return "none"
        counts = ",".join(f"{label}={n}" for label, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{self.action}; {counts}"

    def record(self, classification: str) -> dict[str, Any]:
        """What the usage record keeps: the classification, the action and counts, never a value."""
        return {"classification": classification, "action": self.action, "counts": dict(self.counts)}


PURGE_LOCK = 0x50_55_52_47_45  # PostgreSQL advisory lock id of the retention purge ("PURGE")


async def _only_purge(session: AsyncSession) -> bool:
    """Whether this transaction is the only purge running (PostgreSQL, several server processes); on
    SQLite the write transaction is exclusive already."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(sql("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PURGE_LOCK}))


def _used(mapping: PseudonymMap) -> dict[str, str]:
    """The placeholders that replaced personal data in this request, and their values: only these are
    restored in the answer, so a placeholder typed by the caller never reveals a value of another turn."""
    return {p: mapping.originals[p] for p in mapping.used}


def _audited(document: PolicyDocument) -> dict[str, Any]:
    """What the audit log keeps of a policy: everything but the deny-listed terms and the patterns
    themselves (names of people, often), which it records as counts and a digest."""
    details = document.model_dump(mode="json", exclude={"patterns", "deny_lists"})
    details["patterns"] = [p.label for p in document.patterns]
    details["deny_lists"] = [{"label": d.label, "terms": len(d.terms)} for d in document.deny_lists]
    details["detectors_sha256"] = sha256_hex(detectors_spec(document))
    return details


class Purger(Protocol):
    """Deletes one kind of data past its retention period (registered by the capability that owns it)."""

    kind: str

    def default_days(self, settings: Settings) -> float | None:
        """The installation's retention period in days (``None``: kept for ever)."""

    def org_days(self, document: PolicyDocument) -> float | None:
        """An organisation's own period in days, if its policy sets one."""

    async def purge(
        self, session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
    ) -> dict[str, int]:
        """Delete what is older than its organisation's cutoff (``default_cutoff`` for the others);
        returns how many rows were deleted per organisation."""


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


class PrivacyService:
    def __init__(self, settings: Settings, db: Database, admin: AdminService, engine: PiiEngine) -> None:
        self.settings = settings
        self.db = db
        self.admin = admin
        self.audit = admin.audit
        self.engine = engine
        self.book = PolicyBook(settings)
        self.vault = Vault(settings.secret_key_bytes)
        self.purgers: list[Purger] = []
        self._cache: OrderedDict[tuple[str, str], tuple[Entity, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()  # detection runs in several worker threads
        self._scope_locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        db: Database,
        admin: AdminService,
        *,
        detect_language: Callable[[str], str | None] | None = None,
        load_entry_points: bool = True,
    ) -> PrivacyService:
        """The service with the built-in detectors and those of installed plugins."""
        from soberana.privacy.builtin import detector_registry

        engine = PiiEngine(detector_registry(load_entry_points=load_entry_points), detect_language=detect_language)
        return cls(settings, db, admin, engine)

    # -- policies ------------------------------------------------------------------------------------

    async def reload(self, session: AsyncSession) -> None:
        rows = (await session.scalars(select(PrivacyPolicy))).all()
        orgs = {
            r.subject_id: PolicyDocument.model_validate(r.document) for r in rows if r.subject_type == "organisation"
        }
        keys = {r.subject_id: PolicyDocument.model_validate(r.document) for r in rows if r.subject_type == "api_key"}
        self.book.load(orgs, keys)

    def resolve(self, principal: Principal, requested: str | None = None, floors: Sequence[str] = ()) -> Resolved:
        return self.book.resolve(principal, requested, floors)

    def effective(self, principal: Principal) -> EffectivePolicy:
        resolved = self.resolve(principal)
        rules = {level: self.book.rule_for(principal, level) for level in self.book.levels}
        custom = sorted({getattr(d, "label", "") for d in resolved.detectors})
        return EffectivePolicy(
            classifications=self.book.levels,
            default_classification=resolved.classification,
            rules=rules,
            labels=sorted(resolved.labels),
            custom_labels=custom,
        )

    async def _subject_org(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str
    ) -> str:
        return await self.admin.subject_org(session, principal, subject_type, subject_id)

    async def list_policies(self, session: AsyncSession, principal: Principal) -> list[PrivacyPolicy]:
        self.admin.require(principal, Scope.ADMIN)
        visible = await self.admin.visible_org_ids(session, principal)
        stmt = select(PrivacyPolicy).order_by(PrivacyPolicy.id)
        if visible is not None:
            stmt = stmt.where(PrivacyPolicy.org_id.in_(list(visible)))
        return list((await session.scalars(stmt)).all())

    async def _policy(self, session: AsyncSession, subject_type: str, subject_id: str) -> PrivacyPolicy | None:
        stmt = select(PrivacyPolicy).where(
            PrivacyPolicy.subject_type == subject_type, PrivacyPolicy.subject_id == subject_id
        )
        return (await session.scalars(stmt)).one_or_none()

    async def get_policy(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str
    ) -> PrivacyPolicy:
        await self._subject_org(session, principal, subject_type, subject_id)
        policy = await self._policy(session, subject_type, subject_id)
        if policy is None:
            raise NotFound(f"No data-protection policy is set for {subject_id!r}.")
        return policy

    async def set_policy(
        self,
        session: AsyncSession,
        principal: Principal,
        subject_type: str,
        subject_id: str,
        document: PolicyDocument,
        origin: Origin,
    ) -> PrivacyPolicy:
        org_id = await self._subject_org(session, principal, subject_type, subject_id)
        levels = set(self.book.levels)
        for level in [document.default_classification, *document.rules]:
            if level is not None and level not in levels:
                self.book.check_level(level, param="document")
        if subject_type == "api_key" and document.retention != type(document.retention)():
            raise InvalidRequest("Retention periods are set per organisation, not per key.", param="retention")
        policy = await self._policy(session, subject_type, subject_id)
        if policy is None:
            policy = PrivacyPolicy(id=new_id("pol"), subject_type=subject_type, subject_id=subject_id, org_id=org_id)
            session.add(policy)
        policy.document = document.model_dump(mode="json")
        await session.flush()
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="privacy.policy.set",
            org_id=org_id,
            object_type=subject_type,
            object_id=subject_id,
            details=_audited(document),
        )
        await session.commit()
        await self.reload(session)
        return policy

    async def delete_policy(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str, origin: Origin
    ) -> None:
        policy = await self.get_policy(session, principal, subject_type, subject_id)
        await session.delete(policy)
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="privacy.policy.delete",
            org_id=policy.org_id,
            object_type=subject_type,
            object_id=subject_id,
        )
        await session.commit()
        await self.reload(session)

    # -- protecting texts ----------------------------------------------------------------------------

    def _detect(self, texts: Sequence[str], resolved: Resolved) -> list[tuple[Entity, ...]]:
        """Findings of the protected kinds in each text (CPU work: call from a worker thread).

        Findings are remembered per text and per :attr:`Resolved.signature` (the protected kinds and
        the custom detectors), so a changed deny-list is applied to a conversation's old messages too.
        """
        limit = self.settings.privacy_detection_cache
        found: list[tuple[Entity, ...]] = []
        for text in texts:
            key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), resolved.signature)
            with self._cache_lock:
                entities = self._cache.get(key) if limit else None
                if entities is not None:
                    self._cache.move_to_end(key)
            if entities is None:
                entities = tuple(self.engine.detect(text, extra=resolved.detectors, labels=resolved.labels))
                if limit:
                    with self._cache_lock:
                        self._cache[key] = entities
                        while len(self._cache) > limit:
                            self._cache.popitem(last=False)
            found.append(entities)
        return found

    async def protect(
        self,
        principal: Principal,
        resolved: Resolved,
        texts: Sequence[str],
        *,
        conversation: str | None = None,
    ) -> Protected:
        """Apply the rule's mode to ``texts``. Placeholders are stable across the texts, and across
        requests naming the same ``conversation`` (kept in the vault)."""
        mode = resolved.rule.mode
        if sum(len(t) for t in texts) > self.settings.privacy_max_text_chars:
            raise PayloadTooLarge(
                f"The request holds more than {self.settings.privacy_max_text_chars} characters of text to check "
                "for personal data."
            )
        findings = await anyio.to_thread.run_sync(self._detect, list(texts), resolved)
        counts: Counter[str] = Counter(e.label for entities in findings for e in entities)
        if mode == "block" and counts:
            kinds = ", ".join(sorted(counts))
            raise PersonalDataRefused(
                f"This request contains personal data ({kinds}), which the data-protection policy for "
                f"'{resolved.classification}' data does not allow to be sent to this model. Remove it, or ask your "
                "administrator which model may receive it."
            )
        if mode == "redact":
            return Protected([redact(t, e) for t, e in zip(texts, findings, strict=True)], "redacted", counts)
        if mode != "pseudonymise" or not counts:
            return Protected(list(texts), ACTION_OF_MODE.get(mode, "detected"), counts)
        if conversation is None or principal.org_id is None:
            mapping = PseudonymMap()
            out = [pseudonymise(t, e, mapping) for t, e in zip(texts, findings, strict=True)]
            return Protected(out, "pseudonymised", counts, _used(mapping))
        scope = scope_of(principal.org_id, principal.id, conversation)
        lock = self._scope_locks.setdefault(scope, asyncio.Lock())
        async with lock:
            for attempt in range(2):
                async with self.db.write_session() as session:
                    mapping = await self.vault.load(session, scope)
                    out = [pseudonymise(t, e, mapping) for t, e in zip(texts, findings, strict=True)]
                    try:
                        await self.vault.save(
                            session, principal.org_id, scope, mapping, self._vault_ttl(principal.org_id)
                        )
                        await session.commit()
                    except IntegrityError:  # another process numbered the same placeholder first
                        await session.rollback()
                        if attempt:
                            raise Conflict(
                                "Another request of this conversation was numbering the same personal data; try again."
                            ) from None
                        continue
                    break
        if len(self._scope_locks) > 10_000:
            self._scope_locks = {k: v for k, v in self._scope_locks.items() if v.locked()}
        return Protected(out, "pseudonymised", counts, _used(mapping))

    def _vault_ttl(self, org_id: str) -> timedelta:
        hours = self.book.retention(org_id).vault_hours or self.settings.vault_ttl_hours
        return timedelta(hours=hours)

    def ingestion_redactor(self, org_id: str) -> Callable[[str, str | None], str] | None:
        """A function that redacts a document's text for ``org_id``, if its policy asks for it at ingestion."""
        if self.book.ingestion(org_id) != "redact":
            return None
        resolved = self.resolve(system_principal(org_id, None, "ingestion"))

        def redact_text(text: str, language: str | None) -> str:
            found = self.engine.detect(text, language, extra=resolved.detectors, labels=resolved.labels)
            return redact(text, found) if found else text

        return redact_text

    # -- retention and erasure -----------------------------------------------------------------------

    def retention_days(self, org_id: str, kind: str) -> float | None:
        for purger in self.purgers:
            if purger.kind == kind:
                document = self.book.organisations.get(org_id)
                own = purger.org_days(document) if document else None
                return own if own is not None else purger.default_days(self.settings)
        return None

    async def erase_conversation(self, session: AsyncSession, org_id: str, owner: str, conversation: str) -> int:
        """Forget a conversation's placeholders (in the caller's transaction)."""
        return await self.vault.erase(session, scope_of(org_id, owner, conversation))

    async def erase_api_conversation(
        self, session: AsyncSession, principal: Principal, conversation: str, origin: Origin
    ) -> int:
        """Erase the caller's own conversation (``X-Soberana-Conversation``) from the vault, audit-logged."""
        if principal.org_id is None:
            return 0
        count = await self.vault.erase(session, scope_of(principal.org_id, principal.id, conversation))
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="privacy.conversation.erased",
            org_id=principal.org_id,
            object_type="privacy_conversation",
            object_id=sha256_hex(conversation)[:16],
            details={"placeholders": count},
        )
        await session.commit()
        return count

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
        for purger in self.purgers:
            default = purger.default_days(self.settings)
            cutoffs: dict[str, datetime] = {}
            for org_id, document in self.book.organisations.items():
                days = purger.org_days(document)
                if days is not None:
                    cutoffs[org_id] = now - timedelta(days=days)
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

    async def start(self) -> None:
        """Load the policies, then reload them every 30 s (other workers change them too) and run
        :meth:`purge` every ``retention_purge_minutes`` (the server)."""
        try:
            async with self.db.session() as session:
                await self.reload(session)
        except DBAPIError as exc:  # not migrated yet, or the database is down: /readyz says so
            logger.warning("data-protection policies could not be loaded: %s", type(exc).__name__)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="soberana-privacy")

    async def _run(self) -> None:
        next_purge = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                async with self.db.session() as session:
                    await self.reload(session)
                if loop.time() >= next_purge:
                    next_purge = loop.time() + self.settings.retention_purge_minutes * 60
                    await self.purge()
            except Exception:  # keep running: the next round tries again
                logger.exception("reloading data-protection policies or the retention purge failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(30.0, self.settings.retention_purge_minutes * 60)):
                    await self._stop.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None
