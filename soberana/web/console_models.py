"""The administration console's models page: every model and where its deployments run; platform
administrators add, switch and remove deployments; administrators set the quotas of the organisations
below theirs and of their keys (a key's priority class is chosen when it is created, on the keys page).

Forms post here and come back to the page; a refused change re-renders the form with what was typed
and the reason, in the page's language.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.key_admin import key_status
from soberana.auth.principal import Scope
from soberana.auth.service import AdminService
from soberana.errors import SoberanaError
from soberana.gateway.admin import GatewayAdmin, quota_out
from soberana.gateway.schemas import QuotaValues
from soberana.gateway.service import GatewayService
from soberana.settings import ALL_SOVEREIGNTY, DeploymentConfig
from soberana.web.ui import Page, PageContext, get_services
from soberana.web.workspace import sovereignty_label

router = APIRouter(include_in_schema=False)
QUOTA_FIELDS = tuple(QuotaValues.model_fields)
DEPLOYMENT_NUMBERS = ("order", "max_concurrency", "context_length", "price_input_per_mtok", "price_output_per_mtok")


async def _page(
    request: Request,
    page: PageContext,
    *,
    deployment_form: dict[str, Any] | None = None,
    deployment_error: str | None = None,
    quota_form: dict[str, Any] | None = None,
    quota_error: str | None = None,
    status_code: int = 200,
) -> Response:
    admin: AdminService = get_services(request).admin
    gateway: GatewayService = get_services(request).gateway_service
    gateway_admin: GatewayAdmin = get_services(request).gateway_admin
    principal = page.principal
    principal.require(Scope.ADMIN)
    entries: list[dict[str, Any]] = [
        {
            "alias": e.alias,
            "description": e.description,
            "strategy": e.strategy.name,
            "deployments": [
                {"name": d.name, "sovereignty": d.config.sovereignty, "capabilities": d.config.capabilities}
                for d in e.deployments
            ],
        }
        for e in gateway.catalog.entries()
    ]
    async with get_services(request).db.session() as session:
        deployments = await gateway_admin.list_deployments(session, principal) if principal.is_platform_admin else []
        quotas = [quota_out(q) for q in await gateway_admin.list_quotas(session, principal)]
        organisations, _ = await admin.list_organisations(session, principal, limit=500)
        keys, _ = await admin.list_keys(session, principal, limit=500)
    # An organisation's own quota is set by the one above it: offer the organisations below yours.
    subjects = [
        (f"organisation:{o.id}", o.name)
        for o in organisations
        if principal.is_platform_admin or o.id != principal.org_id
    ] + [(f"api_key:{k.id}", f"{k.name} ({k.prefix})") for k in keys if key_status(k) == "active"]
    return page.render(
        "console_models.html",
        status_code=status_code,
        section="models",
        entries=entries,
        deployments=deployments,
        quotas=quotas,
        org_names={o.id: o.name for o in organisations},
        key_names={k.id: f"{k.name} ({k.prefix})" for k in keys},
        subjects=subjects,
        providers=gateway.catalog.provider_kinds(),
        sovereignties=ALL_SOVEREIGNTY,
        sovereignty_label=lambda value: sovereignty_label(page, value),
        deployment_form=deployment_form or {"capabilities": ["chat"], "sovereignty": "on_premises"},
        deployment_error=deployment_error,
        quota_form=quota_form or {},
        quota_error=quota_error,
    )


@router.get("/console/models")
async def models(request: Request, page: Page) -> Response:
    return await _page(request, page)


def _problem(page: PageContext, error: ValidationError) -> str:
    """The first problem of a form, named by its field."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ()))
    return page.t.gettext("Check the field “%(field)s”: %(problem)s") % {"field": field, "problem": first["msg"]}


@router.post("/console/models/deployments")
async def add_deployment(request: Request, page: Page) -> Response:
    """Add a deployment (platform administrators): an OpenAI-compatible endpoint or an embedded model."""
    form = await request.form()
    page.check_form(str(form.get("csrf_token", "")))
    gateway_admin: GatewayAdmin = get_services(request).gateway_admin
    gateway_admin.require_platform_admin(page.principal)
    typed: dict[str, Any] = {
        key: str(form.get(key, "")).strip()
        for key in ("alias", "name", "provider", "model", "base_url", "api_key_env", "sovereignty", "label")
    }
    typed["capabilities"] = [str(c) for c in form.getlist("capabilities")]
    for key in DEPLOYMENT_NUMBERS:
        typed[key] = str(form.get(key, "")).strip()
    config_fields = {k: v for k, v in typed.items() if v not in ("", [])}
    try:
        config = DeploymentConfig.model_validate(config_fields)
    except ValidationError as error:
        return await _page(
            request, page, deployment_form=typed, deployment_error=_problem(page, error), status_code=422
        )
    try:
        async with get_services(request).db.write_session() as session:
            await gateway_admin.create_deployment(session, page.principal, config, get_origin(request))
    except SoberanaError as error:
        return await _page(
            request, page, deployment_form=typed, deployment_error=error.message, status_code=error.status_code
        )
    return _back(page, "added")


def _back(page: PageContext, done: str) -> Response:
    return page.redirect(f"/console/models?done={done}")


@router.post("/console/models/deployments/{dep_id}")
async def switch_deployment(
    dep_id: str,
    request: Request,
    page: Page,
    enabled: Annotated[str, Form(max_length=5)] = "true",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Switch a deployment added in the admin API or the console on or off (platform administrators)."""
    page.check_form(csrf_token)
    gateway_admin: GatewayAdmin = get_services(request).gateway_admin
    async with get_services(request).db.write_session() as session:
        await gateway_admin.update_deployment(
            session, page.principal, dep_id, enabled == "true", None, get_origin(request)
        )
    return _back(page, "switched")


@router.post("/console/models/deployments/{dep_id}/delete")
async def delete_deployment(
    dep_id: str, request: Request, page: Page, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    page.check_form(csrf_token)
    gateway_admin: GatewayAdmin = get_services(request).gateway_admin
    async with get_services(request).db.write_session() as session:
        await gateway_admin.delete_deployment(session, page.principal, dep_id, get_origin(request))
    return _back(page, "removed")


@router.post("/console/models/quotas")
async def set_quota(request: Request, page: Page) -> Response:
    """Set the limits of an organisation below yours or of a key (empty fields: no limit of that kind)."""
    form = await request.form()
    page.check_form(str(form.get("csrf_token", "")))
    typed = {key: str(form.get(key, "")).strip() for key in ("subject", *QUOTA_FIELDS)}
    subject_type, _, subject_id = typed["subject"].partition(":")
    try:
        values = QuotaValues.model_validate({k: typed[k] or None for k in QUOTA_FIELDS})
    except ValidationError as error:
        return await _page(request, page, quota_form=typed, quota_error=_problem(page, error), status_code=422)
    gateway_admin: GatewayAdmin = get_services(request).gateway_admin
    try:
        async with get_services(request).db.write_session() as session:
            await gateway_admin.set_quota(
                session, page.principal, subject_type, subject_id, values, get_origin(request)
            )
    except SoberanaError as error:
        return await _page(request, page, quota_form=typed, quota_error=error.message, status_code=error.status_code)
    return _back(page, "quota")


@router.post("/console/models/quotas/{subject_type}/{subject_id}/delete")
async def delete_quota(
    subject_type: str, subject_id: str, request: Request, page: Page, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    page.check_form(csrf_token)
    gateway_admin: GatewayAdmin = get_services(request).gateway_admin
    async with get_services(request).db.write_session() as session:
        await gateway_admin.delete_quota(session, page.principal, subject_type, subject_id, get_origin(request))
    return _back(page, "quota-removed")
