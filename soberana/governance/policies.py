"""The organisation's AI usage policy, generated from its live configuration and kept in versions.

An administrator generates it: the models each data classification may use and where they run, the
personal-data mode of each classification, the retention periods, the organisation's approved and live
use cases, training duties and how to report an incident (the text is :mod:`policy_pack`'s, in English,
Spanish and Icelandic; HTML and DOCX). A generation whose facts are those of the latest version gives that
version back; otherwise it is a new version, kept with the facts it was written from and their SHA-256 per
language. Another administrator approves a version (four eyes); each version shows what changed since the
last approved one. Every step is audit-logged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, require_id
from soberana.governance import policy_pack as pack
from soberana.governance import repo
from soberana.governance.enforcement import Admitted, SupplierStanding
from soberana.governance.lifecycle import Status
from soberana.governance.models import PolicyVersion, Supplier, UseCase
from soberana.governance.ports import LiveFacts
from soberana.governance.register import RegisterBase
from soberana.governance.schemas import UseCaseFields
from soberana.storage.db import commit_or_conflict

Format = Literal["html", "docx"]
_SHOWN = (Status.APPROVED, Status.LIVE, Status.SUSPENDED)


def facts_json(facts: pack.PolicyFacts) -> dict[str, Any]:
    data = asdict(facts)
    data["generated"] = facts.generated.isoformat()
    for use_case in data["use_cases"]:
        use_case["review_date"] = use_case["review_date"].isoformat() if use_case["review_date"] else None
    return data


def facts_from_json(data: dict[str, Any]) -> pack.PolicyFacts:
    return pack.PolicyFacts(
        organisation=data["organisation"],
        slug=data["slug"],
        generated=dt.date.fromisoformat(data["generated"]),
        retention=pack.Retention(**data["retention"]),
        incident_contact=data["incident_contact"],
        models=tuple(pack.AllowedModel(**m) for m in data["models"]),
        protection=tuple(pack.Protection(**p) for p in data["protection"]),
        use_cases=tuple(
            pack.UseCase(**(u | {"review_date": dt.date.fromisoformat(u["review_date"]) if u["review_date"] else None}))
            for u in data["use_cases"]
        ),
        training=tuple(pack.TrainingDuty(**t) for t in data["training"]),
    )


def _whole(days: float | None, factor: int = 1) -> int | None:
    return None if days is None else max(1, round(days * factor))


class PolicyPacks:
    def __init__(self, register: RegisterBase, facts: LiveFacts) -> None:
        self.register = register
        self.db = register.db
        self.admin = register.admin
        self.facts = facts

    @staticmethod
    def _administrator(principal: Principal) -> None:
        RegisterBase._administrator(principal, "Administrators generate and approve the AI usage policy.")

    async def _organisation(self, session: AsyncSession, principal: Principal, org_id: str) -> Any:
        require_id(org_id, "org", "organisation", param="org_id")
        visible = await self.register._visible(session, principal)
        organisation = await self.admin.public_organisation(session, org_id=org_id)
        if organisation is None or (visible is not None and org_id not in visible):
            raise NotFound(f"No organisation with id {org_id!r}.")
        return organisation

    async def _facts(self, session: AsyncSession, organisation: Any, contact: str) -> pack.PolicyFacts:
        rules = self.facts.data_rules(organisation.id)
        deployments = await self.facts.all_models(weights=False)
        suppliers = {
            name: SupplierStanding(status, review)
            for name, status, review in await session.execute(
                select(Supplier.legal_name, Supplier.status, Supplier.review_date)
            )
        }
        usable = Admitted({}, suppliers, utcnow().date())  # what enforcement lets governed traffic use
        models = tuple(
            pack.AllowedModel(rule.classification, m.alias, m.deployment, m.sovereignty, m.supplier)
            for rule in rules
            for m in deployments
            if m.sovereignty in rule.sovereignty and usable.allows(m.supplier, m.sovereignty)
        )
        kept = self.facts.retention_days(organisation.id)
        use_cases = []
        stmt = (
            select(UseCase).where(UseCase.org_id == organisation.id, UseCase.status.in_(_SHOWN)).order_by(UseCase.name)
        )
        for use_case in await session.scalars(stmt):
            approved = await repo.version(session, use_case.id, use_case.approved_version or use_case.version)
            fields = UseCaseFields.model_validate(approved.fields if approved else {"name": use_case.name})
            use_cases.append(
                pack.UseCase(
                    use_case.name,
                    use_case.status,
                    use_case.approved_risk_group or use_case.risk_group,
                    fields.senior_responsible_owner,
                    fields.review_date,
                )
            )
        return pack.PolicyFacts(
            organisation=organisation.name,
            slug=organisation.slug,
            generated=utcnow().date(),
            retention=pack.Retention(
                usage_days=_whole(kept.get("usage")),
                citizen_conversation_days=_whole(kept.get("conversations")),
                staff_conversation_days=_whole(kept.get("workspace_conversations")),
                vault_hours=_whole(kept.get("vault"), 24),
            ),
            incident_contact=contact,
            models=models,
            protection=tuple(pack.Protection(rule.classification, rule.mode) for rule in rules),
            use_cases=tuple(use_cases),
        )

    async def generate(self, principal: Principal, org_id: str, contact: str, origin: Origin) -> PolicyVersion:
        """The policy as the configuration is now: the latest version when nothing changed, else a new one."""
        self._administrator(principal)
        contact = " ".join(contact.split())
        if not contact:
            raise InvalidRequest("Say where incidents are reported (an e-mail address or a page).", param="contact")
        async with self.db.session() as session:  # read first: no write transaction while gathering
            organisation = await self._organisation(session, principal, org_id)
            facts = await self._facts(session, organisation, contact)
        digests = {language: pack.digest(facts, language) for language in pack.LANGUAGES}
        async with self.db.write_session() as session:
            latest = await self._latest(session, org_id)
            if latest is not None and latest.digests == digests:
                return latest
            row = PolicyVersion(
                id=new_id("pol"),
                org_id=org_id,
                version=(latest.version if latest else 0) + 1,
                facts=facts_json(facts),
                digests=digests,
                status="generated",
                created_by=principal.id,
                created_at=utcnow(),
            )
            session.add(row)
            await self._log(session, principal, origin, "generated", row)
            await commit_or_conflict(session, "The policy was generated meanwhile; list its versions.")
            return row

    async def approve(self, principal: Principal, org_id: str, version: int, origin: Origin) -> PolicyVersion:
        self._administrator(principal)
        async with self.db.write_session() as session:
            await self._organisation(session, principal, org_id)
            row = await self._version(session, org_id, version, lock=True)
            if row.status == "approved":
                raise Conflict(f"Version {version} is approved already.", code="already_approved")
            if row.created_by == principal.id:
                raise PermissionDenied(
                    "Another administrator approves the policy you generated.", code="approver_required"
                )
            row.status, row.approved_by, row.approved_at = "approved", principal.id, utcnow()
            await self._log(session, principal, origin, "approved", row)
            await session.commit()
            return row

    async def versions(self, principal: Principal, org_id: str) -> list[tuple[PolicyVersion, list[pack.Change]]]:
        """Every version, newest first, each with what changed since the approved one before it."""
        async with self.db.session() as session:
            await self._organisation(session, principal, org_id)
            rows = list(
                (
                    await session.scalars(
                        select(PolicyVersion).where(PolicyVersion.org_id == org_id).order_by(PolicyVersion.version)
                    )
                ).all()
            )
        shown: list[tuple[PolicyVersion, list[pack.Change]]] = []
        approved: PolicyVersion | None = None
        for row in rows:
            previous = facts_from_json(approved.facts) if approved is not None else None
            shown.append((row, pack.changes(previous, facts_from_json(row.facts))))
            if row.status == "approved":
                approved = row
        return list(reversed(shown))

    async def render(self, principal: Principal, org_id: str, version: int, language: str, form: Format) -> bytes:
        async with self.db.session() as session:
            await self._organisation(session, principal, org_id)
            row = await self._version(session, org_id, version)
        facts = facts_from_json(row.facts)
        if form == "docx":
            return pack.render_docx(facts, language)
        return pack.render_html(facts, language).encode()

    async def _latest(self, session: AsyncSession, org_id: str) -> PolicyVersion | None:
        number = await session.scalar(select(func.max(PolicyVersion.version)).where(PolicyVersion.org_id == org_id))
        return await self._version(session, org_id, int(number)) if number else None

    @staticmethod
    async def _version(session: AsyncSession, org_id: str, version: int, *, lock: bool = False) -> PolicyVersion:
        stmt = select(PolicyVersion).where(PolicyVersion.org_id == org_id, PolicyVersion.version == version)
        found = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
        if found is None:
            raise NotFound(f"The policy has no version {version}.")
        return found

    async def _log(
        self, session: AsyncSession, principal: Principal, origin: Origin, what: str, row: PolicyVersion
    ) -> None:
        await self.admin.record_change(
            session,
            principal,
            origin,
            action=f"governance.policy.{what}",
            org_id=row.org_id,
            object_type="governance_policy_version",
            object_id=row.id,
            details={"version": row.version, "sha256": row.digests.get("en")},
        )
