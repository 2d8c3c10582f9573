"""HTTP routes of what governance publishes: transparency records (written, approved and published by
staff; read by anyone at ``/v1/transparency/…``, no sign-in) and the AI usage policy (generated from the
live configuration, approved, downloaded as HTML or DOCX)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.governance import transparency
from soberana.governance.policies import Format
from soberana.governance.publishing import Published
from soberana.governance.routes import Governance, Language, router
from soberana.governance.schemas import TransparencyAction, TransparencyRecordOut


def _record_out(found: Published, language: str) -> TransparencyRecordOut:
    row = found.row
    return TransparencyRecordOut(
        id=row.id,
        use_case_id=row.use_case_id,
        version=row.version,
        status=row.status,
        out_of_date=found.out_of_date,
        created_by=row.created_by,
        created_at=row.created_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        published_at=row.published_at,
        record=found.record(language),
    )


@router.post(
    "/use-cases/{use_case_id}/transparency",
    status_code=status.HTTP_201_CREATED,
    summary="Write a draft of the use case's public transparency record from the register and what runs",
)
async def draft_transparency_record(
    use_case_id: str, principal: CurrentPrincipal, governance: Governance, origin: OriginDep, language: Language = "en"
) -> TransparencyRecordOut:
    row = await governance.transparency.draft(principal, use_case_id, origin)
    return _record_out(Published(row, False), language)


@router.get("/use-cases/{use_case_id}/transparency", summary="Every version of the use case's transparency record")
async def list_transparency_records(
    use_case_id: str, principal: CurrentPrincipal, governance: Governance, language: Language = "en"
) -> dict[str, object]:
    found = await governance.transparency.records(principal, use_case_id)
    return {"object": "list", "data": [_record_out(f, language) for f in found]}


@router.get(
    "/use-cases/{use_case_id}/transparency/export",
    summary="The use case's record in the UK ATRS v3 or the Dutch Algoritmeregister v1.0 layout",
)
async def export_transparency_record(
    use_case_id: str,
    principal: CurrentPrincipal,
    governance: Governance,
    layout: Annotated[Literal["atrs", "algoritmeregister"], Query()] = "atrs",
) -> dict[str, Any]:
    return await governance.transparency.export(principal, use_case_id, layout)


@router.post(
    "/transparency/{record_id}/actions",
    summary="Approve a draft transparency record, or publish an approved one (administrators)",
)
async def act_on_transparency_record(
    record_id: str,
    body: TransparencyAction,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
    language: Language = "en",
) -> TransparencyRecordOut:
    row = await governance.transparency.act(principal, record_id, body.action, origin)
    return _record_out(Published(row, False), language)


# -- public: no sign-in ------------------------------------------------------------------------------------

public_router = APIRouter(prefix="/v1/transparency", tags=["transparency"])


@public_router.get("/{org_slug}", summary="An organisation's published transparency records (no sign-in)")
async def public_records(
    org_slug: str, governance: Governance, origin: OriginDep, language: Language = "en"
) -> dict[str, object]:
    name, found = await governance.transparency.published(org_slug, origin)
    data = [f.record(language) | {"out_of_date": f.out_of_date, "version": f.row.version} for f in found]
    return {"object": "list", "organisation": name, "data": data}


@public_router.get(
    "/{org_slug}/records.csv", summary="An organisation's published transparency records as CSV (no sign-in)"
)
async def public_records_csv(org_slug: str, governance: Governance, origin: OriginDep) -> Response:
    _, found = await governance.transparency.published(org_slug, origin)
    text = transparency.records_csv([f.record("en") for f in found])
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{org_slug}-ai-transparency.csv"'},
    )


@public_router.get("/{org_slug}/{use_case_id}", summary="One published transparency record (no sign-in)")
async def public_record(
    org_slug: str, use_case_id: str, governance: Governance, origin: OriginDep, language: Language = "en"
) -> dict[str, object]:
    _, found = await governance.transparency.published(org_slug, origin, use_case_id)
    return found[0].record(language) | {"out_of_date": found[0].out_of_date, "version": found[0].row.version}


# -- the AI usage policy ------------------------------------------------------------------------------------

POLICY = "/organisations/{org_id}/policy"


class PolicyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: str = Field(min_length=3, max_length=300, description="Where incidents are reported: an e-mail or a page.")


class PolicyChangeOut(BaseModel):
    section: str
    kind: Literal["added", "removed", "changed"]
    subject: str
    description: str
    before: str | None
    after: str | None


class PolicyVersionOut(BaseModel):
    object: Literal["governance.policy_version"] = "governance.policy_version"
    id: str
    org_id: str
    version: int
    status: Literal["generated", "approved"]
    sha256: dict[str, str] = Field(description="SHA-256 of the policy's content, per language.")
    created_by: str
    created_at: Any
    approved_by: str | None
    approved_at: Any
    changes: list[PolicyChangeOut] = Field(description="What changed since the approved version before it.")


def _policy_out(row: Any, changes: list[Any]) -> PolicyVersionOut:
    return PolicyVersionOut(
        id=row.id,
        org_id=row.org_id,
        version=row.version,
        status=row.status,
        sha256=row.digests,
        created_by=row.created_by,
        created_at=row.created_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        changes=[PolicyChangeOut.model_validate(c, from_attributes=True) for c in changes],
    )


@router.post(POLICY, summary="Generate the organisation's AI usage policy from its configuration (administrators)")
async def generate_policy(
    org_id: str, body: PolicyRequest, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> PolicyVersionOut:
    row = await governance.policies.generate(principal, org_id, body.contact, origin)
    found = {r.version: c for r, c in await governance.policies.versions(principal, org_id)}
    return _policy_out(row, found.get(row.version, []))


@router.get(POLICY, summary="Every version of the organisation's AI usage policy, with what changed")
async def list_policy_versions(org_id: str, principal: CurrentPrincipal, governance: Governance) -> dict[str, object]:
    found = await governance.policies.versions(principal, org_id)
    return {"object": "list", "data": [_policy_out(row, changes) for row, changes in found]}


@router.post(POLICY + "/{version}/approve", summary="Approve a version of the policy (another administrator)")
async def approve_policy(
    org_id: str, version: int, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> PolicyVersionOut:
    row = await governance.policies.approve(principal, org_id, version, origin)
    found = {r.version: c for r, c in await governance.policies.versions(principal, org_id)}
    return _policy_out(row, found.get(row.version, []))


@router.get(POLICY + "/{version}", summary="A version of the policy as HTML or DOCX, in English, Spanish or Icelandic")
async def policy_document(
    org_id: str,
    version: int,
    principal: CurrentPrincipal,
    governance: Governance,
    language: Language = "en",
    form: Annotated[Format, Query(alias="format")] = "html",
) -> Response:
    body = await governance.policies.render(principal, org_id, version, language, form)
    if form == "docx":
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            headers={"Content-Disposition": f'attachment; filename="ai-usage-policy-v{version}-{language}.docx"'},
        )
    return Response(body, media_type="text/html; charset=utf-8")
