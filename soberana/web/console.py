"""The administration console: API keys (a new key is shown once; revoke)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.key_admin import key_status
from soberana.auth.principal import Scope
from soberana.auth.schemas import ApiKeyCreate
from soberana.auth.service import AdminService
from soberana.errors import InvalidRequest
from soberana.web.ui import Page, PageContext, get_services

router = APIRouter(include_in_schema=False)
SCOPES = (Scope.INFERENCE, Scope.KNOWLEDGE, Scope.AUDIT, Scope.ADMIN)


def _priority_label(page: PageContext, value: str) -> str:
    _ = page.t.gettext
    return {
        "critical": _("Critical (public services first)"),
        "interactive": _("Interactive"),
        "batch": _("Batch (served last)"),
    }.get(value, value)


async def _keys_page(
    request: Request, page: PageContext, created: tuple[str, str] | None = None, status_code: int = 200
) -> Response:
    admin: AdminService = get_services(request).admin
    principal = page.principal
    principal.require(Scope.ADMIN)
    async with get_services(request).db.session() as session:
        keys, _ = await admin.list_keys(session, principal, limit=200)
        users, _ = await admin.list_users(session, principal, limit=200)
        accounts, _ = await admin.list_service_accounts(session, principal, limit=200)
    owners = {u.id: u.display_name for u in users} | {a.id: a.name for a in accounts}
    # a person's keys are theirs to create (their account page); only a platform administrator may make one for
    # someone else, which is recorded and shown to them
    key_users = users if principal.is_platform_admin else []
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "prefix": k.prefix,
            "owner": owners.get(k.user_id or k.service_account_id or "", "—"),
            "scopes": k.scopes,
            "priority": k.priority,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
            "status": key_status(k),
        }
        for k in keys
    ]
    return page.render(
        "console_keys.html",
        status_code=status_code,
        section="console",
        keys=rows,
        users=key_users,
        accounts=accounts,
        scopes=SCOPES,
        created=created,
        default_priority=get_services(request).settings.default_priority,
        priority_label=lambda value: _priority_label(page, value),
    )


@router.get("/console/keys")
async def keys(request: Request, page: Page) -> Response:
    return await _keys_page(request, page)


@router.post("/console/keys")
async def create_key(
    request: Request,
    page: Page,
    name: Annotated[str, Form(max_length=100)] = "",
    owner: Annotated[str, Form(max_length=64)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    priority: Annotated[str, Form(max_length=12)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Create a key; the page that answers shows it this once (it is never stored, only its digest)."""
    page.check_form(csrf_token)
    admin: AdminService = get_services(request).admin
    owner_field = "service_account_id" if owner.startswith("svc_") else "user_id"
    try:
        data = ApiKeyCreate.model_validate(
            {
                "name": name.strip(),
                owner_field: owner,
                "scopes": scopes or ["inference"],
                "priority": priority or None,
            }
        )
    except ValidationError:
        raise InvalidRequest(
            page.t.gettext("Give the key a name, an owner and at least one use."), param="name"
        ) from None
    async with get_services(request).db.write_session() as session:
        key, plaintext = await admin.create_key(session, page.principal, data, get_origin(request))
    return await _keys_page(request, page, created=(key.name, plaintext), status_code=201)


@router.post("/console/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, page: Page, csrf_token: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf_token)
    admin: AdminService = get_services(request).admin
    async with get_services(request).db.write_session() as session:
        await admin.revoke_key(session, page.principal, key_id, get_origin(request))
    return page.redirect("/console/keys?revoked=1")
