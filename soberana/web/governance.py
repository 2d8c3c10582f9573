"""The register of AI use cases in the web console (``governance`` scope): the register with a form to add
a use case; a use case's page with its fields, requirements, bindings and the lifecycle actions the person
may take; and the EU AI Act assessment, one question a page, without JavaScript: the answers so far travel
in hidden form fields and nothing is kept until the assessment is saved.

The services decide who may do what: the pages offer the actions the rules would allow, and show a
refusal (its status code and reason) on the page it came from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from soberana.auth.deps import get_origin
from soberana.auth.key_admin import key_status
from soberana.auth.principal import ADMIN_ROLES, Principal, Role, Scope
from soberana.core.clock import utcnow
from soberana.errors import InvalidRequest, NotFound, ServiceUnavailable, SoberanaError
from soberana.governance import ai_act, aia
from soberana.governance.assessing import AiActView, risk_group_of
from soberana.governance.enforcement import SubjectKind
from soberana.governance.lifecycle import EDITABLE, NEEDS_REASON, RUNNING, Action, Status
from soberana.governance.models import UseCase
from soberana.governance.schemas import ReviewAction, UseCaseCreate
from soberana.governance.service import GovernanceService
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

STATUS_NAMES = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved"),
    "live": N_("Live"),
    "suspended": N_("Suspended"),
    "retired": N_("Retired"),
}
RISK_NAMES = {
    "unassessed": N_("Not assessed"),
    "prohibited": N_("Prohibited practice"),
    "high_risk": N_("High risk"),
    "transparency": N_("Transparency duties"),
    "minimal": N_("Minimal risk"),
}
ACTION_NAMES = {
    Action.SUBMIT: N_("Submit for review"),
    Action.WITHDRAW: N_("Withdraw from review"),
    Action.RETURN: N_("Return to the author"),
    Action.APPROVE: N_("Approve"),
    Action.GO_LIVE: N_("Put live"),
    Action.SUSPEND: N_("Suspend"),
    Action.RESUME: N_("Resume"),
    Action.RETIRE: N_("Retire"),
}
ENFORCEMENT = {
    "off": N_("Off: traffic is not checked against the register."),
    "warn": N_("Warn: traffic the register does not allow passes, marked and written to the audit log."),
    "enforce": N_("Enforce: traffic runs only for a use case that is approved or live."),
}
REQUIREMENT_STATES = {
    "to_do": N_("To do"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
    "not_applicable": N_("Not applicable"),
}
SEVERITIES = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High"), "critical": N_("Critical")}
SERIOUS_KINDS = {
    "other": N_("Serious: report within 15 days"),
    "death": N_("Serious, a person's death: report within 10 days"),
    "widespread_or_critical_infrastructure": N_("Serious, widespread or critical infrastructure: report within 2 days"),
}
EVIDENCE_STATES = {"holds": N_("Holds"), "fails": N_("Fails"), "unknown": N_("Unknown")}
BINDING_KINDS = {"api_key": N_("API key"), "collection": N_("Public assistant"), "workspace": N_("Staff workspace")}
KINDS: dict[str, SubjectKind] = {"api_key": "api_key", "collection": "collection", "workspace": "workspace"}
# the register form: (field, label, kind, hint)
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("name", N_("Name"), "text", N_("A short name, unique in the organisation.")),
    ("description", N_("Description"), "area", N_("What it does, in plain language.")),
    ("purpose", N_("Purpose"), "area", N_("Why it is used.")),
    ("public_benefit", N_("Benefit for the public"), "area", ""),
    ("owner", N_("Team"), "text", N_("The team that runs it.")),
    ("senior_responsible_owner", N_("Senior responsible owner"), "text", N_("The senior role accountable for it.")),
    ("contact_email", N_("Contact e-mail address"), "email", N_("Where the public can ask about it.")),
    ("affected_people", N_("Who is affected"), "area", N_("Who is affected by what it produces, and how.")),
    ("human_intervention", N_("Human intervention"), "area", N_("How people decide and review its output.")),
    ("legal_basis", N_("Legal basis"), "area", N_("The law that allows the use.")),
)
FIELD_NAMES = {name: label for name, label, _, _ in FIELDS} | {
    "models": N_("Models"),
    "review_date": N_("Review date"),
    "org_id": N_("Organisation"),
}
MAX_ANSWERS = 100


def _is_admin(principal: Principal) -> bool:
    return principal.role in ADMIN_ROLES and principal.can(Scope.ADMIN)


def _writes(principal: Principal) -> bool:
    return principal.role is not Role.AUDITOR and principal.can(Scope.GOVERNANCE)


async def _form(request: Request, page: PageContext) -> FormData:
    """The form sent, once its CSRF token is checked."""
    form = await request.form()
    page.check_form(str(form.get("csrf_token", "")))
    return form


async def _org_names(services: Services, org_ids: set[str]) -> dict[str, str]:
    async with services.db.session() as session:
        found = await services.admin.public_organisations(session, org_ids)
    return {org_id: org.name for org_id, org in found.items()}


# -- the register --------------------------------------------------------------------------------------


async def _register_page(
    page: PageContext,
    services: Services,
    *,
    form: Mapping[str, Any] | None = None,
    problem: dict[str, str] | None = None,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    principal = page.principal
    principal.require(Scope.GOVERNANCE, "The register of AI use cases")
    entries = await services.governance.list_use_cases(principal, limit=200)
    async with services.db.session() as session:
        visible = await services.admin.visible_org_ids(session, principal)
        if visible is None:  # a platform administrator: every organisation
            organisations, _ = await services.admin.list_organisations(session, principal, limit=500)
            visible = frozenset(o.id for o in organisations)
    names = await _org_names(services, set(visible) | {e.use_case.org_id for e in entries})
    return page.render(
        "governance_index.html",
        status_code=status_code,
        section="governance",
        entries=entries,
        org_names=names,
        organisations=sorted(((i, names[i]) for i in visible if i in names), key=lambda o: o[1]),
        enforcement=ENFORCEMENT.get(services.enforcer.mode, services.enforcer.mode),
        status_names=STATUS_NAMES,
        risk_names=RISK_NAMES,
        fields=FIELDS,
        models=[entry.alias for entry in services.gateway_service.catalog.entries()],
        form=form or {"org_id": principal.org_id, "models": []},
        problem=problem,
        refusal=refusal,
        can_write=_writes(principal),
    )


@router.get("/console/governance")
async def register(page: Page, services: Services) -> Response:
    return await _register_page(page, services)


@router.post("/console/governance/new")
async def create_use_case(request: Request, page: Page, services: Services) -> Response:
    """Register a use case: a draft at version 1, then its page."""
    form = await _form(request, page)
    typed: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in FIELD_NAMES if name != "models"}
    data = {k: v for k, v in typed.items() if v}
    typed["models"] = data["models"] = [str(m) for m in form.getlist("models")]
    try:
        created = UseCaseCreate.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = str((first.get("loc") or ("",))[0])
        label = page.t.gettext(FIELD_NAMES[field]) if field in FIELD_NAMES else field
        problem = {"field": label, "detail": first["msg"]}
        return await _register_page(page, services, form=typed, problem=problem, status_code=422)
    try:
        entry = await services.governance.create(page.principal, created, get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500:
            raise
        return await _register_page(page, services, form=typed, refusal=error, status_code=error.status_code)
    return page.redirect(f"/console/governance/{entry.use_case.id}?done=created")


# -- one use case --------------------------------------------------------------------------------------


def _actions(use_case: UseCase, principal: Principal) -> list[Action]:
    """The lifecycle actions the rules would let ``principal`` take now (the service checks again)."""
    if not _writes(principal) or principal.kind != "user":
        return []
    status, admin = Status(use_case.status), _is_admin(principal)
    pending = use_case.submitted_version is not None
    return [
        action
        for action, offered in (
            (Action.SUBMIT, status in EDITABLE and not pending and use_case.approved_version != use_case.version),
            (Action.WITHDRAW, pending and use_case.submitted_by == principal.id),
            (Action.RETURN, pending and admin),
            (Action.APPROVE, pending and admin and use_case.submitted_by != principal.id),
            (Action.GO_LIVE, status is Status.APPROVED),
            (Action.SUSPEND, admin and status in RUNNING),
            (Action.RESUME, admin and status is Status.SUSPENDED),
            (Action.RETIRE, admin and status is not Status.RETIRED),
        )
        if offered
    ]


async def _assessment(governance: GovernanceService, principal: Principal, use_case_id: str) -> AiActView | None:
    try:
        return await governance.ai_act_assessment(principal, use_case_id)
    except NotFound:
        return None


async def _aia_level(governance: GovernanceService, principal: Principal, use_case_id: str) -> str | None:
    """The impact level of the use case's latest Algorithmic Impact Assessment, if it has one."""
    try:
        view = await governance.aia_assessment(principal, use_case_id)
    except (NotFound, ServiceUnavailable):
        return None
    return aia.LEVELS[int(view.assessment.result["level"]) - 1]


async def _use_case_page(
    page: PageContext,
    services: Services,
    use_case_id: str,
    *,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    principal, governance = page.principal, services.governance
    entry = await governance.get(principal, use_case_id)
    use_case = entry.use_case
    view = await _assessment(governance, principal, use_case_id)
    keys: list[Any] = []
    if _is_admin(principal):
        async with services.db.session() as session:
            keys, _ = await services.admin.list_keys(session, principal, limit=500, org_id=use_case.org_id)
    org_name = (await _org_names(services, {use_case.org_id})).get(use_case.org_id, use_case.org_id)
    subjects = {("api_key", k.id): f"{k.name} ({k.prefix})" for k in keys} | {("workspace", use_case.org_id): org_name}
    bindable = [(f"api_key:{k.id}", k.name, k.prefix) for k in keys if key_status(k) == "active"]
    return page.render(
        "governance_use_case.html",
        status_code=status_code,
        section="governance",
        use_case=use_case,
        fields=entry.fields,
        field_rows=[(label, getattr(entry.fields, name)) for name, label, _, _ in FIELDS[1:]],
        org_name=org_name,
        view=view,
        conclusion=next((c for c in view.tree.conclusions if c.id == view.walk.conclusion), None) if view else None,
        stale=_stale(view) if view else [],
        aia_level=await _aia_level(governance, principal, use_case_id),
        requirements=await governance.compliance.review(principal, use_case_id),
        requirement_states=REQUIREMENT_STATES,
        evidence_states=EVIDENCE_STATES,
        bindings=await governance.bindings.list_bindings(principal, use_case_id=use_case_id),
        subjects=subjects,
        bindable=bindable,
        binding_kinds=BINDING_KINDS,
        can_bind=_is_admin(principal),
        can_record=_writes(principal),
        severities=SEVERITIES,
        serious_kinds=SERIOUS_KINDS,
        can_assess=_writes(principal) and use_case.submitted_version is None and use_case.status != Status.RETIRED,
        actions=_actions(use_case, principal),
        action_names=ACTION_NAMES,
        needs_reason=NEEDS_REASON,
        status_names=STATUS_NAMES,
        risk_names=RISK_NAMES,
        refusal=refusal,
        done=page.request.query_params.get("done", ""),
    )


def _stale(view: AiActView) -> list[str]:
    reasons = []
    if view.assessment.questionnaire != view.tree.stamp:
        reasons.append(N_("The decision tree has changed since it was made."))
    if view.assessment.use_case_version != view.use_case.version:
        reasons.append(N_("The use case has changed since it was made."))
    return reasons


@router.get("/console/governance/{use_case_id}")
async def use_case_page(use_case_id: str, page: Page, services: Services) -> Response:
    return await _use_case_page(page, services, use_case_id)


async def then_show(
    page: PageContext,
    attempt: Callable[[], Awaitable[object]],
    refused: Callable[[SoberanaError], Awaitable[Response]],
    done_url: str,
) -> Response:
    """Do ``attempt``, then go to ``done_url``; a refusal (below 500) is shown by ``refused``, with its status
    code, on the page the form came from."""
    try:
        await attempt()
    except SoberanaError as error:
        if error.status_code >= 500:
            raise
        return await refused(error)
    return page.redirect(done_url)


async def _then(
    page: PageContext, services: Services, use_case_id: str, attempt: Callable[[], Awaitable[object]], done: str
) -> Response:
    """Do ``attempt``, then back to the use case's page; a refusal is shown there."""

    async def refused(error: SoberanaError) -> Response:
        return await _use_case_page(page, services, use_case_id, refusal=error, status_code=error.status_code)

    return await then_show(page, attempt, refused, f"/console/governance/{use_case_id}?done={done}")


@router.post("/console/governance/{use_case_id}/act")
async def act(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Submit, withdraw, return, approve (the version read), put live, suspend, resume or retire."""
    form = await _form(request, page)
    version = str(form.get("version", ""))

    async def attempt() -> None:
        try:
            wanted = ReviewAction(
                action=str(form.get("action", "")),
                version=int(version) if version.isascii() and version.isdigit() and len(version) < 10 else None,
                reason=str(form.get("reason", "")),
            )
        except ValidationError:
            raise InvalidRequest(page.t.gettext("Choose one of the actions offered."), param="action") from None
        await services.governance.act(page.principal, use_case_id, wanted, get_origin(request))

    return await _then(page, services, use_case_id, attempt, "acted")


@router.post("/console/governance/{use_case_id}/bindings")
async def bind(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Bind one of the organisation's API keys, or its staff workspace, to the use case (administrators)."""
    kind, _, subject_id = str((await _form(request, page)).get("subject", "")).partition(":")

    async def attempt() -> None:
        found = KINDS.get(kind) if kind != "collection" else None
        if found is None:
            raise InvalidRequest(page.t.gettext("Choose one of the keys or the workspace offered."), param="subject")
        await services.governance.bindings.bind(page.principal, found, subject_id, use_case_id, get_origin(request))

    return await _then(page, services, use_case_id, attempt, "bound#bindings")


@router.post("/console/governance/{use_case_id}/bindings/remove")
async def unbind(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    form = await _form(request, page)

    async def attempt() -> None:
        found = KINDS.get(str(form.get("kind", "")))
        if found is None:
            raise InvalidRequest(page.t.gettext("Choose one of the bindings shown."), param="kind")
        await services.governance.get(page.principal, use_case_id)  # the use case is one the person sees
        subject_id = str(form.get("subject_id", ""))
        await services.governance.bindings.unbind(page.principal, found, subject_id, get_origin(request))

    return await _then(page, services, use_case_id, attempt, "unbound#bindings")


# -- the EU AI Act assessment, one question a page ------------------------------------------------------


def _answers(form: FormData) -> tuple[dict[str, str], dict[str, str]]:
    """The answers (``answer-{question}``) and justifications (``justification-{question}``) a form sent."""
    answers: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key.startswith("answer-"):
            answers[key.removeprefix("answer-")] = value
        elif isinstance(value, str) and key.startswith("justification-"):
            reasons[key.removeprefix("justification-")] = " ".join(value.split())
    if len(answers) > MAX_ANSWERS or len(reasons) > MAX_ANSWERS:
        raise InvalidRequest("Too many answers for this assessment.", param="answers")
    return answers, reasons


async def _assessment_page(
    page: PageContext,
    services: Services,
    use_case_id: str,
    answers: dict[str, str],
    reasons: dict[str, str],
    *,
    selected: str | None = None,
    problem: str | None = None,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    """The next question for ``answers``, or where they lead when the path has ended."""
    principal, governance = page.principal, services.governance
    entry = await governance.get(principal, use_case_id)
    tree = await governance.decision_tree(principal)
    walk = ai_act.walk(tree, ai_act.check(tree, answers, reasons), reasons, governance.ai_act_dates)
    question = tree.questions[walk.pending] if walk.pending else None
    return page.render(
        "governance_assess.html",
        status_code=status_code,
        section="governance",
        use_case=entry.use_case,
        tree=tree,
        walk=walk,
        reasons=reasons,
        question=question,
        asks_justification=question is not None and any(a.justification for a in question.answers.values()),
        selected=selected if selected is not None else answers.get(walk.pending or ""),
        conclusion=next((c for c in tree.conclusions if c.id == walk.conclusion), None),
        risk_group=risk_group_of(walk.labels) if walk.complete else None,
        today=utcnow().date(),
        risk_names=RISK_NAMES,
        problem=problem,
        refusal=refusal,
        can_save=_writes(principal),
    )


@router.get("/console/governance/{use_case_id}/assess")
async def assess(use_case_id: str, page: Page, services: Services) -> Response:
    return await _assessment_page(page, services, use_case_id, {}, {})


@router.post("/console/governance/{use_case_id}/assess")
async def assess_next(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """The next question after the answer sent, or with ``back`` the question before."""
    form = await _form(request, page)
    answers, reasons = _answers(form)
    shown, back = str(form.get("question", "")), bool(form.get("back"))
    if back:
        answers.pop(shown, None)  # the answer chosen on the page left is not kept
    tree = await services.governance.decision_tree(page.principal)
    walk = ai_act.walk(tree, ai_act.check(tree, answers, reasons), reasons)
    kept = dict(walk.path)
    if back and walk.path:  # the last answer goes: its question is asked again, the answer chosen
        last, previous = walk.path[-1]
        del kept[last]
        kept_reasons = {q: r for q, r in reasons.items() if q in kept or q == last}
        return await _assessment_page(page, services, use_case_id, kept, kept_reasons, selected=previous)
    problem = None
    if walk.needs_justification and walk.pending is not None:
        problem = N_("This answer needs a justification: say why the exception applies.")
        kept[walk.pending] = answers[walk.pending]
    elif not back and walk.pending is not None and walk.pending == shown:
        problem = N_("Choose one of the answers.")
    kept_reasons = {q: r for q, r in reasons.items() if q in kept}
    status_code = 422 if problem else 200
    return await _assessment_page(
        page, services, use_case_id, kept, kept_reasons, problem=problem, status_code=status_code
    )


@router.post("/console/governance/{use_case_id}/assess/save")
async def save_assessment(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Keep the answers as the use case's next EU AI Act assessment."""
    answers, reasons = _answers(await _form(request, page))
    try:
        await services.governance.assess_ai_act(
            page.principal, use_case_id, dict(answers), dict(reasons), get_origin(request)
        )
    except SoberanaError as error:
        if error.status_code >= 500 or error.status_code == 404:
            raise
        return await _assessment_page(
            page, services, use_case_id, answers, reasons, refusal=error, status_code=error.status_code
        )
    return page.redirect(f"/console/governance/{use_case_id}?done=assessed")
