"""HTTP routes of the register of AI use cases (``governance`` scope): list, create, change, read each
version, and the review and lifecycle actions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.core.clock import utcnow
from soberana.core.components import provider
from soberana.governance import ai_act
from soberana.governance.assessing import AiActView, AiaView
from soberana.governance.compliance import RequirementView
from soberana.governance.lifecycle import RiskGroup, Status
from soberana.governance.models import Incident, Supplier, UseCaseVersion
from soberana.governance.register import Entry
from soberana.governance.schemas import (
    AiaAnswers,
    AiaAssessmentOut,
    AiActAnswers,
    AiActAssessmentOut,
    BindingIn,
    BindingOut,
    Choice,
    Conclusion,
    EvidenceOut,
    IncidentChange,
    IncidentOut,
    IncidentReport,
    ObligationOut,
    PathStep,
    Requirement,
    RequirementItemOut,
    RequirementStateIn,
    ReviewAction,
    RiskOverride,
    SupplierChange,
    SupplierFields,
    SupplierOut,
    SuspendFromIncident,
    TreeQuestion,
    UseCaseChange,
    UseCaseCreate,
    UseCaseOut,
    VersionOut,
)
from soberana.governance.service import GovernanceService

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


Language = Annotated[Literal["en", "es", "is"], Query(description="Language of the texts.")]


@router.get("/ai-act/tree", summary="The EU AI Act decision tree: its questions and answers, in one language")
async def ai_act_tree(
    principal: CurrentPrincipal, governance: Governance, language: Language = "en"
) -> dict[str, object]:
    tree = await governance.decision_tree(principal)
    return {
        "object": "governance.decision_tree",
        "id": tree.id,
        "version": tree.version,
        "stamp": tree.stamp,
        "law": tree.law,
        "title": tree.title[language],
        "disclaimer": tree.disclaimer[language],
        "start": tree.start,
        "questions": [_question(q, language) for q in tree.questions.values()],
    }


@router.put("/use-cases/{use_case_id}/ai-act", summary="Answer the EU AI Act assessment for a use case")
async def assess_ai_act(
    use_case_id: str,
    body: AiActAnswers,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
    language: Language = "en",
) -> AiActAssessmentOut:
    view = await governance.assess_ai_act(principal, use_case_id, dict(body.answers), dict(body.justifications), origin)
    return _ai_act_out(view, language)


@router.get("/use-cases/{use_case_id}/ai-act", summary="The latest EU AI Act assessment of a use case")
async def get_ai_act(
    use_case_id: str, principal: CurrentPrincipal, governance: Governance, language: Language = "en"
) -> AiActAssessmentOut:
    return _ai_act_out(await governance.ai_act_assessment(principal, use_case_id), language)


@router.post(
    "/use-cases/{use_case_id}/ai-act/override",
    summary="Override the assessment's risk group, with a justification (a reviewer above the organisation)",
)
async def override_risk(
    use_case_id: str,
    body: RiskOverride,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
    language: Language = "en",
) -> AiActAssessmentOut:
    view = await governance.override_risk(principal, use_case_id, body.risk_group, body.justification, origin)
    return _ai_act_out(view, language)


def _question(question: ai_act.Question, language: str) -> TreeQuestion:
    return TreeQuestion(
        id=question.id,
        text=question.text[language],
        help=question.help[language] if question.help else None,
        articles=list(question.articles),
        answers=[
            Choice(id=a.id, text=a.text[language], justification=a.justification) for a in question.answers.values()
        ],
    )


def _ai_act_out(view: AiActView, language: str) -> AiActAssessmentOut:
    row, use_case, tree, walk = view.assessment, view.use_case, view.tree, view.walk
    stale = []
    if row.questionnaire != tree.stamp:
        stale.append("tree_changed")
    if row.use_case_version != use_case.version:
        stale.append("use_case_changed")
    justifications = row.answers.get("justifications", {})
    path = [
        PathStep(
            question=q,
            question_text=tree.questions[q].text[language],
            answer=a,
            answer_text=tree.questions[q].answers[a].text[language],
            justification=justifications.get(q),
        )
        for q, a in walk.path
    ]
    conclusion = next((c for c in tree.conclusions if c.id == walk.conclusion), None)
    today = utcnow().date()
    return AiActAssessmentOut(
        use_case_id=row.use_case_id,
        version=row.version,
        use_case_version=row.use_case_version,
        tree=row.questionnaire,
        stale=stale,
        complete=walk.complete,
        pending=_question(tree.questions[walk.pending], language) if walk.pending else None,
        needs_justification=walk.needs_justification,
        path=path,
        dropped=walk.dropped,
        labels=walk.labels,
        conclusion=Conclusion(id=conclusion.id, text=conclusion.text[language]) if conclusion else None,
        risk_group=RiskGroup(use_case.risk_group),
        override=row.result.get("override"),
        obligations=[
            ObligationOut(
                id=o.id,
                text=o.text[language],
                articles=list(o.articles),
                applies_from=o.applies_from,
                in_force=o.applies_from is not None and o.applies_from <= today,
            )
            for o in walk.obligations
        ],
        disclaimer=tree.disclaimer[language],
        author=row.author,
        created_at=row.created_at,
    )


IncidentStatusQuery = Annotated[Literal["open", "investigating", "mitigated", "closed"] | None, Query(alias="status")]


@router.post(
    "/use-cases/{use_case_id}/incidents",
    status_code=status.HTTP_201_CREATED,
    summary="Report an incident with a use case (a serious one gets its Art. 73 reporting deadline)",
)
async def report_incident(
    use_case_id: str, body: IncidentReport, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> IncidentOut:
    return _incident_out(await governance.incidents.report(principal, use_case_id, body, origin))


@router.get("/incidents", summary="Incidents of the organisations you can see, oldest first")
async def list_incidents(
    principal: CurrentPrincipal,
    governance: Governance,
    status_: IncidentStatusQuery = None,
    use_case_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: str | None = None,
) -> dict[str, object]:
    found = await governance.incidents.list_incidents(
        principal, status=status_, use_case_id=use_case_id, limit=limit, after=after
    )
    data = [_incident_out(i) for i in found]
    return {"object": "list", "data": data, "has_more": len(data) == limit}


@router.get("/incidents/{incident_id}", summary="One incident, with its deadline and history")
async def get_incident(incident_id: str, principal: CurrentPrincipal, governance: Governance) -> IncidentOut:
    return _incident_out(await governance.incidents.get(principal, incident_id))


@router.patch("/incidents/{incident_id}", summary="Triage an incident: state, severity, seriousness, a note")
async def change_incident(
    incident_id: str, body: IncidentChange, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> IncidentOut:
    return _incident_out(await governance.incidents.change(principal, incident_id, body, origin))


@router.post("/incidents/{incident_id}/suspend", summary="Suspend the incident's use case, in one step")
async def suspend_from_incident(
    incident_id: str,
    body: SuspendFromIncident,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
) -> IncidentOut:
    return _incident_out(await governance.incidents.suspend_use_case(principal, incident_id, body.reason, origin))


@router.get("/incidents/{incident_id}/export", summary="The incident as data for the market surveillance authority")
async def export_incident(incident_id: str, principal: CurrentPrincipal, governance: Governance) -> dict[str, object]:
    return await governance.incidents.export(principal, incident_id)


def _incident_out(incident: Incident) -> IncidentOut:
    out = IncidentOut.model_validate(incident)
    if incident.report_due is not None and incident.reported_to_authority_at is None:
        out.seconds_left = int((incident.report_due - utcnow()).total_seconds())
    return out


SupplierStatusQuery = Annotated[Literal["approved", "restricted", "pending", "blocked"] | None, Query(alias="status")]


@router.get("/suppliers", summary="The installation's catalogue of suppliers")
async def list_suppliers(
    principal: CurrentPrincipal, governance: Governance, status_: SupplierStatusQuery = None
) -> dict[str, object]:
    found = await governance.suppliers.list_suppliers(principal, status=status_)
    return {"object": "list", "data": [_supplier_out(s) for s in found]}


@router.post("/suppliers", status_code=status.HTTP_201_CREATED, summary="Add a supplier (platform administrators)")
async def create_supplier(
    body: SupplierFields, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> SupplierOut:
    return _supplier_out(await governance.suppliers.create(principal, body, origin))


@router.get("/suppliers/{supplier_id}", summary="One supplier and its terms")
async def get_supplier(supplier_id: str, principal: CurrentPrincipal, governance: Governance) -> SupplierOut:
    return _supplier_out(await governance.suppliers.get(principal, supplier_id))


@router.patch("/suppliers/{supplier_id}", summary="Change a supplier's terms or status (platform administrators)")
async def change_supplier(
    supplier_id: str, body: SupplierChange, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> SupplierOut:
    return _supplier_out(await governance.suppliers.change(principal, supplier_id, body, origin))


def _supplier_out(supplier: Supplier) -> SupplierOut:
    out = SupplierOut.model_validate(supplier)
    out.review_overdue = supplier.review_date is not None and supplier.review_date < utcnow().date()
    return out


SubjectKindPath = Annotated[
    Literal["api_key", "collection", "workspace"],
    Path(description="`api_key`, `collection` (a public assistant) or `workspace` (an organisation's)."),
]


@router.get("/bindings", summary="Which use case each key, assistant and workspace answers for")
async def list_bindings(
    principal: CurrentPrincipal,
    governance: Governance,
    use_case_id: Annotated[str | None, Query(description="Only the bindings of this use case.")] = None,
) -> dict[str, object]:
    found = await governance.bindings.list_bindings(principal, use_case_id=use_case_id)
    return {"object": "list", "data": [BindingOut.model_validate(b) for b in found]}


@router.put(
    "/bindings/{kind}/{subject_id}",
    summary="Bind a key, a public assistant or a workspace to a use case (administrators)",
)
async def bind(
    kind: SubjectKindPath,
    subject_id: str,
    body: BindingIn,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
) -> BindingOut:
    return BindingOut.model_validate(
        await governance.bindings.bind(principal, kind, subject_id, body.use_case_id, origin)
    )


@router.delete(
    "/bindings/{kind}/{subject_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a binding (administrators); with enforcement on, the subject's traffic stops",
)
async def unbind(
    kind: SubjectKindPath, subject_id: str, principal: CurrentPrincipal, governance: Governance, origin: OriginDep
) -> None:
    await governance.bindings.unbind(principal, kind, subject_id, origin)


def _requirement_out(view: RequirementView, language: str) -> RequirementItemOut:
    outcome, check = view.outcome, view.outcome.check
    requirement = outcome.requirement
    return RequirementItemOut(
        id=requirement.id,
        law=requirement.law,
        source=requirement.source,
        title=requirement.title[language],
        text=requirement.text[language],
        state=outcome.state,
        flagged=outcome.flagged,
        recorded_state=view.manual,
        reason=view.reason,
        updated_by=view.updated_by,
        evidence=None
        if check is None
        else EvidenceOut(state=check.state, reason=check.reason, facts=dict(check.facts), sufficient=check.sufficient),
    )


@router.get(
    "/use-cases/{use_case_id}/requirements",
    summary="The requirements that apply to the use case, with the evidence the platform computes now",
)
async def list_requirements(
    use_case_id: str, principal: CurrentPrincipal, governance: Governance, language: Language = "en"
) -> dict[str, object]:
    views = await governance.compliance.review(principal, use_case_id)
    return {"object": "list", "data": [_requirement_out(v, language) for v in views]}


@router.put(
    "/use-cases/{use_case_id}/requirements/{requirement_id}",
    summary="Record the state of one requirement (not applicable: with the reason)",
)
async def record_requirement(
    use_case_id: str,
    requirement_id: str,
    body: RequirementStateIn,
    principal: CurrentPrincipal,
    governance: Governance,
    origin: OriginDep,
    language: Language = "en",
) -> RequirementItemOut:
    view = await governance.compliance.record(principal, use_case_id, requirement_id, body.state, body.reason, origin)
    return _requirement_out(view, language)
