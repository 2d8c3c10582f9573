"""Assessments of a use case: Canada's Algorithmic Impact Assessment and the EU AI Act decision tree, and
the risk group a decision on a use case rests on (:class:`Assessing`, a part of
:class:`~soberana.governance.service.GovernanceService`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import ADMIN_ROLES, Origin, Principal, Scope
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from soberana.governance import ai_act, aia, repo
from soberana.governance.lifecycle import (
    RiskGroup,
    Status,
)
from soberana.governance.models import Assessment, UseCase
from soberana.governance.register import RegisterBase, not_editable
from soberana.storage.db import commit_or_conflict, conflicts_as


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


class Assessing(RegisterBase):
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

    async def _assessable(self, session: AsyncSession, principal: Principal, use_case_id: str) -> UseCase:
        """The use case, locked, if it may be assessed now: not retired, and no version in review (the
        reviewer decides on the assessments they read)."""
        use_case = await self._get(session, principal, use_case_id, lock=True)
        if use_case.status == Status.RETIRED:
            raise Conflict("A retired use case is not assessed.", code="not_editable")
        if use_case.submitted_version is not None:
            raise Conflict(not_editable(use_case), code="not_editable")
        return use_case

    async def assess_aia(
        self, principal: Principal, use_case_id: str, answers: dict[str, object], origin: Origin
    ) -> AiaView:
        """Score ``answers`` and keep them as the use case's next AIA assessment."""
        self._keeper(principal)
        questionnaire = await self.questionnaire()
        result = aia.score(questionnaire, answers)  # refuses unknown questions and choices
        async with self.db.write_session() as session:
            use_case = await self._assessable(session, principal, use_case_id)
            previous = await repo.latest_assessment(session, use_case.id, "aia")
            row = await _add_assessment(
                session,
                use_case,
                "aia",
                previous,
                questionnaire.version,
                dict(aia.check_answers(questionnaire, answers)),
                dataclasses.asdict(result),
                principal,
            )
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
            use_case = await self._assessable(session, principal, use_case_id)
            previous = await repo.latest_assessment(session, use_case.id, "eu_ai_act")
            path_answers = {
                "answers": {q: a for q, a in checked.items() if q in on_path or q == result.pending},
                "justifications": {q: r for q, r in reasons.items() if q in on_path and r},
            }
            row = await _add_assessment(
                session, use_case, "eu_ai_act", previous, tree.stamp, path_answers, _walk_record(result), principal
            )
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
            record = dict(previous.result) | {"override": override}
            row = await _add_assessment(
                session, use_case, "eu_ai_act", previous, previous.questionnaire, previous.answers, record, principal
            )
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


async def _add_assessment(
    session: AsyncSession,
    use_case: UseCase,
    kind: str,
    previous: Assessment | None,
    questionnaire: str,
    answers: dict[str, Any],
    result: dict[str, Any],
    author: Principal,
) -> Assessment:
    """The use case's next assessment of ``kind``, of its latest version (one made meanwhile is a 409)."""
    row = Assessment(
        id=new_id("asm"),
        use_case_id=use_case.id,
        kind=kind,
        version=(previous.version if previous else 0) + 1,
        use_case_version=use_case.version,
        questionnaire=questionnaire,
        answers=answers,
        result=result,
        author=author.id,
        created_at=utcnow(),
    )
    async with conflicts_as(session, "Someone assessed this use case meanwhile; read it again."):
        session.add(row)
        await session.flush()
    return row
