"""Setting data-protection policies: per organisation and per API key, as floors.

An administrator sets the policy of an organisation below theirs, or of a key in their
organisations. A policy may only tighten what applies above it — the installation's settings and the
policies of the organisations above its subject (and, for a key, its organisation's). Administrators
may tighten their own organisation's policy, never loosen or remove it: that is for the organisation
above (or a platform administrator), as with quotas. A refusal names every rule the policy would
loosen. Each change is audit-logged, without the deny-listed terms or the patterns themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.service import AdminService
from soberana.core.crypto import sha256_hex
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound, PermissionDenied
from soberana.privacy import repo
from soberana.privacy.models import PrivacyPolicy
from soberana.privacy.policy import PolicyBook, detectors_spec, shortest
from soberana.privacy.ports import Purger
from soberana.privacy.schemas import PolicyDocument
from soberana.settings import Settings
from soberana.storage.db import commit_or_conflict


def _audited(document: PolicyDocument) -> dict[str, Any]:
    """What the audit log keeps of a policy: everything but the deny-listed terms and the patterns
    themselves (names of people, often), which it records as counts and a digest."""
    details = document.model_dump(mode="json", exclude={"patterns", "deny_lists"})
    details["patterns"] = [p.label for p in document.patterns]
    details["deny_lists"] = [{"label": d.label, "terms": len(d.terms)} for d in document.deny_lists]
    details["detectors_sha256"] = sha256_hex(detectors_spec(document))
    return details


class PolicyAdmin:
    def __init__(
        self,
        settings: Settings,
        admin: AdminService,
        book: PolicyBook,
        purgers: Sequence[Purger],
        reload: Callable[[AsyncSession], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.admin = admin
        self.book = book
        self.purgers = tuple(purgers)
        self._reload = reload

    async def list_policies(self, session: AsyncSession, principal: Principal) -> list[PrivacyPolicy]:
        principal.require(Scope.ADMIN)
        return await repo.policies_in(session, await self.admin.visible_org_ids(session, principal))

    async def get_policy(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str
    ) -> PrivacyPolicy:
        await self.admin.subject_org(session, principal, subject_type, subject_id)
        policy = await repo.policy_for(session, subject_type, subject_id)
        if policy is None:
            raise NotFound(f"No data-protection policy is set for {subject_id!r}.")
        return policy

    async def _floor(
        self, session: AsyncSession, subject_type: str, subject_id: str, org_id: str
    ) -> list[PolicyDocument]:
        """The policies above the subject, most general first: the organisations above it (for a key:
        its organisation and those above)."""
        chain = (await self.admin.ancestor_ids(session, org_id))[::-1]  # from the top down
        if subject_type == "organisation":
            chain = [o for o in chain if o != subject_id]
        documents = await repo.organisation_documents(session, chain)
        return [documents[o] for o in chain if o in documents]

    def _own(self, principal: Principal, subject_type: str, subject_id: str) -> bool:
        """Whether the subject is the caller's own organisation (which it may only tighten)."""
        return subject_type == "organisation" and subject_id == principal.org_id and not principal.is_platform_admin

    def _loosenings(self, document: PolicyDocument, floor: Sequence[PolicyDocument]) -> list[str]:
        problems = self.book.loosenings(document, floor)
        for purger in self.purgers:
            value = purger.org_days(document)
            longest = shortest([purger.default_days(self.settings), *(purger.org_days(d) for d in floor)])
            if value is not None and longest is not None and value > longest:
                problems.append(f"the retention of {purger.kind}, {value:g} days, is longer than {longest:g} days")
        hours = document.retention.vault_hours
        longest_hours = shortest([self.settings.vault_ttl_hours, *(d.retention.vault_hours for d in floor)])
        if hours is not None and longest_hours is not None and hours > longest_hours:
            problems.append(f"retention.vault_hours {hours:g} is longer than {longest_hours:g}")
        return problems

    async def set_policy(
        self,
        session: AsyncSession,
        principal: Principal,
        subject_type: str,
        subject_id: str,
        document: PolicyDocument,
        origin: Origin,
    ) -> PrivacyPolicy:
        org_id = await self.admin.subject_org(session, principal, subject_type, subject_id)
        for level in [document.default_classification, *document.rules]:
            if level is not None:
                self.book.check_level(level, param="document")
        if subject_type == "api_key" and document.retention != type(document.retention)():
            raise InvalidRequest("Retention periods are set per organisation, not per key.", param="retention")
        if subject_type == "api_key" and document.ingestion is not None:
            raise InvalidRequest("Redaction at ingestion is set per organisation, not per key.", param="ingestion")
        policy = await repo.policy_for(session, subject_type, subject_id)
        floor = await self._floor(session, subject_type, subject_id, org_id)
        own = self._own(principal, subject_type, subject_id)
        current = PolicyDocument.model_validate(policy.document) if policy is not None else None
        if own and current is not None:
            floor.append(current)  # your own organisation's: only tighter
        problems = self._loosenings(document, floor)
        if problems:
            raise PermissionDenied(
                "A policy may only tighten what applies above it"
                + (" (your own organisation's policy included)" if own else "")
                + ": "
                + "; ".join(problems)
                + ".",
                code="policy_below_floor",
                param="document",
            )
        if own and current is not None:
            # what the change leaves out is kept (rules, detectors, retention set from above included):
            # your own organisation's policy only grows stricter
            document = self.book.tightened(current, document)
        if policy is None:
            policy = PrivacyPolicy(id=new_id("pol"), subject_type=subject_type, subject_id=subject_id, org_id=org_id)
            session.add(policy)
        policy.document = document.model_dump(mode="json", exclude_unset=True)  # what is left out inherits
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
        await commit_or_conflict(session, "Another administrator changed this policy at the same time; try again.")
        await self._reload(session)
        return policy

    async def delete_policy(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str, origin: Origin
    ) -> None:
        policy = await self.get_policy(session, principal, subject_type, subject_id)
        if self._own(principal, subject_type, subject_id):
            raise PermissionDenied(
                "Your own organisation's policy may only be tightened; the organisation above it removes it.",
                code="policy_below_floor",
            )
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
        await commit_or_conflict(session)
        await self._reload(session)
