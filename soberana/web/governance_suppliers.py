"""The installation's catalogue of suppliers in the web console (``governance`` scope): everyone with the
scope reads it; platform administrators add a supplier and change its terms or status through a form.
The service decides who may change it; a refusal is shown on the page, with its status code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from soberana.auth.deps import get_origin
from soberana.auth.principal import Principal, Scope
from soberana.core.clock import utcnow
from soberana.errors import InvalidRequest, SoberanaError
from soberana.governance.models import Supplier
from soberana.governance.schemas import SupplierChange, SupplierFields
from soberana.web.governance import _form
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

SUPPLIER_STATES = {
    "approved": N_("Approved"),
    "restricted": N_("Restricted"),
    "pending": N_("Pending"),
    "blocked": N_("Blocked"),
}
TRAINING = {"no": N_("No"), "yes": N_("Yes"), "opt_out": N_("Unless told not to"), "unknown": N_("Unknown")}
FIELD_NAMES = {
    "legal_name": N_("Legal name"),
    "country": N_("Country"),
    "status": N_("Status"),
    "review_date": N_("Review date"),
    "data_residency": N_("Where data is processed"),
    "trains_on_customer_data": N_("Trains on customer data"),
    "contract_reference": N_("Contract reference"),
}


def _keeps(principal: Principal) -> bool:
    return principal.kind == "user" and principal.is_platform_admin and principal.can(Scope.GOVERNANCE)


def _typed(form: FormData) -> dict[str, Any]:
    """The supplier form as the service's fields (data residency: codes separated by commas or spaces)."""
    typed: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in FIELD_NAMES}
    typed["country"] = typed["country"].upper()
    typed["data_residency"] = typed["data_residency"].replace(",", " ").upper().split()
    typed["review_date"] = typed["review_date"] or None
    return typed


async def _suppliers_page(
    page: PageContext,
    services: Services,
    *,
    editing: Supplier | None = None,
    form: dict[str, Any] | None = None,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    principal = page.principal
    suppliers = await services.governance.suppliers.list_suppliers(principal)
    shown = form or (
        {name: getattr(editing, name) for name in FIELD_NAMES}
        if editing
        else {"status": "pending", "data_residency": []}
    )
    return page.render(
        "governance_suppliers.html",
        status_code=status_code,
        section="governance",
        suppliers=suppliers,
        today=utcnow().date(),
        supplier_states=SUPPLIER_STATES,
        training=TRAINING,
        editing=editing,
        form=shown,
        refusal=refusal,
        can_keep=_keeps(principal),
        done=page.request.query_params.get("done", ""),
    )


@router.get("/console/governance/suppliers")
async def suppliers(page: Page, services: Services) -> Response:
    """The catalogue; with ``?edit={id}``, a platform administrator's form for that supplier."""
    editing = None
    wanted = page.request.query_params.get("edit")
    if wanted and _keeps(page.principal):
        editing = await services.governance.suppliers.get(page.principal, wanted)
    return await _suppliers_page(page, services, editing=editing)


@router.post("/console/governance/suppliers")
async def save_supplier(request: Request, page: Page, services: Services) -> Response:
    """Add a supplier, or with ``supplier`` change one (platform administrators)."""
    form = await _form(request, page)
    typed, supplier_id = _typed(form), str(form.get("supplier", ""))
    catalogue, origin = services.governance.suppliers, get_origin(request)
    editing = None
    try:
        if supplier_id:
            editing = await catalogue.get(page.principal, supplier_id)
        try:
            if editing is not None:
                await catalogue.change(page.principal, editing.id, SupplierChange.model_validate(typed), origin)
            else:
                fields = SupplierFields.model_validate({k: v for k, v in typed.items() if v not in ("", None)})
                await catalogue.create(page.principal, fields, origin)
        except ValidationError as error:
            first = error.errors()[0]
            field = str((first.get("loc") or ("",))[0])
            label = page.t.gettext(FIELD_NAMES[field]) if field in FIELD_NAMES else field
            raise InvalidRequest(f"{label}: {first['msg']}", param=field) from None
    except SoberanaError as error:
        if error.status_code >= 500 or (error.status_code == 404 and editing is None and supplier_id):
            raise
        typed["data_residency"] = " ".join(typed["data_residency"])
        return await _suppliers_page(
            page, services, editing=editing, form=typed, refusal=error, status_code=error.status_code
        )
    return page.redirect("/console/governance/suppliers?done=saved")
