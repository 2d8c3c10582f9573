"""The records around each AI use case in the web console (``governance`` scope): the state people record
for each requirement, and incidents (reported on the use case's page, listed, triaged, the use case
suspended from one in a step).

As on the register's pages, the services decide who may do what: the pages offer what the rules would
allow, and show a refusal (its status code and reason) on the page it came from.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.errors import InvalidRequest
from soberana.web.governance import _form, _then
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

SEVERITIES = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High"), "critical": N_("Critical")}
INCIDENT_STATES = {
    "open": N_("Open"),
    "investigating": N_("Investigating"),
    "mitigated": N_("Mitigated"),
    "closed": N_("Closed"),
}
SERIOUS_KINDS = {
    "other": N_("Serious: report within 15 days"),
    "death": N_("Serious, a person's death: report within 10 days"),
    "widespread_or_critical_infrastructure": N_("Serious, widespread or critical infrastructure: report within 2 days"),
}


def _problem(page: PageContext, error: ValidationError, names: dict[str, str]) -> InvalidRequest:
    """A form's first invalid field as the refusal shown on the page."""
    first = error.errors()[0]
    field = str((first.get("loc") or ("",))[0])
    label = page.t.gettext(names[field]) if field in names else field
    return InvalidRequest(f"{label}: {first['msg']}", param=field)


# -- requirements --------------------------------------------------------------------------------------


@router.post("/console/governance/{use_case_id}/requirements/{requirement_id}")
async def record_requirement(
    use_case_id: str, requirement_id: str, request: Request, page: Page, services: Services
) -> Response:
    """Record the state of one requirement (not applicable needs the reason)."""
    form = await _form(request, page)
    state, reason = str(form.get("state", "")), str(form.get("reason", ""))

    async def attempt() -> None:
        if state not in ("to_do", "in_progress", "done", "not_applicable") or len(reason) > 4000:
            raise InvalidRequest(page.t.gettext("Choose one of the states offered."), param="state")
        if state == "not_applicable" and not reason.strip():
            raise InvalidRequest(page.t.gettext("Say why the requirement does not apply."), param="reason")
        compliance = services.governance.compliance
        await compliance.record(page.principal, use_case_id, requirement_id, state, reason, get_origin(request))

    return await _then(page, services, use_case_id, attempt, "recorded#requirements")
