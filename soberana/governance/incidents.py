"""Incidents with AI use cases: reported by staff or through the API, triaged (open → investigating →
mitigated → closed), with a severity and, for a serious incident (EU AI Act Art. 3(49)), the deadline of
its report to the market surveillance authority (Art. 73): 15 days after the organisation became aware of
it, 10 days in the event of a person's death, 2 days for a widespread infringement or a serious and
irreversible disruption of critical infrastructure. A use case can be suspended from its incident in one
step; an incident is exported for the authority as JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import ADMIN_ROLES, Origin, Principal, Scope, system_principal
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, require_id
from soberana.governance import repo
from soberana.governance.lifecycle import Action
from soberana.governance.models import Binding, Incident, UseCase
from soberana.governance.schemas import IncidentChange, IncidentReport, ReviewAction
from soberana.storage.db import Database, commit_or_conflict

if TYPE_CHECKING:
    from soberana.governance.service import GovernanceService

#: Days to report a serious incident (Art. 73(2)-(4)), by its kind.
REPORT_DAYS = {"death": 10, "widespread_or_critical_infrastructure": 2, "other": 15}
#: The moves of triage; a closed incident may be opened again (investigating).
MOVES = {
    "open": {"investigating", "mitigated", "closed"},
    "investigating": {"mitigated", "closed"},
    "mitigated": {"investigating", "closed"},
    "closed": {"investigating"},
}


def deadline(aware_at: dt.datetime, kind: str | None) -> dt.datetime | None:
    """When a serious incident of ``kind`` must have been reported (None: not serious)."""
    return None if kind is None else aware_at + dt.timedelta(days=REPORT_DAYS[kind])


class Incidents:
    """The incident log of the register (through :class:`~soberana.governance.service.GovernanceService`)."""

    def __init__(self, db: Database, governance: GovernanceService) -> None:
        self.db = db
        self.governance = governance

    async def _get(
        self, principal: Principal, session: AsyncSession, incident_id: str, *, lock: bool = False
    ) -> Incident:
        require_id(incident_id, "inc", "incident")
        principal.require(Scope.GOVERNANCE, "Incidents")
        visible = await self.governance.admin.visible_org_ids(session, principal)
        found = await session.get(Incident, incident_id, with_for_update=lock, populate_existing=lock)
        if found is None or (visible is not None and found.org_id not in visible):
            raise NotFound(f"No incident with id {incident_id!r}.")
        return found

    async def report(self, principal: Principal, use_case_id: str, report: IncidentReport, origin: Origin) -> Incident:
        """A new incident with a use case, open: staff, administrators or an integration's service account."""
        self.governance._writer(principal)  # anyone but an auditor; a service account reports through the API
        now = utcnow()
        async with self.db.write_session() as session:
            use_case: UseCase = await self.governance._get(session, principal, use_case_id)
            if "serious_kind" in report.model_fields_set and not report.serious:
                raise InvalidRequest("A kind of serious incident is given with `serious: true`.", param="serious_kind")
            aware = report.aware_at or now
            if aware > now + dt.timedelta(minutes=5):
                raise InvalidRequest("An incident is not known before it happens.", param="aware_at")
            kind = report.serious_kind if report.serious else None
            incident = Incident(
                id=new_id("inc"),
                org_id=use_case.org_id,
                use_case_id=use_case.id,
                title=report.title,
                description=report.description,
                severity=report.severity,
                serious_kind=kind,
                status="open",
                source="api" if principal.kind == "service_account" else "staff",
                reported_by=principal.id,
                aware_at=aware,
                report_due=deadline(aware, kind),
                history=[{"at": now.isoformat(), "by": principal.id, "status": "open", "note": ""}],
                created_at=now,
                updated_at=now,
            )
            session.add(incident)
            await self.governance._record(
                session,
                principal,
                origin,
                "incident_reported",
                use_case,
                {"incident": incident.id, "severity": incident.severity, "serious": kind},
            )
            await commit_or_conflict(session)
            return incident

    async def from_citizen(self, collection_id: str, org_id: str, conversation_id: str, description: str) -> str | None:
        """A problem a citizen reports on a public assistant: an open incident with the use case the
        assistant is bound to (its id, the citizen's reference), or ``None`` when it is bound to none."""
        now = utcnow()
        async with self.db.write_session() as session:
            stmt = select(Binding).where(Binding.kind == "collection", Binding.subject_id == collection_id)
            binding = (await session.scalars(stmt)).first()
            use_case = await session.get(UseCase, binding.use_case_id) if binding is not None else None
            if use_case is None or use_case.org_id != org_id:
                return None
            incident = Incident(
                id=new_id("inc"),
                org_id=use_case.org_id,
                use_case_id=use_case.id,
                title="Problem reported by a citizen on the assistant",
                description=description,
                severity="medium",
                serious_kind=None,
                status="open",
                source="citizen",
                reported_by="citizen",
                aware_at=now,
                report_due=None,
                history=[{"at": now.isoformat(), "by": "citizen", "status": "open", "note": conversation_id}],
                created_at=now,
                updated_at=now,
            )
            session.add(incident)
            reporter = system_principal(org_id, None, "citizen-report")
            details = {"incident": incident.id, "severity": "medium", "serious": None, "conversation": conversation_id}
            await self.governance._record(session, reporter, Origin(), "incident_reported", use_case, details)
            await session.commit()
            return incident.id

    async def list_incidents(
        self, principal: Principal, *, status: str | None, use_case_id: str | None, limit: int, after: str | None
    ) -> list[Incident]:
        principal.require(Scope.GOVERNANCE, "Incidents")
        if use_case_id:
            require_id(use_case_id, "uc", "use case", param="use_case_id")
        if after:
            require_id(after, "inc", "incident", param="after")
        async with self.db.session() as session:
            visible = await self.governance.admin.visible_org_ids(session, principal)
            return await repo.incidents(
                session, visible, status=status, use_case_id=use_case_id, limit=limit, after=after
            )

    async def get(self, principal: Principal, incident_id: str) -> Incident:
        async with self.db.session() as session:
            return await self._get(principal, session, incident_id)

    async def change(self, principal: Principal, incident_id: str, change: IncidentChange, origin: Origin) -> Incident:
        """Triage: a new state, severity or seriousness, the date it was reported to the authority, a note;
        every change kept in the incident's history and the audit log."""
        self.governance._writer(principal)
        now = utcnow()
        async with self.db.write_session() as session:
            incident = await self._get(principal, session, incident_id, lock=True)
            before = {"status": incident.status, "severity": incident.severity, "serious": incident.serious_kind}
            longer = (
                change.serious_kind is not None
                and incident.serious_kind is not None
                and REPORT_DAYS[change.serious_kind] > REPORT_DAYS[incident.serious_kind]
            )
            if (
                incident.serious_kind
                and not _administrator(principal)
                and (
                    change.serious is False
                    or change.status == "closed"
                    or longer
                    or change.reported_to_authority_at is not None
                )
            ):
                raise PermissionDenied(
                    "A serious incident is declared less serious, reported or closed by an administrator.",
                    code="approver_required",
                )
            if change.serious_kind and not (change.serious or (change.serious is None and incident.serious_kind)):
                raise InvalidRequest("A kind of serious incident is given with `serious: true`.", param="serious_kind")
            if change.reported_to_authority_at is not None and not (
                incident.aware_at <= change.reported_to_authority_at <= now + dt.timedelta(minutes=5)
            ):
                raise InvalidRequest(
                    "The report to the authority is dated between the incident and now.",
                    param="reported_to_authority_at",
                )
            if change.status and change.status != incident.status:
                if change.status not in MOVES[incident.status]:
                    raise Conflict(
                        f"An incident that is {incident.status} cannot become {change.status}.",
                        code="invalid_transition",
                        param="status",
                    )
                incident.status = change.status
            if change.severity:
                incident.severity = change.severity
            if change.serious is not None:
                kind = (change.serious_kind or incident.serious_kind or "other") if change.serious else None
                incident.serious_kind = kind
                incident.report_due = deadline(incident.aware_at, kind)
            elif change.serious_kind and incident.serious_kind:
                incident.serious_kind = change.serious_kind
                incident.report_due = deadline(incident.aware_at, change.serious_kind)
            if change.reported_to_authority_at is not None:
                incident.reported_to_authority_at = change.reported_to_authority_at
            after = {"status": incident.status, "severity": incident.severity, "serious": incident.serious_kind}
            entry = {"at": now.isoformat(), "by": principal.id, "status": incident.status, "note": change.note}
            incident.history = [*incident.history, entry]
            incident.updated_at = now
            use_case = await session.get(UseCase, incident.use_case_id)
            assert use_case is not None
            details = {"incident": incident.id, "from": before, "to": after}
            await self.governance._record(session, principal, origin, "incident_changed", use_case, details)
            await commit_or_conflict(session)
            return incident

    async def suspend_use_case(self, principal: Principal, incident_id: str, reason: str, origin: Origin) -> Incident:
        """Suspend the incident's use case (the register's rules apply: an administrator of its organisation
        or one above, a reason) and note it on the incident."""
        async with self.db.session() as session:
            incident = await self._get(principal, session, incident_id)
        why = f"Incident {incident.id}: {' '.join(reason.split())}" if reason.strip() else ""
        await self.governance.act(
            principal, incident.use_case_id, ReviewAction(action=Action.SUSPEND, reason=why), origin
        )
        note = IncidentChange(note=f"Use case suspended: {' '.join(reason.split())}")
        return await self.change(principal, incident_id, note, origin)

    async def export(self, principal: Principal, incident_id: str) -> dict[str, Any]:
        """What a report to the market surveillance authority needs (Art. 73), as data."""
        async with self.db.session() as session:
            incident = await self._get(principal, session, incident_id)
            use_case = await session.get(UseCase, incident.use_case_id)
            assert use_case is not None
            entry = await self.governance._entry(session, use_case)
            org = await self.governance.admin.public_organisation(session, org_id=incident.org_id)
        fields = entry.fields
        return {
            "object": "governance.incident_report",
            "regulation": "Regulation (EU) 2024/1689, Art. 73",
            "organisation": {"id": incident.org_id, "name": org.name if org else None},
            "system": {
                "use_case_id": use_case.id,
                "name": fields.name,
                "description": fields.description,
                "models": fields.models,
                "suppliers": fields.suppliers,
                "risk_group": use_case.risk_group,
                "status": use_case.status,
                "contact_email": fields.contact_email,
            },
            "incident": {
                "id": incident.id,
                "title": incident.title,
                "description": incident.description,
                "severity": incident.severity,
                "serious": incident.serious_kind is not None,
                "serious_kind": incident.serious_kind,
                "aware_at": incident.aware_at.isoformat(),
                "report_due": incident.report_due.isoformat() if incident.report_due else None,
                "reported_to_authority_at": (
                    incident.reported_to_authority_at.isoformat() if incident.reported_to_authority_at else None
                ),
                "status": incident.status,
                "history": incident.history,
            },
        }


def _administrator(principal: Principal) -> bool:
    return principal.kind in ("user", "cli") and (principal.is_platform_admin or principal.role in ADMIN_ROLES)
