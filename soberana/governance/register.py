"""The register's reading side and the rules every change shares: which use cases a principal sees, who
may change them, and how a change is written to the audit log (:class:`RegisterBase`, the base of
:class:`~soberana.governance.service.GovernanceService`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import ADMIN_ROLES, Origin, Principal, Role, Scope
from soberana.auth.service import AdminService
from soberana.errors import (
    NotFound,
    PermissionDenied,
    require_id,
)
from soberana.governance import ai_act, repo
from soberana.governance.enforcement import ChangeFeed
from soberana.governance.lifecycle import (
    Status,
)
from soberana.governance.models import UseCase, UseCaseVersion
from soberana.governance.schemas import UseCaseFields
from soberana.storage.db import Database

#: The changes that alter what run-time enforcement allows (a state, the approved version, the risk group,
#: a binding): each process reloads after one of them, and after nothing else.
ENFORCED = frozenset(
    {
        "submitted",
        "withdrawn",
        "returned",
        "approved",
        "went_live",
        "suspended",
        "resumed",
        "retired",
        "ai_act_assessed",
        "risk_overridden",
        "bound",
        "unbound",
    }
)


@dataclass(frozen=True)
class Entry:
    """A use case with the fields of its latest version."""

    use_case: UseCase
    fields: UseCaseFields


class RegisterBase:
    def __init__(
        self,
        db: Database,
        admin: AdminService,
        aia_dir: Path | None = None,
        ai_act_dates: Mapping[str, dt.date] | None = None,
        ai_act_tree: Path = ai_act.EU_AI_ACT,
        *,
        feed: ChangeFeed,
    ) -> None:
        self.db = db
        self.admin = admin
        self.aia_dir = aia_dir
        self.ai_act_dates = dict(ai_act_dates or {})
        self.ai_act_tree = ai_act_tree
        self.feed = feed  # told when a change commits: run-time enforcement reloads

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

    @classmethod
    def _administrator(cls, principal: Principal, what: str) -> None:
        """An administrator of the organisation (or above), a person: ``what`` says what they alone do."""
        cls._keeper(principal)
        if principal.role not in ADMIN_ROLES:
            raise PermissionDenied(what, code="admin_required")

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        what: str,
        use_case: UseCase,
        details: dict[str, Any],
    ) -> None:
        if what in ENFORCED:
            await self.feed.noted(session)
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


def not_editable(use_case: UseCase) -> str:
    if use_case.submitted_version is not None:
        return f"Version {use_case.submitted_version} is in review: return it before changing the use case."
    return f"A use case that is {use_case.status} cannot be changed."
