"""The register of AI use cases: each belongs to an organisation, every change is a new version kept
forever, and a second person approves a version before the use case runs (the rules are in
:mod:`~soberana.governance.lifecycle`). Every change and decision is written to the audit log in the
transaction that makes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import ADMIN_ROLES, Origin, Principal, Role, Scope
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    ValidationFailed,
    describe_validation_errors,
    require_id,
)
from soberana.governance import ai_act, aia, repo
from soberana.governance.incidents import Incidents
from soberana.governance.lifecycle import (
    EDITABLE,
    NEEDS_REASON,
    Action,
    Refusal,
    RiskGroup,
    Situation,
    Status,
    check_actor,
    next_status,
)
from soberana.governance.models import Assessment, UseCase, UseCaseVersion
from soberana.governance.schemas import ReviewAction, UseCaseChange, UseCaseCreate, UseCaseFields, missing
from soberana.governance.suppliers import Suppliers
from soberana.storage.db import Database, commit_or_conflict, conflicts_as


@dataclass(frozen=True)
class Entry:
    """A use case with the fields of its latest version."""

    use_case: UseCase
    fields: UseCaseFields


@dataclass(frozen=True)
class AiaView:
    """An AIA assessment with its use case and the questionnaire in use now."""

    assessment: Assessment
    use_case: UseCase
    questionnaire: aia.Questionnaire


@dataclass(frozen=True)
class AiActView:
    """An EU AI Act assessment with its use case, the tree in use now and where the answers lead in it."""

    assessment: Assessment
    use_case: UseCase
    tree: ai_act.Tree
    walk: ai_act.Walk


_STRICTNESS = {
    RiskGroup.MINIMAL: 0,
    RiskGroup.TRANSPARENCY: 1,
    RiskGroup.UNASSESSED: 2,
    RiskGroup.HIGH_RISK: 2,
    RiskGroup.PROHIBITED: 3,
}


def stricter(first: RiskGroup, second: RiskGroup) -> RiskGroup:
    """The risk group that asks more of its reviewer (the first when they ask the same)."""
    return second if _STRICTNESS[second] > _STRICTNESS[first] else first


@dataclass(frozen=True)
class Risk:
    """The risk group a decision rests on, and the assessment it comes from (its version and author)."""

    group: RiskGroup
    assessment: int | None
    author: str | None


def risk_group_of(labels: Mapping[str, str | list[str]]) -> RiskGroup:
    """The register's risk group for the labels of a complete EU AI Act assessment; labels it does not
    know leave the use case unassessed (the strictest reviewer decides)."""
    group = labels.get("risk_group")
    if group == "prohibited":
        return RiskGroup.PROHIBITED
    if group == "high_risk":
        return RiskGroup.HIGH_RISK
    if group == "minimal" or labels.get("type") == "not_ai_system":
        return RiskGroup.TRANSPARENCY if labels.get("transparency") else RiskGroup.MINIMAL
    return RiskGroup.UNASSESSED


def _walk_record(walk: ai_act.Walk) -> dict[str, Any]:
    return {
        "complete": walk.complete,
        "pending": walk.pending,
        "labels": walk.labels,
        "conclusion": walk.conclusion,
        "path": [list(step) for step in walk.path],
        "dropped": walk.dropped,
        "obligations": [o.id for o in walk.obligations],
    }


class GovernanceService:
    def __init__(
        self,
        db: Database,
        admin: AdminService,
        aia_dir: Path | None = None,
        ai_act_dates: Mapping[str, dt.date] | None = None,
        ai_act_tree: Path = ai_act.EU_AI_ACT,
    ) -> None:
        self.db = db
        self.admin = admin
        self.aia_dir = aia_dir
        self.ai_act_dates = dict(ai_act_dates or {})
        self.ai_act_tree = ai_act_tree
        self.incidents = Incidents(db, self)
        self.suppliers = Suppliers(db, admin)

    # -- reading -------------------------------------------------------------------------------------

    async def _visible(self, session: AsyncSession, principal: Principal) -> frozenset[str] | None:
        principal.require(Scope.GOVERNANCE, "The register of AI use cases")
        return await self.admin.visible_org_ids(session, principal)

    async def _get(
        self, session: AsyncSession, principal: Principal, use_case_id: str, *, lock: bool = False
    ) -> UseCase:
        require_id(use_case_id, "uc", "use case")
        visible = await self._visible(session, principal)
        found = await session.get(UseCase, use_case_id, with_for_update=lock, populate_existing=lock)
        if found is None or (visible is not None and found.org_id not in visible):
            raise NotFound(f"No use case with id {use_case_id!r}.")
        return found

    async def _entry(self, session: AsyncSession, use_case: UseCase) -> Entry:
        latest = await repo.version(session, use_case.id, use_case.version)
        assert latest is not None
        return Entry(use_case, UseCaseFields.model_validate(latest.fields))

    async def list_use_cases(
        self, principal: Principal, *, status: Status | None = None, limit: int = 50, after: str | None = None
    ) -> list[Entry]:
        if after:
            require_id(after, "uc", "use case", param="after")
        async with self.db.session() as session:
            visible = await self._visible(session, principal)
            found = await repo.use_cases(session, visible, status=status, limit=limit, after=after)
            return [await self._entry(session, use_case) for use_case in found]

    async def get(self, principal: Principal, use_case_id: str) -> Entry:
        async with self.db.session() as session:
            return await self._entry(session, await self._get(session, principal, use_case_id))

    async def versions(self, principal: Principal, use_case_id: str) -> list[UseCaseVersion]:
        async with self.db.session() as session:
            await self._get(session, principal, use_case_id)
            return await repo.versions(session, use_case_id)

    async def version(self, principal: Principal, use_case_id: str, number: int) -> UseCaseVersion:
        async with self.db.session() as session:
            await self._get(session, principal, use_case_id)
            found = await repo.version(session, use_case_id, number)
            if found is None:
                raise NotFound(f"Use case {use_case_id!r} has no version {number}.")
            return found

    # -- changing ------------------------------------------------------------------------------------

    @staticmethod
    def _writer(principal: Principal) -> None:
        principal.require(Scope.GOVERNANCE, "Changing the register of AI use cases")
        if principal.role is Role.AUDITOR:
            raise PermissionDenied("Auditors read the register; they do not change it.", code="read_only")

    @classmethod
    def _keeper(cls, principal: Principal) -> None:
        """Who may change a use case: a person (not an auditor); a service account changes none, so that
        no one passes for two people at a review."""
        cls._writer(principal)
        if principal.kind not in ("user", "cli"):
            raise PermissionDenied(
                "The register is kept by people: a service account reports incidents, it does not change use cases.",
                code="person_required",
            )

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
                raise Conflict(_not_editable(use_case), code="not_editable")
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
                use_case.approved_risk_group = risk.value
            if reason:
                details["reason"] = reason
            self._apply(use_case, action, target, principal, reason)
            await self._record(session, principal, origin, _EVENTS[action], use_case, details)
            await commit_or_conflict(session)
            return await self._entry(session, use_case)

    # -- assessments ---------------------------------------------------------------------------------

    async def questionnaire(self) -> aia.Questionnaire:
        """Canada's AIA questionnaire, read once, in a worker thread (503 ``aia_not_configured`` when none
        is set)."""
        if self.aia_dir is None:
            raise ServiceUnavailable(
                "Canada's Algorithmic Impact Assessment is not set up here (SOBERANA_GOVERNANCE_AIA_DIR).",
                code="aia_not_configured",
            )
        return await anyio.to_thread.run_sync(aia.Questionnaire.load, self.aia_dir)

    async def assess_aia(
        self, principal: Principal, use_case_id: str, answers: dict[str, object], origin: Origin
    ) -> AiaView:
        """Score ``answers`` and keep them as the use case's next AIA assessment."""
        self._keeper(principal)
        questionnaire = await self.questionnaire()
        result = aia.score(questionnaire, answers)  # refuses unknown questions and choices
        async with self.db.write_session() as session:
            use_case = await self._get(session, principal, use_case_id, lock=True)
            if use_case.status == Status.RETIRED:
                raise Conflict("A retired use case is not assessed.", code="not_editable")
            if use_case.submitted_version is not None:  # the reviewer decides on the assessment they read
                raise Conflict(_not_editable(use_case), code="not_editable")
            previous = await repo.latest_assessment(session, use_case.id, "aia")
            row = Assessment(
                id=new_id("asm"),
                use_case_id=use_case.id,
                kind="aia",
                version=(previous.version if previous else 0) + 1,
                use_case_version=use_case.version,
                questionnaire=questionnaire.version,
                answers=aia.check_answers(questionnaire, answers),
                result=dataclasses.asdict(result),
                author=principal.id,
                created_at=utcnow(),
            )
            async with conflicts_as(session, "Someone assessed this use case meanwhile; read it again."):
                session.add(row)
                await session.flush()
            details = {"version": row.version, "level": result.level_name, "total": result.total}
            await self._record(session, principal, origin, "aia_assessed", use_case, details)
            await commit_or_conflict(session)
            return AiaView(row, use_case, questionnaire)

    async def aia_assessment(self, principal: Principal, use_case_id: str) -> AiaView:
        questionnaire = await self.questionnaire()
        async with self.db.session() as session:
            use_case = await self._get(session, principal, use_case_id)
            found = await repo.latest_assessment(session, use_case.id, "aia")
            if found is None:
                raise NotFound(f"Use case {use_case_id!r} has no Algorithmic Impact Assessment yet.")
            return AiaView(found, use_case, questionnaire)

    # -- the EU AI Act -------------------------------------------------------------------------------

    async def tree(self) -> ai_act.Tree:
        return await anyio.to_thread.run_sync(ai_act.load, self.ai_act_tree)

    async def decision_tree(self, principal: Principal) -> ai_act.Tree:
        """The EU AI Act tree, for someone who may use the register."""
        principal.require(Scope.GOVERNANCE, "The EU AI Act assessment")
        return await self.tree()

    async def assess_ai_act(
        self,
        principal: Principal,
        use_case_id: str,
        answers: dict[str, object],
        justifications: dict[str, object],
        origin: Origin,
    ) -> AiActView:
        """Walk ``answers`` through the EU AI Act tree and keep the path's answers as the use case's next
        assessment; a complete one sets the use case's risk group."""
        self._keeper(principal)
        tree = await self.tree()
        checked = ai_act.check(tree, answers, justifications)
        reasons = {k: " ".join(str(v).split()) for k, v in justifications.items()}
        result = ai_act.walk(tree, checked, reasons, self.ai_act_dates)
        on_path = {q for q, _ in result.path}
        async with self.db.write_session() as session:
            use_case = await self._get(session, principal, use_case_id, lock=True)
            if use_case.status == Status.RETIRED:
                raise Conflict("A retired use case is not assessed.", code="not_editable")
            if use_case.submitted_version is not None:  # the reviewer decides on the assessment they read
                raise Conflict(_not_editable(use_case), code="not_editable")
            previous = await repo.latest_assessment(session, use_case.id, "eu_ai_act")
            # a reviewer's override holds while the answers lead to the same labels
            row = Assessment(
                id=new_id("asm"),
                use_case_id=use_case.id,
                kind="eu_ai_act",
                version=(previous.version if previous else 0) + 1,
                use_case_version=use_case.version,
                questionnaire=tree.stamp,
                answers={
                    "answers": {q: a for q, a in checked.items() if q in on_path or q == result.pending},
                    "justifications": {q: r for q, r in reasons.items() if q in on_path and r},
                },
                result=_walk_record(result),
                author=principal.id,
                created_at=utcnow(),
            )
            async with conflicts_as(session, "Someone assessed this use case meanwhile; read it again."):
                session.add(row)
                await session.flush()
            use_case.risk_group = (await self._risk_for(session, use_case, use_case.version)).group
            details = {"version": row.version, "conclusion": result.conclusion, "dropped": result.dropped}
            await self._record(session, principal, origin, "ai_act_assessed", use_case, details)
            await commit_or_conflict(session)
            return AiActView(row, use_case, tree, result)

    async def ai_act_assessment(self, principal: Principal, use_case_id: str) -> AiActView:
        tree = await self.tree()
        async with self.db.session() as session:
            use_case = await self._get(session, principal, use_case_id)
            found = await repo.latest_assessment(session, use_case.id, "eu_ai_act")
            if found is None:
                raise NotFound(f"Use case {use_case_id!r} has no EU AI Act assessment yet.")
            saved = found.answers
            result = ai_act.walk(tree, saved.get("answers", {}), saved.get("justifications", {}), self.ai_act_dates)
            return AiActView(found, use_case, tree, result)

    async def override_risk(
        self, principal: Principal, use_case_id: str, risk_group: RiskGroup, justification: str, origin: Origin
    ) -> AiActView:
        """A reviewer sets the risk group against the assessment's, with a justification (kept, audit-logged).
        Only a reviewer of the strictest kind may: a platform administrator or an administrator above."""
        self._keeper(principal)
        reason = " ".join(justification.split())
        if not reason:
            raise InvalidRequest("Say why the assessment's risk group is overridden.", param="justification")
        tree = await self.tree()
        async with self.db.write_session() as session:
            use_case = await self._get(session, principal, use_case_id, lock=True)
            chain = await self.admin.ancestor_ids(session, use_case.org_id)
            if not (principal.is_platform_admin or (principal.role in ADMIN_ROLES and principal.org_id in chain[1:])):
                raise PermissionDenied(
                    "A risk group is overridden by a platform administrator or an administrator of an "
                    "organisation above this one.",
                    code="approver_required",
                )
            previous = await repo.latest_assessment(session, use_case.id, "eu_ai_act")
            current = (
                previous is not None
                and previous.result.get("complete")
                and previous.use_case_version == use_case.version
                and previous.questionnaire == tree.stamp
            )
            if previous is None or not current:
                raise Conflict(
                    "Override a complete EU AI Act assessment of the use case's latest version, made with the "
                    "decision tree in use: assess it again first.",
                    code="assessment_incomplete",
                )
            override = {"risk_group": risk_group.value, "justification": reason, "by": principal.id}
            row = Assessment(
                id=new_id("asm"),
                use_case_id=use_case.id,
                kind="eu_ai_act",
                version=previous.version + 1,
                use_case_version=use_case.version,
                questionnaire=previous.questionnaire,
                answers=previous.answers,
                result=dict(previous.result) | {"override": override},
                author=principal.id,
                created_at=utcnow(),
            )
            async with conflicts_as(session, "Someone assessed this use case meanwhile; read it again."):
                session.add(row)
                await session.flush()
            details = {"from": use_case.risk_group, "to": risk_group.value, "justification": reason}
            use_case.risk_group = (await self._risk_for(session, use_case, use_case.version)).group
            await self._record(session, principal, origin, "risk_overridden", use_case, details)
            await commit_or_conflict(session)
            saved = row.answers
            result = ai_act.walk(tree, saved.get("answers", {}), saved.get("justifications", {}), self.ai_act_dates)
            return AiActView(row, use_case, tree, result)

    async def _risk_for(self, session: AsyncSession, use_case: UseCase, version: int) -> Risk:
        """The risk group a decision on ``version`` rests on:

        - the latest EU AI Act assessment's, or the override a reviewer made on it, when it is complete,
          assessed that version and was made with the decision tree in use; otherwise ``unassessed``, so
          that the strictest reviewer decides;
        - never less strict than the latest override that raised it: a reviewer's stricter judgement holds
          until a reviewer of the same kind lowers it again (a new answer set does not lift it).
        """
        tree = await self.tree()
        rows = await repo.assessments(session, use_case.id, "eu_ai_act")  # newest first
        latest = rows[0] if rows else None
        group, used, author = RiskGroup.UNASSESSED, None, None
        if (
            latest is not None
            and latest.result.get("complete")
            and latest.use_case_version == version
            and latest.questionnaire == tree.stamp
        ):
            override = latest.result.get("override")
            group = RiskGroup(override["risk_group"]) if override else risk_group_of(latest.result.get("labels", {}))
            used, author = latest.version, latest.author
        last_override = next((r.result["override"] for r in rows if r.result.get("override")), None)
        if last_override is not None:
            group = stricter(group, RiskGroup(last_override["risk_group"]))
        return Risk(group, used, author)

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

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        what: str,
        use_case: UseCase,
        details: dict[str, Any],
    ) -> None:
        await self.admin.record_change(
            session,
            principal,
            origin,
            action=f"governance.use_case.{what}",
            org_id=use_case.org_id,
            object_type="governance_use_case",
            object_id=use_case.id,
            details=details,
        )


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


def _not_editable(use_case: UseCase) -> str:
    if use_case.submitted_version is not None:
        return f"Version {use_case.submitted_version} is in review: return it before changing the use case."
    return f"A use case that is {use_case.status} cannot be changed."


def _merged(current: UseCaseFields, updates: dict[str, object]) -> UseCaseFields:
    unknown = sorted(set(updates) - set(UseCaseFields.model_fields))
    if unknown:
        raise ValidationFailed(f"Unknown field '{unknown[0]}'.", param=f"fields.{unknown[0]}")
    try:
        return UseCaseFields.model_validate(current.model_dump(mode="json") | updates)
    except ValidationError as error:
        message, param, details = describe_validation_errors([dict(e) for e in error.errors()])
        raise ValidationFailed(message, param=f"fields.{param}" if param else "fields", details=details) from None
