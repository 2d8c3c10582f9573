"""The administration console's people pages: organisations (add, deactivate) and users (add, change role,
deactivate)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.principal import Role, Scope
from soberana.auth.schemas import OrganisationCreate, OrganisationUpdate, UserCreate, UserUpdate
from soberana.auth.service import AdminService
from soberana.errors import InvalidRequest
from soberana.web.ui import Page, PageContext, get_services

router = APIRouter(include_in_schema=False)


def _kind_names(page: PageContext) -> dict[str, str]:
    _ = page.t.gettext
    return {
        "ministry": _("Ministry"),
        "agency": _("Agency"),
        "city": _("City or municipality"),
        "region": _("Region"),
        "public_body": _("Other public body"),
        "other": _("Other"),
    }


def _role_names(page: PageContext) -> dict[str, str]:
    _ = page.t.gettext
    return {
        Role.STAFF: _("Staff"),
        Role.AUDITOR: _("Auditor"),
        Role.ORG_ADMIN: _("Organisation administrator"),
        Role.PLATFORM_ADMIN: _("Platform administrator"),
    }


async def _people_page(request: Request, page: PageContext, status_code: int = 200) -> Response:
    admin: AdminService = get_services(request).admin
    principal = page.principal
    principal.require(Scope.ADMIN)
    async with get_services(request).db.session() as session:
        organisations, _ = await admin.list_organisations(session, principal, limit=500)
        users, _ = await admin.list_users(session, principal, limit=500)
    names = {o.id: o.name for o in organisations}
    roles = [Role.STAFF, Role.AUDITOR, Role.ORG_ADMIN] + ([Role.PLATFORM_ADMIN] if principal.is_platform_admin else [])
    return page.render(
        "console_people.html",
        status_code=status_code,
        section="people",
        organisations=organisations,
        users=users,
        org_names=names,
        roles=roles,
        role_names=_role_names(page),
        kind_names=_kind_names(page),
        top_level=principal.is_platform_admin,
    )


@router.get("/console/people")
async def people(request: Request, page: Page) -> Response:
    return await _people_page(request, page)


@router.post("/console/people")
async def create_user(
    request: Request,
    page: Page,
    org_id: Annotated[str, Form(max_length=64)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "staff",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page.check_form(csrf_token)
    admin: AdminService = get_services(request).admin
    try:
        data = UserCreate(
            org_id=org_id, email=email.strip(), display_name=display_name.strip(), role=role, password=password or None
        )
    except ValidationError:
        raise InvalidRequest(
            page.t.gettext(
                "Give a valid e-mail address, a name, a role, and a password of 12 characters or more (or none)."
            ),
            param="email",
        ) from None
    async with get_services(request).db.write_session() as session:
        await admin.create_user(session, page.principal, data, get_origin(request))
    return page.redirect("/console/people?created=1")


@router.post("/console/people/{user_id}")
async def update_user(
    user_id: str,
    request: Request,
    page: Page,
    role: Annotated[str | None, Form(max_length=20)] = None,
    active: Annotated[str | None, Form(max_length=5)] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Change a user's role, or deactivate / reactivate them (their keys and sessions stop at once)."""
    page.check_form(csrf_token)
    admin: AdminService = get_services(request).admin
    try:
        data = UserUpdate(role=role or None, is_active=None if active is None else active == "true")
    except ValidationError:
        raise InvalidRequest(page.t.gettext("Choose one of the roles offered."), param="role") from None
    async with get_services(request).db.write_session() as session:
        await admin.update_user(session, page.principal, user_id, data, get_origin(request))
    return page.redirect("/console/people?updated=1")


@router.post("/console/organisations")
async def create_organisation(
    request: Request,
    page: Page,
    name: Annotated[str, Form(max_length=200)] = "",
    slug: Annotated[str, Form(max_length=63)] = "",
    kind: Annotated[str, Form(max_length=20)] = "other",
    parent_id: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """An organisation within one of yours (platform administrators may also add a top-level one)."""
    page.check_form(csrf_token)
    admin: AdminService = get_services(request).admin
    try:
        data = OrganisationCreate(name=name, slug=slug.strip(), kind=kind, parent_id=parent_id or None)
    except ValidationError:
        raise InvalidRequest(
            page.t.gettext(
                "Give a name, a short name of lower-case letters, digits and hyphens, and one of the kinds offered."
            ),
            param="slug",
        ) from None
    async with get_services(request).db.write_session() as session:
        await admin.create_organisation(session, page.principal, data, get_origin(request))
    return page.redirect("/console/people?org_created=1")


@router.post("/console/organisations/{org_id}")
async def update_organisation(
    org_id: str,
    request: Request,
    page: Page,
    active: Annotated[str, Form(max_length=5)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Deactivate an organisation (its users and keys are refused at once) or reactivate it."""
    page.check_form(csrf_token)
    if active not in ("true", "false"):
        raise InvalidRequest(page.t.gettext("Choose to deactivate or to reactivate."), param="active")
    admin: AdminService = get_services(request).admin
    async with get_services(request).db.write_session() as session:
        await admin.update_organisation(
            session, page.principal, org_id, OrganisationUpdate(is_active=active == "true"), get_origin(request)
        )
    return page.redirect("/console/people?org_updated=1")
