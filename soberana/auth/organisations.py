"""Administration of organisations: nested agencies, each seen by its own administrators and those above."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth import repo
from soberana.auth.models import Organisation
from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.schemas import OrganisationCreate, OrganisationUpdate
from soberana.auth.tenancy import TenantScope, changes
from soberana.core.ids import new_id
from soberana.errors import Conflict, InvalidRequest, NotFound, PermissionDenied

MAX_ORG_DEPTH = 8


class OrganisationAdmin(TenantScope):
    """Organisations within the caller's scope."""

    async def list_organisations(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        parent_id: str | None = None,
    ) -> tuple[list[Organisation], bool]:
        principal.require(Scope.ADMIN)
        return await self._page(session, principal, Organisation, limit=limit, after=after, parent_id=parent_id)

    async def get_organisation(self, session: AsyncSession, principal: Principal, org_id: str) -> Organisation:
        principal.require(Scope.ADMIN)
        return await self._get(session, principal, Organisation, org_id)

    async def organisation_by_slug(self, session: AsyncSession, principal: Principal, slug: str) -> Organisation:
        principal.require(Scope.ADMIN)
        org = await repo.org_by_slug(session, slug)
        visible = await self.visible_org_ids(session, principal)
        if org is None or (visible is not None and org.id not in visible):
            raise NotFound(f"No organisation with slug {slug!r}.")
        return org

    async def create_organisation(
        self, session: AsyncSession, principal: Principal, data: OrganisationCreate, origin: Origin = Origin()
    ) -> Organisation:
        principal.require(Scope.ADMIN)
        if data.parent_id is None:
            if not principal.is_platform_admin:
                raise PermissionDenied(
                    "Only platform administrators create top-level organisations; "
                    "give a parent_id within your organisation."
                )
        else:
            await self._get(session, principal, Organisation, data.parent_id, param="parent_id")
            if len(await repo.ancestors(session, data.parent_id)) >= MAX_ORG_DEPTH:
                raise InvalidRequest(f"Organisations nest at most {MAX_ORG_DEPTH} levels deep.", param="parent_id")
        if await repo.org_by_slug(session, data.slug) is not None:
            raise Conflict(f"An organisation with slug {data.slug!r} already exists.", param="slug")
        org = Organisation(
            id=new_id("org"), slug=data.slug, name=data.name, kind=data.kind, parent_id=data.parent_id, is_active=True
        )
        await self._add(session, org, f"An organisation with slug {data.slug!r} already exists.")
        await self._record(
            session,
            principal,
            origin,
            "organisation.create",
            org,
            {"slug": org.slug, "name": org.name, "kind": org.kind, "parent_id": org.parent_id},
        )
        await self._commit(session, f"An organisation with slug {data.slug!r} already exists.")
        return org

    async def update_organisation(
        self,
        session: AsyncSession,
        principal: Principal,
        org_id: str,
        data: OrganisationUpdate,
        origin: Origin = Origin(),
    ) -> Organisation:
        principal.require(Scope.ADMIN)
        org = await self._get(session, principal, Organisation, org_id)
        if data.is_active is False and org.id == principal.org_id:
            raise PermissionDenied("You cannot deactivate your own organisation.")
        changed = changes(org, data.model_dump(exclude_none=True))
        if changed:
            await self._record(session, principal, origin, "organisation.update", org, {"changes": changed})
            await self._commit(session)
        return org
