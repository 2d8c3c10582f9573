"""A person's own account: their API keys — created by them (a new key is shown once), listed with who
created each, revoked by them; keys a platform administrator created for them are marked — and their
password, which only they change (their other sessions end)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.key_admin import key_status
from soberana.auth.principal import Scope
from soberana.auth.schemas import ApiKeyCreate
from soberana.errors import InvalidRequest
from soberana.web.security import SESSION_COOKIE, secure_cookies
from soberana.web.ui import Page, PageContext, Services, get_services

router = APIRouter(include_in_schema=False)
SCOPES = (Scope.INFERENCE, Scope.KNOWLEDGE, Scope.AUDIT, Scope.ADMIN)


async def _page(
    request: Request, page: PageContext, created: tuple[str, str] | None = None, status_code: int = 200
) -> Response:
    services = get_services(request)
    principal = page.principal
    async with services.db.session() as session:
        keys = await services.admin.own_keys(session, principal)
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "prefix": k.prefix,
            "scopes": k.scopes,
            "created_at": k.created_at,
            "by_another": k.created_by != principal.id,
            "last_used_at": k.last_used_at,
            "status": key_status(k),
        }
        for k in keys
    ]
    return page.render(
        "account_keys.html",
        status_code=status_code,
        section="account",
        keys=rows,
        scopes=[s for s in SCOPES if principal.can(s)],
        created=created,
    )


@router.get("/account/keys")
async def keys(request: Request, page: Page) -> Response:
    return await _page(request, page)


@router.post("/account/keys")
async def create_key(
    request: Request,
    page: Page,
    services: Services,
    name: Annotated[str, Form(max_length=100)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """A key of your own; the page that answers shows it this once."""
    page.check_form(csrf_token)
    principal = page.principal
    try:
        data = ApiKeyCreate.model_validate(
            {"name": name.strip(), "user_id": principal.id, "scopes": scopes or ["inference"]}
        )
    except ValidationError:
        raise InvalidRequest(page.t.gettext("Give the key a name and at least one use."), param="name") from None
    async with services.db.write_session() as session:
        key, plaintext = await services.admin.create_key(session, principal, data, get_origin(request))
    return await _page(request, page, created=(key.name, plaintext), status_code=201)


@router.post("/account/keys/{key_id}/revoke")
async def revoke_key(
    key_id: str, request: Request, page: Page, services: Services, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    page.check_form(csrf_token)
    async with services.db.write_session() as session:
        await services.admin.revoke_key(session, page.principal, key_id, get_origin(request))
    return page.redirect("/account/keys?revoked=1")


@router.post("/account/password")
async def change_password(
    request: Request,
    page: Page,
    services: Services,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Your own password: the current one proves it is you. Every other browser is signed out; this one
    gets a fresh session."""
    page.check_form(csrf_token)
    principal, origin = page.principal, get_origin(request)
    async with services.db.write_session() as session:
        await services.admin.change_own_password(session, principal, current_password, new_password, origin)
    token, _ = await services.sessions.create(principal, origin.ip)
    response = page.redirect("/account/keys?password=changed")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(page.settings),
        max_age=int(page.settings.web_session_hours * 3600),
    )
    return response
