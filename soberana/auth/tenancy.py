"""Tenancy: which organisations a principal may see, and changes recorded in the audit log.

Every method that reads or changes tenant data first works out which organisations the principal
may see — its own and those nested below it; all of them for a platform administrator — and asks
the repository only for rows inside that set. An object outside it is reported as *not found*, so
one organisation cannot even learn whether another's objects exist. Every change is written to
the audit log in the same transaction as the change itself.

:class:`TenantScope` is the base of the administration services (organisations, people, keys);
other capabilities use its public methods (:meth:`~TenantScope.visible_org_ids`,
:meth:`~TenantScope.record_change`, :meth:`~TenantScope.public_organisation`) through
:class:`~soberana.auth.service.AdminService`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.service import AuditLog
from soberana.auth import repo
from soberana.auth.models import ApiKey, Organisation, ServiceAccount, User
from soberana.auth.principal import Origin, Principal, Role, Scope
from soberana.errors import NotFound, require_id
from soberana.storage.db import commit_or_conflict, conflicts_as

FILTER_ID_PREFIXES = {
    "org_id": ("org", "organisation"),
    "parent_id": ("org", "organisation"),
    "user_id": ("usr", "user"),
    "service_account_id": ("svc", "service account"),
}
ID_PREFIXES = {
    Organisation: ("org", "organisation"),
    User: ("usr", "user"),
    ServiceAccount: ("svc", "service account"),
    ApiKey: ("key", "API key"),
}


def changes(obj: Any, updates: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply ``updates`` to ``obj``; return ``{field: {"from", "to"}}`` for the fields that changed."""
    changed = {}
    for name, value in updates.items():
        value = str(value) if isinstance(value, Role) else value
        if getattr(obj, name) != value:
            changed[name] = {"from": getattr(obj, name), "to": value}
            setattr(obj, name, value)
    return changed


class TenantScope:
    """What every administration service shares: the visible organisations, scoped reads, audited commits."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        #: Called after any change that can affect who may authenticate (see Authenticator.forget).
        self.on_change: list[Callable[[], None]] = []

    async def visible_org_ids(self, session: AsyncSession, principal: Principal) -> frozenset[str] | None:
        """Organisations ``principal`` may see: ``None`` means all of them."""
        if principal.is_platform_admin:
            return None
        assert principal.org_id is not None
        return await repo.subtree_ids(session, principal.org_id)

    async def public_organisation(
        self, session: AsyncSession, *, org_id: str | None = None, slug: str | None = None
    ) -> Organisation | None:
        """An active organisation by id or slug, with no authorisation: only for what is public anyway
        (the name and slug of the organisation behind a public assistant)."""
        org = await repo.org_by_slug(session, slug) if slug else await session.get(Organisation, org_id or "")
        return org if org is not None and org.is_active else None

    async def public_organisations(self, session: AsyncSession, org_ids: Collection[str]) -> dict[str, Organisation]:
        """The active ones of ``org_ids``, by id, in one query (what the public home page lists)."""
        return {org.id: org for org in await repo.organisations(session, org_ids) if org.is_active}

    async def subject_org(self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str) -> str:
        """The organisation of an organisation (``subject_type="organisation"``) or API key the caller
        administers — what per-organisation or per-key settings (quotas, policies) are filed under."""
        principal.require(Scope.ADMIN)
        if subject_type == "organisation":
            return (await self._get(session, principal, Organisation, subject_id)).id
        return (await self._get(session, principal, ApiKey, subject_id)).org_id

    async def organisation_parents(self, session: AsyncSession) -> dict[str, str | None]:
        """The whole organisation tree, ``{organisation: parent}``, with no authorisation: for rules that
        flow down the tree (data-protection policies), never shown to anyone."""
        return await repo.organisation_parents(session)

    async def ancestor_ids(self, session: AsyncSession, org_id: str) -> list[str]:
        """``org_id`` and the organisations above it, nearest first (whose policies bind it)."""
        return [org.id for org in await repo.ancestors(session, org_id)]

    async def _get(
        self, session: AsyncSession, principal: Principal, model: type[repo.M], obj_id: str, *, param: str | None = None
    ) -> repo.M:
        prefix, noun = ID_PREFIXES[model]
        require_id(obj_id, prefix, noun, param=param)
        obj = await repo.get_scoped(session, model, obj_id, await self.visible_org_ids(session, principal))
        if obj is None:
            raise NotFound(f"No {noun} with id {obj_id!r}.", param=param)
        return obj

    async def _page(
        self,
        session: AsyncSession,
        principal: Principal,
        model: type[repo.M],
        *,
        limit: int,
        after: str | None,
        **filters: Any,
    ) -> tuple[list[repo.M], bool]:
        prefix, noun = ID_PREFIXES[model]
        if after:
            require_id(after, prefix, noun, param="after")
        for name, value in filters.items():
            if value:
                require_id(value, *FILTER_ID_PREFIXES[name], param=name)
        org_ids = await self.visible_org_ids(session, principal)
        return await repo.list_scoped(session, model, org_ids, limit=limit, after=after, filters=filters)

    async def record_change(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        *,
        action: str,
        object_type: str | None,
        object_id: str | None,
        org_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record a change ``principal`` made in the audit log, in the transaction that makes it."""
        event = principal.event(
            action, origin, org_id=org_id, object_type=object_type, object_id=object_id, details=details
        )
        await self.audit.append(session, event)

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        action: str,
        obj: Organisation | User | ServiceAccount | ApiKey,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.record_change(
            session,
            principal,
            origin,
            action=action,
            org_id=obj.id if isinstance(obj, Organisation) else obj.org_id,
            object_type=type(obj).__tablename__.removesuffix("s"),
            object_id=obj.id,
            details=details,
        )

    @staticmethod
    async def _add(session: AsyncSession, obj: object, conflict_message: str) -> None:
        """Add ``obj`` and flush it: a unique name taken meanwhile is a :class:`Conflict`, not an error."""
        async with conflicts_as(session, conflict_message):
            session.add(obj)
            await session.flush()

    async def _commit(self, session: AsyncSession, conflict_message: str = "Conflicting change.") -> None:
        await commit_or_conflict(session, conflict_message)
        for listener in self.on_change:
            listener()
