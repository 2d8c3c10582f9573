"""The register of AI use cases: each belongs to an organisation, every change is a new version kept
forever, and a second person approves a version before the use case runs (the rules are in
:mod:`~soberana.governance.lifecycle`). Every change and decision is written to the audit log in the
transaction that makes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    describe_validation_errors,
    require_id,
)
from soberana.governance import ai_act, repo
from soberana.governance.assessing import Assessing, stricter
from soberana.governance.bindings import Bindings
from soberana.governance.compliance import Compliance
from soberana.governance.enforcement import ChangeFeed
from soberana.governance.incidents import Incidents
from soberana.governance.lifecycle import (
    EDITABLE,
    NEEDS_REASON,
    RUNNING,
    Action,
    Refusal,
    RiskGroup,
    Situation,
    Status,
    check_actor,
    next_status,
)
from soberana.governance.models import UseCase, UseCaseVersion
from soberana.governance.policies import PolicyPacks
from soberana.governance.ports import ApprovalEvidence, Collections, LiveFacts, UnderReview
from soberana.governance.publishing import Transparency
from soberana.governance.register import Entry, not_editable
from soberana.governance.schemas import ReviewAction, UseCaseChange, UseCaseCreate, UseCaseFields, missing
from soberana.governance.suppliers import Suppliers
from soberana.storage.db import Database, commit_or_conflict, conflicts_as
from soberana.storage.limits import RateLimiter


class GovernanceService(Assessing):
    def __init__(
        self,
        db: Database,
        admin: AdminService,
        aia_dir: Path | None = None,
        ai_act_dates: Mapping[str, dt.date] | None = None,
        ai_act_tree: Path = ai_act.EU_AI_ACT,
        *,
        collections: Collections,
        feed: ChangeFeed,
        facts: LiveFacts,
        public_readers: RateLimiter,
        evidence: ApprovalEvidence,
    ) -> None:
        super().__init__(db, admin, aia_dir, ai_act_dates, ai_act_tree, feed=feed)
        self.evidence = evidence
        self.facts = facts
        self.incidents = Incidents(db, self)
        self.suppliers = Suppliers(db, admin, feed)
        self.bindings = Bindings(self, collections)
        self.transparency = Transparency(self, facts, public_readers)
        self.policies = PolicyPacks(self, facts)
        self.compliance = Compliance(self, facts)

    async def create(self, principal: Principal, data: UseCaseCreate, origin: Origin) -> Entry:
        """A new use case, as a draft at version 1."""
        self._keeper(principal)
        org_id = data.org_id or principal.org_id
        if org_id is None:
            raise InvalidRequest("Name the organisation the use case belongs to.", param="org_id")
        require_id(org_id, "org", "organisation", param="org_id")
        fields = UseCaseFields.model_validate(data.model_dump(exclude={"org_id", "note"}))
        async with self.db.write_session() as session:
            visible = await self._visible(session, principal)
            organisation = await self.admin.public_organisation(session, org_id=org_id)
            if organisation is None or (visible is not None and org_id not in visible):
                raise NotFound(f"No organisation with id {org_id!r}.", param="org_id")
            now = utcnow()
            use_case = UseCase(
                id=new_id("uc"),
                org_id=org_id,
                name=fields.name,
                status=Status.DRAFT,
                risk_group=RiskGroup.UNASSESSED,
                version=1,
                created_by=principal.id,
                created_at=now,
                updated_at=now,
            )
            async with conflicts_as(session, f"A use case named {fields.name!r} exists already.", param="name"):
                session.add(use_case)
                await session.flush()
            self._add_version(session, use_case, fields, principal, data.note)
            await self._record(session, principal, origin, "created", use_case, {"version": 1})
            await commit_or_conflict(session, f"A use case named {fields.name!r} exists already.", param="name")
            return Entry(use_case, fields)

    @staticmethod
    def _add_version(
        session: AsyncSession, use_case: UseCase, fields: UseCaseFields, author: Principal, note: str
    ) -> None:
        session.add(
            UseCaseVersion(
                id=new_id("ucv"),
                use_case_id=use_case.id,
                version=use_case.version,
                fields=fields.model_dump(mode="json"),
                author=author.id,
                note=note,
                created_at=use_case.updated_at,
            )
        )

    async def change(self, principal: Principal, use_case_id: str, change: UseCaseChange, origin: Origin) -> Entry:
        """A new version with ``change.fields`` set. A use case in review is not changed (the reviewer would
        approve something other than what they read): return it first."""
        self._keeper(principal)
        async with self.db.write_session() as session:
            use_case = await self._get(session, principal, use_case_id, lock=True)
            if change.expected_version is not None and change.expected_version != use_case.version:
                raise Conflict(
                    f"The use case is at version {use_case.version}, not {change.expected_version}: someone changed "
                    "it meanwhile. Read it again.",
                    code="version_conflict",
                    param="expected_version",
                )
            if use_case.submitted_version is not None or use_case.status not in EDITABLE:
                raise Conflict(not_editable(use_case), code="not_editable")
            current = await self._entry(session, use_case)
            fields = _merged(current.fields, change.fields)
            changed = sorted(
                name for name in change.fields if getattr(fields, name, None) != getattr(current.fields, name, None)
            )
            if not changed:
                return current
            use_case.version += 1
            use_case.name = fields.name
            use_case.updated_at = utcnow()
            async with conflicts_as(session, f"A use case named {fields.name!r} exists already.", param="fields.name"):
                self._add_version(session, use_case, fields, principal, change.note)
                await session.flush()
            details = {"version": use_case.version, "fields": changed}
            await self._record(session, principal, origin, "changed", use_case, details)
            await commit_or_conflict(session, f"A use case named {fields.name!r} exists already.", param="fields.name")
            if use_case.status in RUNNING:
                self.evidence.changed(use_case.id)  # what runs changed: its evaluations are run again
            return Entry(use_case, fields)

    async def act(self, principal: Principal, use_case_id: str, request: ReviewAction, origin: Origin) -> Entry:
        """Take a review or lifecycle action (:class:`~soberana.governance.lifecycle.Action`)."""
        self._keeper(principal)
        action, reason = request.action, " ".join(request.reason.split())
        if action in NEEDS_REASON and not reason:
            raise InvalidRequest(f"Say why the use case is to {action.value.replace('_', ' ')}.", param="reason")
        async with self.db.write_session() as session:
            use_case = await self._get(session, principal, use_case_id, lock=True)
            authors: frozenset[str] = frozenset()
            if use_case.submitted_version is not None:
                since = use_case.approved_version or 0
                authors = await repo.version_authors(session, use_case.id, since, use_case.submitted_version)
            if action in (Action.APPROVE, Action.RETURN, Action.WITHDRAW):
                decided = use_case.submitted_version or use_case.version
            elif action is Action.SUBMIT:
                decided = use_case.version
            else:  # what runs
                decided = use_case.approved_version or use_case.version
            found = await self._risk_for(session, use_case, decided)
            risk = found.group
            if action in (Action.GO_LIVE, Action.RESUME) and use_case.approved_risk_group:
                risk = stricter(risk, RiskGroup(use_case.approved_risk_group))  # never less than approved on
            situation = Situation(
                status=Status(use_case.status),
                risk_group=risk,
                assessment_author=found.author,
                version=use_case.version,
                approved_version=use_case.approved_version,
                submitted_version=use_case.submitted_version,
                submitted_by=use_case.submitted_by,
                authors=authors,
                suspended_from=Status(use_case.suspended_from) if use_case.suspended_from else None,
            )
            try:
                target = next_status(action, situation)
                check_actor(action, situation, principal, await self.admin.ancestor_ids(session, use_case.org_id))
            except Refusal as refusal:
                if refusal.permission:
                    raise PermissionDenied(refusal.message, code=refusal.code) from None
                raise Conflict(refusal.message, code=refusal.code) from None
            acted_on = {
                Action.SUBMIT: use_case.version,
                Action.APPROVE: use_case.submitted_version,
                Action.RETURN: use_case.submitted_version,
                Action.WITHDRAW: use_case.submitted_version,
            }.get(action, use_case.approved_version or use_case.version)  # what runs, for the others
            if action is Action.APPROVE and request.version is None:
                raise InvalidRequest("Name the version you reviewed and approve.", param="version")
            if action is Action.APPROVE and request.assessment is not None and request.assessment != found.assessment:
                raise Conflict(
                    f"The EU AI Act assessment this approval rests on is {found.assessment}, not "
                    f"{request.assessment}: read it again.",
                    code="version_conflict",
                    param="assessment",
                )
            if request.version is not None and request.version != acted_on:
                raise Conflict(
                    f"Version {request.version} is not the one to {action.value.replace('_', ' ')} "
                    f"(that is {acted_on}).",
                    code="version_conflict",
                    param="version",
                )
            if action is Action.SUBMIT:
                latest = await self._entry(session, use_case)
                gaps = missing(latest.fields)
                if gaps:
                    raise InvalidRequest(
                        "Fill in the register before review: " + ", ".join(gaps) + ".",
                        code="incomplete_use_case",
                        param=gaps[0],
                    )
            details: dict[str, Any] = {"from": use_case.status, "to": target.value, "version": acted_on}
            if action is Action.APPROVE:  # on what it was approved: the risk group and the assessment behind it
                details |= {"risk_group": risk.value, "assessment": found.assessment}
                details |= await self._evaluated(session, use_case, decided, risk)
                use_case.approved_risk_group = risk.value
            if reason:
                details["reason"] = reason
            self._apply(use_case, action, target, principal, reason)
            await self._record(session, principal, origin, _EVENTS[action], use_case, details)
            await commit_or_conflict(session)
            return await self._entry(session, use_case)

    async def under_review(
        self, session: AsyncSession, use_case: UseCase, version: int, risk: RiskGroup | None = None
    ) -> UnderReview:
        """A version of a use case as its evaluations see it: its risk, its models and collections."""
        row = await repo.version(session, use_case.id, version)
        assert row is not None
        fields = UseCaseFields.model_validate(row.fields)
        if risk is None:
            risk = (await self._risk_for(session, use_case, version)).group
        aia = await repo.latest_assessment(session, use_case.id, "aia")
        bound = await repo.bound(session, use_case.id, "collection")
        return UnderReview(
            use_case_id=use_case.id,
            org_id=use_case.org_id,
            name=use_case.name,
            status=use_case.status,
            risk_group=risk.value,
            aia_level=int((aia.result or {}).get("level") or 0) if aia is not None else 0,
            version=version,
            approved_version=use_case.approved_version,
            submitted_version=use_case.submitted_version,
            models=tuple(fields.models),
            collections=tuple(dict.fromkeys([*fields.collections, *bound])),
        )

    async def review_facts(self, use_case_id: str, principal: Principal | None = None) -> UnderReview | None:
        """The latest version of a use case as its evaluations see it (``principal``: as they may see it)."""
        async with self.db.session() as session:
            if principal is not None:
                use_case = await self._get(session, principal, use_case_id)
            else:
                found = await session.get(UseCase, use_case_id)
                if found is None:
                    return None
                use_case = found
            return await self.under_review(session, use_case, use_case.version)

    async def _evaluated(
        self, session: AsyncSession, use_case: UseCase, version: int, risk: RiskGroup
    ) -> dict[str, Any]:
        """The approval's evaluation evidence: refused (409) while a required suite is missing, stale or below
        its threshold when enforcing; the gaps recorded with the approval when warning."""
        if self.evidence.mode == "off":
            return {}
        gaps = await self.evidence.gaps(await self.under_review(session, use_case, version, risk))
        if gaps and self.evidence.mode == "enforce":
            raise Conflict(
                "The evaluations this approval needs do not hold yet: " + "; ".join(gaps) + ".",
                code="evaluation_evidence_missing",
            )
        return {"evaluation_gaps": gaps} if gaps else {"evaluations": "held"}

    @staticmethod
    def _apply(use_case: UseCase, action: Action, target: Status, principal: Principal, reason: str) -> None:
        now = utcnow()
        if action is Action.SUBMIT:
            use_case.submitted_version, use_case.submitted_by = use_case.version, principal.id
        elif action is Action.APPROVE:
            use_case.approved_version = use_case.submitted_version
            use_case.approved_by, use_case.approved_at = principal.id, now
            use_case.submitted_version = use_case.submitted_by = None
        elif action in (Action.RETURN, Action.WITHDRAW, Action.RETIRE):
            use_case.submitted_version = use_case.submitted_by = None
        if action is Action.SUSPEND:
            use_case.suspended_from = use_case.status
        elif action in (Action.RESUME, Action.RETIRE):
            use_case.suspended_from = None
        use_case.status = target
        if action in NEEDS_REASON:
            use_case.status_reason = reason
        elif action in (Action.GO_LIVE, Action.APPROVE):
            use_case.status_reason = ""
        use_case.updated_at = now


_EVENTS = {
    Action.SUBMIT: "submitted",
    Action.WITHDRAW: "withdrawn",
    Action.RETURN: "returned",
    Action.APPROVE: "approved",
    Action.GO_LIVE: "went_live",
    Action.SUSPEND: "suspended",
    Action.RESUME: "resumed",
    Action.RETIRE: "retired",
}


def _merged(current: UseCaseFields, updates: dict[str, object]) -> UseCaseFields:
    unknown = sorted(set(updates) - set(UseCaseFields.model_fields))
    if unknown:
        raise ValidationFailed(f"Unknown field '{unknown[0]}'.", param=f"fields.{unknown[0]}")
    try:
        return UseCaseFields.model_validate(current.model_dump(mode="json") | updates)
    except ValidationError as error:
        message, param, details = describe_validation_errors([dict(e) for e in error.errors()])
        raise ValidationFailed(message, param=f"fields.{param}" if param else "fields", details=details) from None
