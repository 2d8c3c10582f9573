"""The data-protection service: the rules in force, protecting texts before they leave, the vault.

:meth:`PrivacyService.protect` is called by the gateway for every text bound for a deployment that the
policy covers. Detection runs in a worker thread; the findings of each text are remembered by its
SHA-256 (a conversation resends its history at every turn). Only counts per kind of data are ever
logged or recorded — never a value.

Policies are set through :attr:`PrivacyService.policies` (:mod:`~soberana.privacy.policies`) and
resolved by :mod:`~soberana.privacy.policy`; retention is :attr:`PrivacyService.retention`
(:mod:`~soberana.privacy.retention`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, system_principal
from soberana.auth.service import AdminService
from soberana.core.crypto import sha256_hex
from soberana.errors import Conflict, PayloadTooLarge, PersonalDataRefused, SoberanaError
from soberana.privacy import repo
from soberana.privacy.engine import PiiEngine
from soberana.privacy.entities import Entity
from soberana.privacy.policies import PolicyAdmin
from soberana.privacy.policy import PolicyBook, Resolved
from soberana.privacy.ports import DetectLanguage, Purger
from soberana.privacy.pseudonyms import PseudonymMap, pseudonymise, redact
from soberana.privacy.retention import RetentionPurge
from soberana.privacy.schemas import CustomPattern, EffectivePolicy, PolicyDocument
from soberana.privacy.vault import Vault, scope_of
from soberana.settings import Settings
from soberana.storage.db import Database

logger = logging.getLogger("soberana.privacy")

Action = Literal["detected", "pseudonymised", "redacted"]
FORCED_RELOAD_SECONDS = 2.0  # an organisation not known yet reloads the policies at most this often
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


def _used(mapping: PseudonymMap) -> dict[str, str]:
    """The placeholders that replaced personal data in this request, and their values: only these are
    restored in the answer, so a placeholder typed by the caller never reveals a value of another turn."""
    return {p: mapping.originals[p] for p in mapping.used}


def _stored(subject: str, document: dict[str, Any]) -> PolicyDocument:
    """A stored policy. One saved under older rules (a custom pattern RE2 cannot run) still applies
    whole, but for that pattern, which is left out and logged: its rules and deny-lists keep protecting."""
    try:
        return PolicyDocument.model_validate(document)
    except (ValidationError, SoberanaError):
        kept = []
        for pattern in document.get("patterns") or []:
            try:
                CustomPattern.model_validate(pattern)
            except (ValidationError, SoberanaError):
                logger.error(
                    "the policy of %s has a pattern that cannot run (%s): it is left out", subject, pattern.get("label")
                )
                continue
            kept.append(pattern)
        return PolicyDocument.model_validate({**document, "patterns": kept})


class PrivacyService:
    def __init__(
        self, settings: Settings, db: Database, admin: AdminService, engine: PiiEngine, purgers: Sequence[Purger]
    ) -> None:
        self.settings = settings
        self.db = db
        self.admin = admin
        self.engine = engine
        self.book = PolicyBook(settings)
        self.vault = Vault(settings.secret_key_bytes)
        self.policies = PolicyAdmin(settings, admin, self.book, purgers, self.reload)
        self.retention = RetentionPurge(settings, db, admin.audit, self.book, self.vault, purgers)
        self._cache: OrderedDict[tuple[str, str], tuple[Entity, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()  # detection runs in several worker threads
        self._scope_locks: dict[str, asyncio.Lock] = {}
        self._reload_lock = asyncio.Lock()
        self._forced_reload = -FORCED_RELOAD_SECONDS
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        db: Database,
        admin: AdminService,
        purgers: Sequence[Purger],
        *,
        detect_language: DetectLanguage | None = None,
        load_entry_points: bool = True,
    ) -> PrivacyService:
        """The service with the built-in detectors and those of installed plugins."""
        from soberana.privacy.builtin import detector_registry

        engine = PiiEngine(detector_registry(load_entry_points=load_entry_points), detect_language=detect_language)
        return cls(settings, db, admin, engine, purgers)

    # -- the rules in force --------------------------------------------------------------------------

    async def reload(self, session: AsyncSession) -> None:
        """Read every policy and the organisation tree again (other server processes change them too)."""
        rows = await repo.all_policies(session)
        orgs = {r.subject_id: _stored(r.subject_id, r.document) for r in rows if r.subject_type == "organisation"}
        keys = {r.subject_id: _stored(r.subject_id, r.document) for r in rows if r.subject_type == "api_key"}
        self.book.load(orgs, keys, await self.admin.organisation_parents(session))

    def resolve(self, principal: Principal, requested: str | None = None, floors: Sequence[str] = ()) -> Resolved:
        return self.book.resolve(principal, requested, floors)

    async def know(self, principal: Principal) -> None:
        """Make sure the policies above ``principal``'s organisation are known: an organisation created
        since the last reload (every 30 s) would otherwise miss its parents' floors for that long."""
        org_id = principal.org_id
        if org_id is None or org_id in self.book.parents:
            return
        async with self._reload_lock:
            now = time.monotonic()
            if org_id not in self.book.parents and now - self._forced_reload >= FORCED_RELOAD_SECONDS:
                self._forced_reload = now  # at most this often, whatever callers name
                async with self.db.session() as session:
                    await self.reload(session)

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

    def retention_days(self, org_id: str, kind: str) -> float | None:
        """How many days ``org_id`` keeps data of ``kind`` (``None``: for ever)."""
        return self.retention.days(org_id, kind)

    # -- protecting texts ----------------------------------------------------------------------------

    def _detect(self, texts: Sequence[str], resolved: Resolved) -> list[tuple[Entity, ...]]:
        """Findings of the protected kinds in each text (CPU work: call from a worker thread).

        Findings are remembered per text and per :attr:`Resolved.signature` (the protected kinds and
        the custom detectors), so a changed deny-list is applied to a conversation's old messages too.
        """
        limit = self.settings.privacy_detection_cache
        found: list[tuple[Entity, ...]] = []
        for text in texts:
            key = (sha256_hex(text), resolved.signature)
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
                            session, principal.org_id, scope, mapping, self.retention.vault_ttl(principal.org_id)
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

    def ingestion_redactor(self, org_id: str) -> Callable[[str, str | None], str] | None:
        """A function that redacts a document's text for ``org_id``, if its policy asks for it at ingestion."""
        if self.book.ingestion(org_id) != "redact":
            return None
        resolved = self.resolve(system_principal(org_id, None, "ingestion"))

        def redact_text(text: str, language: str | None) -> str:
            found = self.engine.detect(text, language, extra=resolved.detectors, labels=resolved.labels)
            return redact(text, found) if found else text

        return redact_text

    # -- erasure --------------------------------------------------------------------------------------

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

    # -- background work -----------------------------------------------------------------------------

    async def purge(self) -> dict[str, int]:
        """Delete now everything past its retention period (see :class:`RetentionPurge`)."""
        return await self.retention.purge()

    async def start(self) -> None:
        """Load the policies, then reload them every 30 s (other workers change them too) and run the
        retention purge every ``retention_purge_minutes`` (the server)."""
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
                    await self.retention.purge()
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
