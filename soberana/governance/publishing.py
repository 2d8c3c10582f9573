"""Public transparency records of live use cases: written from the register and what runs, reviewed, then
published for anyone to read without signing in (the layout and its schema are in
:mod:`~soberana.governance.transparency`).

A record is written as a **draft** (the register's approved version, the models and where they run, the
figures of the last 30 days, incidents), **approved** by an administrator of the organisation who did not
write it, then **published**; the one published before becomes ``superseded``. Each keeps a fingerprint
of what ran when it was written — the approved version, the state, the models' deployments and where they
run, the weights loaded — and is shown **out of date** when that changes, until a new one is published.
Every step is audit-logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import Conflict, NotFound, PermissionDenied, require_id
from soberana.governance import transparency
from soberana.governance.lifecycle import RUNNING, RiskGroup, Status
from soberana.governance.models import Binding, Incident, TransparencyRecord, UseCase
from soberana.governance.ports import LiveFacts, ModelFact
from soberana.governance.register import RegisterBase
from soberana.governance.schemas import UseCaseFields
from soberana.storage.db import commit_or_conflict
from soberana.storage.limits import RateLimiter

PERIOD = dt.timedelta(days=30)
PUBLIC = RUNNING
RecordAction = Literal["approve", "publish"]


@dataclass(frozen=True)
class Published:
    """A record as it is shown: the stored version, and whether what runs has changed since."""

    row: TransparencyRecord
    out_of_date: bool

    def record(self, language: str) -> dict[str, Any]:
        found: dict[str, Any] = self.row.record.get(language) or self.row.record["en"]
        return found


class Transparency:
    def __init__(self, register: RegisterBase, facts: LiveFacts, readers: RateLimiter) -> None:
        self.register = register
        self.db = register.db
        self.admin = register.admin
        self.facts = facts
        self.readers = readers  # the public side: per client address

    # -- what runs --------------------------------------------------------------------------------------

    async def _approved_fields(self, session: AsyncSession, use_case: UseCase) -> UseCaseFields:
        from soberana.governance import repo

        assert use_case.approved_version is not None
        found = await repo.version(session, use_case.id, use_case.approved_version)
        assert found is not None
        return UseCaseFields.model_validate(found.fields)

    async def _models(self, fields: UseCaseFields) -> list[ModelFact]:
        return await self.facts.models(fields.models)

    @staticmethod
    def _fingerprint(use_case: UseCase, models: list[ModelFact]) -> str:
        runs = {
            "approved_version": use_case.approved_version,
            "status": use_case.status,
            "models": sorted(
                [m.alias, m.deployment, m.model, m.sovereignty, m.supplier or "", m.weights_sha256 or ""]
                for m in models
            ),
        }
        return hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()

    async def _record_facts(
        self, principal: Principal, use_case_id: str
    ) -> tuple[UseCase, transparency.RecordFacts, str]:
        """The facts of a record of the use case, now: what the register holds is read first, then what
        the gateway and the assistants did (no transaction is held while they count: they may write)."""
        async with self.db.session() as session:
            use_case = await self._public_use_case(session, principal, use_case_id)
            fields = await self._approved_fields(session, use_case)
            bindings = [
                (kind, subject)
                for kind, subject in await session.execute(
                    select(Binding.kind, Binding.subject_id).where(Binding.use_case_id == use_case.id)
                )
            ]
            total, still_open = (
                await session.execute(
                    select(func.count(), func.count().filter(Incident.status != "closed")).where(
                        Incident.use_case_id == use_case.id
                    )
                )
            ).one()
            organisation = await self.admin.public_organisation(session, org_id=use_case.org_id)
        assert organisation is not None and use_case.approved_at is not None and use_case.approved_version
        models = await self._models(fields)
        now = utcnow()
        since = now - PERIOD
        traffic = await self.facts.traffic(use_case.org_id, bindings, since)
        facts = transparency.RecordFacts(
            organisation_name=organisation.name,
            organisation_slug=organisation.slug,
            use_case_id=use_case.id,
            fields=fields,
            status=Status(use_case.status),
            risk_group=RiskGroup(use_case.approved_risk_group or use_case.risk_group),
            approved_version=use_case.approved_version,
            approved_at=use_case.approved_at,
            last_change=use_case.updated_at,
            models=tuple(
                transparency.ModelUse(m.alias, m.model or m.deployment, m.sovereignty, "", m.weights_sha256)  # type: ignore[arg-type]
                for m in models
            ),
            requests=traffic.requests,
            people_served=traffic.people,
            handoff_rate=traffic.handoffs / traffic.conversations if traffic.conversations else None,
            helpful_rate=traffic.helpful / traffic.ratings if traffic.ratings else None,
            ratings=traffic.ratings,
            incidents_open=int(still_open),
            incidents_total=int(total),
            period_start=since.date(),
            period_end=now.date(),
        )
        return use_case, facts, self._fingerprint(use_case, models)

    async def _public_use_case(self, session: AsyncSession, principal: Principal, use_case_id: str) -> UseCase:
        use_case = await self.register._get(session, principal, use_case_id)
        if use_case.status not in PUBLIC or use_case.approved_version is None:
            raise Conflict(
                f"A transparency record is written for an approved or live use case, not a {use_case.status} one.",
                code="not_public",
            )
        return use_case

    # -- the records ------------------------------------------------------------------------------------

    async def draft(self, principal: Principal, use_case_id: str, origin: Origin) -> TransparencyRecord:
        """A new draft of the use case's record, written from the register and what runs now."""
        self.register._keeper(principal)
        use_case, facts, fingerprint = await self._record_facts(principal, use_case_id)
        async with self.db.write_session() as session:
            versions = {language: transparency.record(facts, language) for language in transparency.LANGUAGES}
            for written in versions.values():
                transparency.validate(written)
            number = int(
                await session.scalar(
                    select(func.coalesce(func.max(TransparencyRecord.version), 0)).where(
                        TransparencyRecord.use_case_id == use_case.id
                    )
                )
                or 0
            )
            row = TransparencyRecord(
                id=new_id("tr"),
                org_id=use_case.org_id,
                use_case_id=use_case.id,
                version=number + 1,
                status="draft",
                record=versions,
                fingerprint=fingerprint,
                created_by=principal.id,
                created_at=utcnow(),
            )
            session.add(row)
            await self._log(session, principal, origin, "drafted", row)
            await commit_or_conflict(session, "Another draft was written meanwhile; list the records again.")
            return row

    async def act(
        self, principal: Principal, record_id: str, action: RecordAction, origin: Origin
    ) -> TransparencyRecord:
        """Approve a draft (an administrator who did not write it), or publish an approved record."""
        self.register._administrator(principal, "Administrators approve and publish transparency records.")
        async with self.db.write_session() as session:
            row = await self._row(session, principal, record_id, lock=True)
            if action == "approve":
                if row.status != "draft":
                    raise Conflict(f"Only a draft is approved; this record is {row.status}.", code="not_a_draft")
                if row.created_by == principal.id:
                    raise PermissionDenied(
                        "Another person approves the record you wrote (four eyes).", code="approver_required"
                    )
                row.status, row.approved_by, row.approved_at = "approved", principal.id, utcnow()
            else:
                # one publication at a time per use case, and only of a use case that still runs
                use_case = await session.get(UseCase, row.use_case_id, with_for_update=True, populate_existing=True)
                if use_case is None or use_case.status not in PUBLIC:
                    status = use_case.status if use_case is not None else "gone"
                    raise Conflict(f"The use case is {status}: its record is not published.", code="not_public")
                if row.status != "approved":
                    raise Conflict(
                        f"Only an approved record is published; this one is {row.status}.", code="not_approved"
                    )
                earlier = await session.scalars(
                    select(TransparencyRecord).where(
                        TransparencyRecord.use_case_id == row.use_case_id, TransparencyRecord.status == "published"
                    )
                )
                for previous in earlier:
                    previous.status = "superseded"
                row.status, row.published_at = "published", utcnow()
            await self._log(session, principal, origin, "approved" if action == "approve" else "published", row)
            await session.commit()
            return row

    async def _row(
        self, session: AsyncSession, principal: Principal, record_id: str, *, lock: bool = False
    ) -> TransparencyRecord:
        require_id(record_id, "tr", "transparency record")
        visible = await self.register._visible(session, principal)
        row = await session.get(TransparencyRecord, record_id, with_for_update=lock, populate_existing=lock)
        if row is None or (visible is not None and row.org_id not in visible):
            raise NotFound(f"No transparency record with id {record_id!r}.")
        return row

    async def records(self, principal: Principal, use_case_id: str) -> list[Published]:
        """Every version of a use case's record, newest first, each with whether it is out of date."""
        async with self.db.session() as session:
            use_case = await self.register._get(session, principal, use_case_id)
            rows = list(
                (
                    await session.scalars(
                        select(TransparencyRecord)
                        .where(TransparencyRecord.use_case_id == use_case.id)
                        .order_by(TransparencyRecord.version.desc())
                    )
                ).all()
            )
            current = await self._current_fingerprint(session, use_case)
        return [Published(row, row.fingerprint != current) for row in rows]

    async def _current_fingerprint(self, session: AsyncSession, use_case: UseCase) -> str:
        if use_case.approved_version is None:
            return ""
        return self._fingerprint(use_case, await self._models(await self._approved_fields(session, use_case)))

    async def export(
        self, principal: Principal, use_case_id: str, layout: Literal["atrs", "algoritmeregister"]
    ) -> dict[str, Any]:
        """The use case's record, from what runs now, in the ATRS v3 or the Algoritmeregister v1.0 layout."""
        _, facts, _ = await self._record_facts(principal, use_case_id)
        if layout == "atrs":
            return transparency.atrs_layout(facts)
        return transparency.algoritmeregister_layout(facts)

    # -- the public side (no sign-in) -------------------------------------------------------------------

    async def published(
        self, org_slug: str, origin: Origin, use_case_id: str | None = None
    ) -> tuple[str, list[Published]]:
        """The organisation's name and its published records (of one use case, or all), each flagged when
        what runs changed since; an organisation that is unknown or inactive has none (404). Anyone may
        read them, so many times a minute from one address (then 429)."""
        await self.readers.hit(origin.ip)
        async with self.db.session() as session:
            organisation = await self.admin.public_organisation(session, slug=org_slug)
            if organisation is None:
                raise NotFound(f"No organisation {org_slug!r}.")
            stmt = (
                select(TransparencyRecord, UseCase)
                .join(UseCase, UseCase.id == TransparencyRecord.use_case_id)
                .where(TransparencyRecord.org_id == organisation.id, TransparencyRecord.status == "published")
                .order_by(UseCase.name)
            )
            if use_case_id is not None:
                stmt = stmt.where(TransparencyRecord.use_case_id == use_case_id)
            found = []
            for row, use_case in (await session.execute(stmt)).all():
                if use_case.status == Status.RETIRED:
                    continue
                found.append(Published(row, row.fingerprint != await self._current_fingerprint(session, use_case)))
        if use_case_id is not None and not found:
            raise NotFound(f"No published record of {use_case_id!r}.")
        return organisation.name, found

    async def _log(
        self, session: AsyncSession, principal: Principal, origin: Origin, what: str, row: TransparencyRecord
    ) -> None:
        await self.admin.record_change(
            session,
            principal,
            origin,
            action=f"governance.transparency_record.{what}",
            org_id=row.org_id,
            object_type="governance_transparency_record",
            object_id=row.id,
            details={"use_case": row.use_case_id, "version": row.version, "status": row.status},
        )
