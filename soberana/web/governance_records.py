"""The records around each AI use case in the web console (``governance`` scope): the state people record
for each requirement, and incidents (reported on the use case's page, listed, triaged, the use case
suspended from one in a step).

As on the register's pages, the services decide who may do what: the pages offer what the rules would
allow, and show a refusal (its status code and reason) on the page it came from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.principal import Scope
from soberana.core.clock import utcnow
from soberana.errors import InvalidRequest, NotFound, SoberanaError
from soberana.governance.incidents import MOVES
from soberana.governance.lifecycle import RUNNING
from soberana.governance.models import Incident
from soberana.governance.schemas import IncidentChange, IncidentReport, UseCaseChange
from soberana.web.governance import (
    FIELD_NAMES,
    FIELDS,
    SERIOUS_KINDS,
    SEVERITIES,
    STATUS_NAMES,
    _form,
    _is_admin,
    _then,
    _use_case_page,
    _writes,
    then_show,
)
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

INCIDENT_STATES = {
    "open": N_("Open"),
    "investigating": N_("Investigating"),
    "mitigated": N_("Mitigated"),
    "closed": N_("Closed"),
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


# -- incidents -----------------------------------------------------------------------------------------

REPORT_FIELDS = {
    "title": N_("Title"),
    "description": N_("What happened"),
    "severity": N_("Severity"),
    "serious_kind": N_("Serious incident"),
}


def _time_left(incident: Incident) -> int | None:
    """Whole hours until the report to the authority is due (negative: overdue); none once reported."""
    if incident.report_due is None or incident.reported_to_authority_at is not None:
        return None
    return int((incident.report_due - utcnow()).total_seconds() // 3600)


async def _names(services: Services, page: PageContext) -> dict[str, str]:
    entries = await services.governance.list_use_cases(page.principal, limit=500)
    return {e.use_case.id: e.use_case.name for e in entries}


@router.get("/console/governance/incidents")
async def incidents(page: Page, services: Services) -> Response:
    """The incidents of the person's organisations, oldest first."""
    principal = page.principal
    principal.require(Scope.GOVERNANCE, "Incidents")
    found = await services.governance.incidents.list_incidents(
        principal, status=None, use_case_id=None, limit=200, after=None
    )
    return page.render(
        "governance_incidents.html",
        section="governance",
        incidents=[(i, _time_left(i)) for i in found],
        use_case_names=await _names(services, page),
        severities=SEVERITIES,
        incident_states=INCIDENT_STATES,
        serious_kinds=SERIOUS_KINDS,
    )


@router.post("/console/governance/{use_case_id}/incidents")
async def report_incident(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Report an incident with the use case: then its page."""
    form = await _form(request, page)
    kind = str(form.get("serious_kind", ""))
    data: dict[str, Any] = {
        "title": " ".join(str(form.get("title", "")).split()),
        "description": str(form.get("description", "")).strip(),
        "severity": str(form.get("severity", "medium")),
        "serious": bool(kind),
    }
    if kind:
        data["serious_kind"] = kind
    try:
        try:
            report = IncidentReport.model_validate(data)
        except ValidationError as error:
            raise _problem(page, error, REPORT_FIELDS) from None
        incident = await services.governance.incidents.report(page.principal, use_case_id, report, get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500:
            raise
        return await _use_case_page(page, services, use_case_id, refusal=error, status_code=error.status_code)
    return page.redirect(f"/console/governance/incidents/{incident.id}?done=reported")


async def _incident_page(
    page: PageContext,
    services: Services,
    incident_id: str,
    *,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    principal, governance = page.principal, services.governance
    incident = await governance.incidents.get(principal, incident_id)
    entry = await governance.get(principal, incident.use_case_id)
    return page.render(
        "governance_incident.html",
        status_code=status_code,
        section="governance",
        incident=incident,
        use_case=entry.use_case,
        time_left=_time_left(incident),
        moves=sorted(MOVES[incident.status]),
        severities=SEVERITIES,
        incident_states=INCIDENT_STATES,
        serious_kinds=SERIOUS_KINDS,
        status_names=STATUS_NAMES,
        can_triage=_writes(principal),
        can_suspend=_is_admin(principal) and entry.use_case.status in RUNNING,
        refusal=refusal,
        done=page.request.query_params.get("done", ""),
    )


@router.get("/console/governance/incidents/{incident_id}")
async def incident_page(incident_id: str, page: Page, services: Services) -> Response:
    return await _incident_page(page, services, incident_id)


async def _then_incident(
    page: PageContext, services: Services, incident_id: str, attempt: Callable[[], Awaitable[object]], done: str
) -> Response:
    """Do ``attempt``, then back to the incident's page; a refusal is shown there."""

    async def refused(error: SoberanaError) -> Response:
        return await _incident_page(page, services, incident_id, refusal=error, status_code=error.status_code)

    return await then_show(page, attempt, refused, f"/console/governance/incidents/{incident_id}?done={done}")


@router.post("/console/governance/incidents/{incident_id}/triage")
async def triage(incident_id: str, request: Request, page: Page, services: Services) -> Response:
    """A new state, severity or seriousness, with a note: kept in the incident's history."""
    form = await _form(request, page)
    serious = str(form.get("serious_kind", ""))
    data: dict[str, Any] = {
        "status": str(form.get("status", "")) or None,
        "severity": str(form.get("severity", "")) or None,
        "serious": serious != "no",
        "note": str(form.get("note", "")).strip(),
    }
    if serious != "no":
        data["serious_kind"] = serious

    async def attempt() -> None:
        incidents = services.governance.incidents
        incident = await incidents.get(page.principal, incident_id)
        if data["status"] == incident.status:
            data["status"] = None
        if data["serious"] == (incident.serious_kind is not None) and data.get("serious_kind") in (
            None,
            incident.serious_kind,
        ):
            # unchanged: not sent, so that staff may triage a serious incident
            del data["serious"]
            data.pop("serious_kind", None)
        try:
            change = IncidentChange.model_validate(data)
        except ValidationError as error:
            raise _problem(page, error, REPORT_FIELDS | {"status": N_("Status"), "note": N_("Note")}) from None
        await incidents.change(page.principal, incident_id, change, get_origin(request))

    return await _then_incident(page, services, incident_id, attempt, "triaged")


@router.post("/console/governance/incidents/{incident_id}/suspend")
async def suspend_from_incident(incident_id: str, request: Request, page: Page, services: Services) -> Response:
    """Suspend the incident's use case, in one step (administrators, with a reason)."""
    reason = str((await _form(request, page)).get("reason", ""))

    async def attempt() -> None:
        if not reason.strip():
            raise InvalidRequest(page.t.gettext("Say why the use case is suspended."), param="reason")
        await services.governance.incidents.suspend_use_case(page.principal, incident_id, reason, get_origin(request))

    return await _then_incident(page, services, incident_id, attempt, "suspended")


# -- transparency records ------------------------------------------------------------------------------

RECORD_STATES = {
    "draft": N_("Draft"),
    "approved": N_("Approved"),
    "published": N_("Published"),
    "superseded": N_("Superseded"),
}


async def _transparency_page(
    page: PageContext,
    services: Services,
    use_case_id: str,
    *,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    principal, governance = page.principal, services.governance
    use_case = (await governance.get(principal, use_case_id)).use_case
    records = await governance.transparency.records(principal, use_case_id)
    async with services.db.session() as session:
        organisation = await services.admin.public_organisation(session, org_id=use_case.org_id)
    published = organisation is not None and any(r.row.status == "published" for r in records)
    return page.render(
        "governance_transparency.html",
        status_code=status_code,
        section="governance",
        use_case=use_case,
        records=records,
        record_states=RECORD_STATES,
        public=f"/transparency/{organisation.slug}/{use_case.id}" if published and organisation else None,
        can_draft=_writes(principal) and use_case.status in RUNNING and use_case.approved_version is not None,
        can_act=_is_admin(principal),
        principal_id=principal.id,
        refusal=refusal,
        done=page.request.query_params.get("done", ""),
    )


@router.get("/console/governance/{use_case_id}/transparency")
async def transparency_records(use_case_id: str, page: Page, services: Services) -> Response:
    """The versions of the use case's public transparency record, and what the person may do with them."""
    return await _transparency_page(page, services, use_case_id)


async def _then_records(
    page: PageContext, services: Services, use_case_id: str, attempt: Callable[[], Awaitable[object]], done: str
) -> Response:
    async def refused(error: SoberanaError) -> Response:
        return await _transparency_page(page, services, use_case_id, refusal=error, status_code=error.status_code)

    return await then_show(page, attempt, refused, f"/console/governance/{use_case_id}/transparency?done={done}")


@router.post("/console/governance/{use_case_id}/transparency")
async def draft_record(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Write a draft of the record from the register and what runs now."""
    await _form(request, page)

    async def attempt() -> None:
        await services.governance.transparency.draft(page.principal, use_case_id, get_origin(request))

    return await _then_records(page, services, use_case_id, attempt, "drafted")


@router.post("/console/governance/{use_case_id}/transparency/{record_id}")
async def act_on_record(use_case_id: str, record_id: str, request: Request, page: Page, services: Services) -> Response:
    """Approve a draft (another administrator than its writer) or publish an approved record."""
    action = str((await _form(request, page)).get("action", ""))

    async def attempt() -> None:
        transparency = services.governance.transparency
        if action not in ("approve", "publish"):
            raise InvalidRequest(page.t.gettext("Choose one of the actions offered."), param="action")
        if all(r.row.id != record_id for r in await transparency.records(page.principal, use_case_id)):
            raise InvalidRequest(page.t.gettext("Choose one of the records shown."), param="record")
        await transparency.act(
            page.principal, record_id, "approve" if action == "approve" else "publish", get_origin(request)
        )

    return await _then_records(page, services, use_case_id, attempt, action)


@router.get("/console/governance/incidents/{incident_id}/export")
async def export_incident(incident_id: str, page: Page, services: Services) -> Response:
    """The incident as data for the market surveillance authority (as ``/v1/…/export``, signed in)."""
    found = await services.governance.incidents.export(page.principal, incident_id)
    return JSONResponse(found, headers={"Content-Disposition": f'attachment; filename="{incident_id}.json"'})


# -- the AI usage policy -------------------------------------------------------------------------------

POLICY_STATES = {"generated": N_("Generated"), "approved": N_("Approved")}
LANGUAGE_NAMES = {"es": "Español", "en": "English", "is": "Íslenska"}


def _organisation_id(page: PageContext) -> str:
    page.principal.require(Scope.GOVERNANCE, "The AI usage policy")
    org_id = page.principal.org_id
    if not org_id:
        raise NotFound("No organisation of yours has a policy.")
    return org_id


async def _policy_page(
    page: PageContext,
    services: Services,
    *,
    contact: str = "",
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    org_id = _organisation_id(page)
    versions = await services.governance.policies.versions(page.principal, org_id)
    return page.render(
        "governance_policy.html",
        status_code=status_code,
        section="governance",
        versions=versions,
        policy_states=POLICY_STATES,
        policy_languages=LANGUAGE_NAMES,
        contact=contact,
        can_generate=_is_admin(page.principal),
        principal_id=page.principal.id,
        refusal=refusal,
        done=page.request.query_params.get("done", ""),
    )


@router.get("/console/governance/policy")
async def policy(page: Page, services: Services) -> Response:
    """The versions of the organisation's AI usage policy, with what changed in each."""
    return await _policy_page(page, services)


@router.post("/console/governance/policy")
async def generate_policy(request: Request, page: Page, services: Services) -> Response:
    """Generate the policy from the configuration now (administrators): a new version if anything changed."""
    contact = str((await _form(request, page)).get("contact", ""))
    try:
        if len(contact) > 300:
            raise InvalidRequest(page.t.gettext("Give an e-mail address or a page of 300 characters at most."))
        policies = services.governance.policies
        await policies.generate(page.principal, _organisation_id(page), contact, get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500 or error.status_code == 404:
            raise
        return await _policy_page(page, services, contact=contact, refusal=error, status_code=error.status_code)
    return page.redirect("/console/governance/policy?done=generated")


@router.post("/console/governance/policy/{version}/approve")
async def approve_policy(version: int, request: Request, page: Page, services: Services) -> Response:
    """Approve a generated version (an administrator who did not generate it)."""
    await _form(request, page)
    try:
        policies = services.governance.policies
        await policies.approve(page.principal, _organisation_id(page), version, get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500 or error.status_code == 404:
            raise
        return await _policy_page(page, services, refusal=error, status_code=error.status_code)
    return page.redirect("/console/governance/policy?done=approved")


@router.get("/console/governance/policy/{version}")
async def policy_document(version: int, page: Page, services: Services) -> Response:
    """A version of the policy as HTML or DOCX (``format``), in ``language`` (as ``/v1/…``, signed in)."""
    form, language = page.request.query_params.get("format", "html"), page.request.query_params.get("language", "en")
    if form not in ("html", "docx") or language not in LANGUAGE_NAMES:
        raise NotFound("No such document.")
    policies = services.governance.policies
    body = await policies.render(
        page.principal, _organisation_id(page), version, language, "docx" if form == "docx" else "html"
    )
    if form == "docx":
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            headers={"Content-Disposition": f'attachment; filename="ai-usage-policy-v{version}-{language}.docx"'},
        )
    return Response(body, media_type="text/html; charset=utf-8")


# -- changing a use case: a new version ------------------------------------------------------------------


async def _change_page(
    page: PageContext,
    services: Services,
    use_case_id: str,
    *,
    form: dict[str, Any] | None = None,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    entry = await services.governance.get(page.principal, use_case_id)
    use_case, fields = entry.use_case, entry.fields
    shown = form or {name: getattr(fields, name) for name in FIELD_NAMES if name != "org_id"} | {
        "expected_version": use_case.version,
        "review_date": fields.review_date.isoformat() if fields.review_date else "",
    }
    return page.render(
        "governance_change.html",
        status_code=status_code,
        section="governance",
        use_case=use_case,
        fields=FIELDS,
        models=sorted({e.alias for e in services.gateway_service.catalog.entries()} | set(shown.get("models", []))),
        form=shown,
        can_change=_writes(page.principal),
        refusal=refusal,
    )


@router.get("/console/governance/{use_case_id}/change")
async def change_form(use_case_id: str, page: Page, services: Services) -> Response:
    """The register's fields of the latest version, to change: saving makes the next version."""
    return await _change_page(page, services, use_case_id)


@router.post("/console/governance/{use_case_id}/change")
async def change_use_case(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """A new version with the fields sent, unless someone changed it since the form was read (409)."""
    form = await _form(request, page)
    typed: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in FIELD_NAMES if name != "org_id"}
    typed["models"] = [str(m) for m in form.getlist("models")]
    version = str(form.get("expected_version", ""))
    expected = int(version) if version.isascii() and version.isdigit() and len(version) < 10 else None
    try:
        if expected is None or expected < 1:
            raise InvalidRequest(page.t.gettext("Read the use case again and change it from there."))
        values = {**typed, "review_date": typed["review_date"] or None}
        change = UseCaseChange(fields=values, expected_version=expected, note=str(form.get("note", "")).strip()[:200])
        await services.governance.change(page.principal, use_case_id, change, get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500 or error.status_code == 404:
            raise
        shown = {**typed, "expected_version": version}
        return await _change_page(page, services, use_case_id, form=shown, refusal=error, status_code=error.status_code)
    return page.redirect(f"/console/governance/{use_case_id}?done=changed")
