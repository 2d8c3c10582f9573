"""The requirements of each use case, with the evidence the platform computes live (the catalogue and its
rules are in :mod:`~soberana.governance.requirements`).

Which requirements apply follows from the use case's assessments: the EU AI Act assessment's labels (role,
risk group, transparency duties, profiling), the register's special categories of data, Canada's AIA
level, and that a Soberana organisation is a public body. People record a state for each (to do, in
progress, done, or not applicable with a reason); where the platform is the proof, the check is computed
at each reading from what runs — the organisation's retention of usage logs, the data-protection mode of
its traffic, the assistant's disclosure and hand-off to a person, the audit chain — so a requirement that
stops holding when a setting changes turns back to "to do" and is flagged. Every state change is
audit-logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from soberana.auth.principal import Origin, Principal
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound
from soberana.governance import repo
from soberana.governance import requirements as catalogue_
from soberana.governance.models import Binding, RequirementState, UseCase
from soberana.governance.ports import LiveFacts
from soberana.governance.register import RegisterBase
from soberana.governance.schemas import UseCaseFields

STRICT_AIA_LEVEL = 3  # Canada's AIA levels III and IV: operators trained for the system (Appendix C)


@dataclass(frozen=True)
class RequirementView:
    outcome: catalogue_.Outcome
    manual: str
    reason: str
    updated_by: str | None


class Compliance:
    def __init__(self, register: RegisterBase, facts: LiveFacts) -> None:
        self.register = register
        self.db = register.db
        self.facts = facts

    async def _labels(self, use_case: UseCase, fields: UseCaseFields, ai_act: Any, aia: Any) -> dict[str, object]:
        walked = (ai_act.result if ai_act is not None else {}) or {}
        found = dict(walked.get("labels") or {}) if walked.get("complete") else {}
        transparency = found.get("transparency") or []
        answers = ai_act.answers if ai_act is not None else {}
        level = (aia.result or {}).get("level") if aia is not None else 0
        return {
            "risk_group": use_case.risk_group,
            "role": found.get("role"),
            "transparency": list(transparency) if isinstance(transparency, list) else [transparency],
            "public_body": True,  # an organisation of a Soberana installation is a public administration
            "special_categories": bool(fields.special_categories),
            "profiling": None if "profiling" not in answers else answers["profiling"] == "yes",
            "aia_level": int(level or 0),
        }

    async def _evidence(self, use_case: UseCase, kinds: set[str], oversight: bool) -> catalogue_.Evidence:
        kept = self.facts.retention_days(use_case.org_id).get("usage")
        # the rule of the classification its traffic gets by default (a request may only state a higher one)
        mode = next((rule.mode for rule in self.facts.data_rules(use_case.org_id) if rule.default), None)
        assistant = "collection" in kinds
        return catalogue_.Evidence(
            usage_retention_days=None if kept is None else int(kept),
            usage_retention_forever=kept is None,
            # the citizen assistant says it is an AI system on every page, above every answer
            assistant_discloses_ai=True if assistant else None,
            answers_marked_ai=True if assistant else None,
            personal_data_mode=mode,
            handoff_available=True if assistant else None,
            audit_chain_verified=await self.facts.audit_chain_verified(),
            incident_reporting_available=True,  # the register takes incidents from staff, citizens and the API
            # the training records: every person of the organisation, the oversight course where the risk needs it
            training_complete=await self.facts.training_complete(use_case.org_id, oversight=oversight),
        )

    async def review(self, principal: Principal, use_case_id: str) -> list[RequirementView]:
        """Every requirement that applies to the use case now, with its check and the state shown."""
        catalogue = catalogue_.load()
        async with self.db.session() as session:
            use_case = await self.register._get(session, principal, use_case_id)
            latest = await repo.version(session, use_case.id, use_case.version)
            assert latest is not None
            fields = UseCaseFields.model_validate(latest.fields)
            ai_act = await repo.latest_assessment(session, use_case.id, "eu_ai_act")
            aia = await repo.latest_assessment(session, use_case.id, "aia")
            states = {
                s.requirement: s
                for s in await session.scalars(
                    select(RequirementState).where(RequirementState.use_case_id == use_case.id)
                )
            }
            kinds = set(await session.scalars(select(Binding.kind).where(Binding.use_case_id == use_case.id)))
        labels = await self._labels(use_case, fields, ai_act, aia)
        level = labels["aia_level"]
        strict = labels["risk_group"] == "high_risk" or (isinstance(level, int) and level >= STRICT_AIA_LEVEL)
        evidence = await self._evidence(use_case, kinds, strict)
        manual = {key: state.state for key, state in states.items()}
        return [
            RequirementView(
                outcome,
                manual.get(outcome.requirement.id, "to_do"),
                states[outcome.requirement.id].reason if outcome.requirement.id in states else "",
                states[outcome.requirement.id].updated_by if outcome.requirement.id in states else None,
            )
            for outcome in catalogue_.review(catalogue, labels, evidence, manual)
        ]

    async def record(
        self, principal: Principal, use_case_id: str, requirement_id: str, state: str, reason: str, origin: Origin
    ) -> RequirementView:
        """Record what people did about one requirement (``not_applicable`` needs the reason)."""
        self.register._keeper(principal)
        catalogue = catalogue_.load()
        if catalogue.get(requirement_id) is None:
            raise NotFound(f"No requirement {requirement_id!r} in the catalogue.")
        reason = " ".join(reason.split())
        if state == "not_applicable" and not reason:
            raise InvalidRequest("Say why the requirement does not apply.", param="reason")
        if all(v.outcome.requirement.id != requirement_id for v in await self.review(principal, use_case_id)):
            raise InvalidRequest(
                f"The requirement {requirement_id!r} does not apply to this use case as it is assessed.",
                code="requirement_not_applicable",
                param="requirement",
            )
        async with self.db.write_session() as session:
            use_case = await self.register._get(session, principal, use_case_id, lock=True)
            stmt = select(RequirementState).where(
                RequirementState.use_case_id == use_case.id, RequirementState.requirement == requirement_id
            )
            row = (await session.scalars(stmt)).first()
            previous = row.state if row is not None else "to_do"
            if row is None:
                row = RequirementState(id=new_id("req"), use_case_id=use_case.id, requirement=requirement_id)
                session.add(row)
            row.state, row.reason, row.catalogue = state, reason, catalogue.stamp
            row.updated_by, row.updated_at = principal.id, utcnow()
            details = {"requirement": requirement_id, "from": previous, "to": state, "reason": reason}
            await self.register._record(session, principal, origin, "requirement_recorded", use_case, details)
            await session.commit()
        found = [v for v in await self.review(principal, use_case_id) if v.outcome.requirement.id == requirement_id]
        return found[0]
