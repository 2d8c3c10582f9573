"""HTTP routes of the register of AI use cases (``governance`` scope): list, create, change, read each
version, and the review and lifecycle actions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.core.components import provider
from soberana.governance.lifecycle import RiskGroup, Status
from soberana.governance.models import UseCaseVersion
from soberana.governance.schemas import (
    AiaAnswers,
    AiaAssessmentOut,
    Requirement,
    ReviewAction,
    UseCaseChange,
    UseCaseCreate,
    UseCaseOut,
    VersionOut,
)
from soberana.governance.service import AiaView, Entry, GovernanceService

get_governance = provider(GovernanceService)
Governance = Annotated[GovernanceService, Depends(get_governance)]
router = APIRouter(prefix="/v1/governance", tags=["governance"])


def use_case_out(entry: Entry) -> UseCaseOut:
    row = entry.use_case
    return UseCaseOut(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        status=Status(row.status),
        risk_group=RiskGroup(row.risk_group),
        version=row.version,
        approved_version=row.approved_version,
        submitted_version=row.submitted_version,
        submitted_by=row.submitted_by,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        status_reason=row.status_reason,
        special_categories=bool(entry.fields.special_categories),
        fields=entry.fields,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get("/use-cases", summary="The register of AI use cases of the organisations you can see")
async def list_use_cases(
    principal: CurrentPrincipal,
    governance: Governance,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(description="The last id of the previous page.")] = None,
) -> dict[str, object]:
    found = await governance.list_use_cases(principal, status=status_, limit=limit, after=after)
    data = [use_case_out(entry) for entry in found]
    return {"object": "list", "data": data, "has_more": len(data) == limit}


@router.post("/use-cases", status_code=status.HTTP_201_CREATED, summary="Register a use case (a draft at version 1)")
async def create_use_case(
    body: UseCaseCreate, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> UseCaseOut:
    return use_case_out(await governance.create(principal, body, origin))


@router.get("/use-cases/{use_case_id}", summary="A use case with its latest version")
async def get_use_case(use_case_id: str, principal: CurrentPrincipal, governance: Governance) -> UseCaseOut:
    return use_case_out(await governance.get(principal, use_case_id))


@router.patch("/use-cases/{use_case_id}", summary="Change a use case: a new version")
async def change_use_case(
    use_case_id: str, body: UseCaseChange, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> UseCaseOut:
    return use_case_out(await governance.change(principal, use_case_id, body, origin))


@router.post(
    "/use-cases/{use_case_id}/actions",
    summary="Submit for review, return, approve (four-eyes), put live, suspend, resume or retire",
)
async def act_on_use_case(
    use_case_id: str, body: ReviewAction, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> UseCaseOut:
    return use_case_out(await governance.act(principal, use_case_id, body, origin))


@router.get("/use-cases/{use_case_id}/versions", summary="Every version of a use case, oldest first")
async def list_versions(use_case_id: str, principal: CurrentPrincipal, governance: Governance) -> dict[str, object]:
    found = await governance.versions(principal, use_case_id)
    return {"object": "list", "data": [_version_out(v) for v in found]}


@router.get("/use-cases/{use_case_id}/versions/{number}", summary="One version of a use case")
async def get_version(
    use_case_id: str,
    number: Annotated[int, Path(ge=1, le=1_000_000)],
    principal: CurrentPrincipal,
    governance: Governance,
) -> VersionOut:
    return _version_out(await governance.version(principal, use_case_id, number))


def _version_out(row: UseCaseVersion) -> VersionOut:
    return VersionOut.model_validate(row)


@router.put(
    "/use-cases/{use_case_id}/aia",
    summary="Answer Canada's Algorithmic Impact Assessment for a use case: scored, kept as a new version",
)
async def assess_aia(
    use_case_id: str,
    body: AiaAnswers,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
    language: Annotated[Literal["en", "fr"], Query(description="Language of the level's requirements.")] = "en",
) -> AiaAssessmentOut:
    return _aia_out(await governance.assess_aia(principal, use_case_id, dict(body.answers), origin), language)


@router.get("/use-cases/{use_case_id}/aia", summary="The latest Algorithmic Impact Assessment of a use case")
async def get_aia(
    use_case_id: str,
    principal: CurrentPrincipal,
    governance: Governance,
    language: Annotated[Literal["en", "fr"], Query(description="Language of the level's requirements.")] = "en",
) -> AiaAssessmentOut:
    return _aia_out(await governance.aia_assessment(principal, use_case_id), language)


def _aia_out(view: AiaView, language: str) -> AiaAssessmentOut:
    row, use_case, questionnaire = view.assessment, view.use_case, view.questionnaire
    result = row.result
    stale = []
    if row.questionnaire != questionnaire.version:
        stale.append("questionnaire_changed")
    if row.use_case_version != use_case.version:
        stale.append("use_case_changed")
    return AiaAssessmentOut(
        use_case_id=row.use_case_id,
        version=row.version,
        use_case_version=row.use_case_version,
        questionnaire=row.questionnaire,
        stale=stale,
        answers=row.answers,
        raw=result["raw"],
        mitigation=result["mitigation"],
        max_raw=result["max_raw"],
        max_mitigation=result["max_mitigation"],
        total=result["total"],
        level=result["level"],
        level_name=("I", "II", "III", "IV")[result["level"] - 1],
        deduction_applied=result["deduction_applied"],
        ignored=list(result["ignored"]),
        requirements=[Requirement(**r) for r in questionnaire.requirements_for(result["level"], language)],
        author=row.author,
        created_at=row.created_at,
    )
