"""The administration console's models page: every model, where its deployments run and how they are
doing (platform administrators also see and switch deployments), and the quotas in force."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from soberana.auth.deps import get_origin
from soberana.auth.principal import Scope
from soberana.auth.service import AdminService
from soberana.gateway.admin import GatewayAdmin, quota_out
from soberana.gateway.service import GatewayService
from soberana.web.ui import Page
from soberana.web.workspace import _sovereignty_label

router = APIRouter(include_in_schema=False)


@router.get("/console/models")
async def models(request: Request, page: Page) -> Response:
    admin: AdminService = request.app.state.admin
    gateway: GatewayService = request.app.state.gateway
    gateway_admin: GatewayAdmin = request.app.state.gateway_admin
    principal = page.principal
    admin.require(principal, Scope.ADMIN)
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
    async with request.app.state.db.session() as session:
        deployments = await gateway_admin.list_deployments(session, principal) if principal.is_platform_admin else []
        quotas = [quota_out(q) for q in await gateway_admin.list_quotas(session, principal)]
        organisations, _ = await admin.list_organisations(session, principal, limit=500)
    return page.render(
        "console_models.html",
        section="models",
        entries=entries,
        deployments=deployments,
        quotas=quotas,
        org_names={o.id: o.name for o in organisations},
        sovereignty_label=lambda value: _sovereignty_label(page, value),
    )


@router.post("/console/models/deployments/{dep_id}")
async def switch_deployment(
    dep_id: str,
    request: Request,
    page: Page,
    enabled: Annotated[str, Form(max_length=5)] = "true",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Switch a deployment added in the admin API on or off (platform administrators)."""
    page.check_form(csrf_token)
    gateway_admin: GatewayAdmin = request.app.state.gateway_admin
    async with request.app.state.db.write_session() as session:
        await gateway_admin.update_deployment(
            session, page.principal, dep_id, enabled == "true", None, get_origin(request)
        )
    response = RedirectResponse("/console/models?switched=1", status_code=303)
    page.finish(response)
    return response
