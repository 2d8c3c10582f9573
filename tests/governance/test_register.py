"""The register of AI use cases through the API, on SQLite and PostgreSQL: versions, four-eyes approval
that pins the version approved, the lifecycle, read-only auditors, and errors in the API's format."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from tests.governance.conftest import COMPLETE, Keys
from tests.governance.test_ai_act import BENEFITS

USE_CASES = "/v1/governance/use-cases"


async def create(client: httpx.AsyncClient, keys: Keys, **fields: Any) -> dict[str, Any]:
    response = await client.post(USE_CASES, headers=keys.writer, json=COMPLETE | fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def act(
    client: httpx.AsyncClient, headers: dict[str, str], use_case: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{USE_CASES}/{use_case}/actions", headers=headers, json={"action": action, **body})


async def assess_minimal(client: httpx.AsyncClient, keys: Keys, uc: str) -> None:
    """An EU AI Act assessment of the use case's current version that concludes minimal risk."""
    answers = BENEFITS | {"annex_iii_area": "none"}
    response = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=keys.writer, json={"answers": answers})
    assert response.json()["risk_group"] == "minimal", response.text


async def test_every_change_is_a_new_version_and_audit_logged(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    created = await create(client, agency, name="Letters", purpose="")
    assert (created["status"], created["version"], created["risk_group"]) == ("draft", 1, "unassessed")
    uc = created["id"]

    changed = await client.patch(
        f"{USE_CASES}/{uc}",
        headers=agency.colleague,
        json={"fields": {"purpose": "Answer letters faster.", "special_categories": ["health"]}, "note": "purpose"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["special_categories"] is True

    versions = (await client.get(f"{USE_CASES}/{uc}/versions", headers=agency.auditor)).json()["data"]
    assert [(v["version"], v["fields"]["purpose"], v["note"]) for v in versions] == [
        (1, "", ""),
        (2, "Answer letters faster.", "purpose"),
    ]
    first = (await client.get(f"{USE_CASES}/{uc}/versions/1", headers=agency.writer)).json()
    assert first["fields"]["special_categories"] == []
    assert first["author"] != versions[1]["author"]  # two people wrote them

    # the same fields again change nothing
    again = await client.patch(
        f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"purpose": "Answer letters faster."}}
    )
    assert again.json()["version"] == 2

    async with app.state.platform.db.session() as session:
        stmt = select(AuditEntry).where(AuditEntry.object_id == uc).order_by(AuditEntry.seq)
        entries = (await session.scalars(stmt)).all()
    assert [e.action for e in entries] == ["governance.use_case.created", "governance.use_case.changed"]
    assert json.loads(entries[1].details)["fields"] == ["purpose", "special_categories"]
    assert entries[1].actor_id != entries[0].actor_id


async def test_a_version_is_submitted_only_when_the_register_is_filled_in(
    client: httpx.AsyncClient, agency: Keys
) -> None:
    uc = (await create(client, agency, legal_basis="", contact_email=""))["id"]
    response = await act(client, agency.writer, uc, "submit")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "incomplete_use_case"
    assert "contact_email" in error["message"] and "legal_basis" in error["message"]


async def test_four_eyes_approval_by_the_reviewer_the_risk_requires(
    app: Any, client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await create(client, agency))["id"]
    submitted = await act(client, agency.writer, uc, "submit")
    assert submitted.json()["status"] == "in_review"
    assert submitted.json()["submitted_version"] == 1

    # not assessed yet: the strictest rule, an administrator above the agency
    for headers in (agency.writer, agency.colleague, agency.admin):
        refused = await act(client, headers, uc, "approve", version=1)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "approver_required"
    approved = await act(client, ministry.admin, uc, "approve", version=1)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["approved_version"], body["submitted_version"]) == ("approved", 1, None)

    # a lower risk (assessed for the version in review): the agency's own administrator, but never one who
    # wrote or submitted a version since the approved one
    await client.patch(f"{USE_CASES}/{uc}", headers=agency.admin, json={"fields": {"purpose": "Faster answers."}})
    await assess_minimal(client, agency, uc)
    await act(client, agency.writer, uc, "submit")
    own = await act(client, agency.admin, uc, "approve", version=2)
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "four_eyes"
    staff = await act(client, agency.colleague, uc, "approve", version=2)
    assert staff.json()["error"]["code"] == "approver_required"
    other = await act(client, ministry.admin, uc, "approve", version=2)
    assert other.json()["approved_version"] == 2


async def test_an_approval_pins_the_version_approved_while_a_change_is_reviewed(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await create(client, agency))["id"]
    await act(client, agency.writer, uc, "submit")
    await act(client, ministry.admin, uc, "approve", version=1)
    live = await act(client, agency.writer, uc, "go_live")
    assert live.json()["status"] == "live"

    changed = await client.patch(
        f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"models": ["mock-chat", "bigger-model"]}}
    )
    assert (changed.json()["status"], changed.json()["version"], changed.json()["approved_version"]) == ("live", 2, 1)
    nothing = await act(client, ministry.admin, uc, "approve", version=2)
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "not_in_review"

    in_review = await act(client, agency.writer, uc, "submit")
    assert (in_review.json()["status"], in_review.json()["submitted_version"]) == ("live", 2)
    frozen = await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"owner": "Another"}})
    assert frozen.status_code == 409
    assert frozen.json()["error"]["code"] == "not_editable"
    stale = await act(client, ministry.admin, uc, "approve", version=1)
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    unnamed = await act(client, ministry.admin, uc, "approve")
    assert unnamed.status_code == 400
    assert unnamed.json()["error"]["param"] == "version"

    returned = await act(client, ministry.admin, uc, "return", reason="Say why a bigger model is needed.")
    assert (returned.json()["status"], returned.json()["approved_version"]) == ("live", 1)
    assert returned.json()["status_reason"] == "Say why a bigger model is needed."
    await act(client, agency.writer, uc, "submit")
    approved = await act(client, ministry.admin, uc, "approve", version=2)
    assert (approved.json()["status"], approved.json()["approved_version"]) == ("live", 2)


async def test_a_prohibited_practice_is_never_approved(
    app: Any, client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await create(client, agency, name="Social scoring"))["id"]
    answers = {"ai_system": "yes", "general_purpose": "no", "role": "deployer", "prohibited_practice": "social_scoring"}
    assessed = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.writer, json={"answers": answers})
    assert assessed.json()["risk_group"] == "prohibited"
    await act(client, agency.writer, uc, "submit")
    response = await act(client, ministry.admin, uc, "approve", version=1)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "prohibited_practice"
    got = (await client.get(f"{USE_CASES}/{uc}", headers=agency.writer)).json()
    assert (got["status"], got["approved_version"]) == ("in_review", None)


async def test_suspend_resume_and_retire(client: httpx.AsyncClient, agency: Keys, ministry: Keys) -> None:
    uc = (await create(client, agency))["id"]
    early = await act(client, agency.writer, uc, "go_live")
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "invalid_transition"
    await act(client, agency.writer, uc, "submit")
    await act(client, ministry.admin, uc, "approve", version=1)
    await act(client, agency.writer, uc, "go_live")

    no_reason = await act(client, agency.admin, uc, "suspend")
    assert no_reason.status_code == 400
    assert no_reason.json()["error"]["param"] == "reason"
    by_staff = await act(client, agency.writer, uc, "suspend", reason="Wrong answers reported.")
    assert by_staff.status_code == 403
    suspended = await act(client, agency.admin, uc, "suspend", reason="Wrong answers reported.")
    assert suspended.json()["status"] == "suspended"
    # resuming is a reviewer's decision: for a use case not assessed, above the agency
    assert (await act(client, agency.admin, uc, "resume", reason="Fixed.")).status_code == 403
    resumed = await act(client, ministry.admin, uc, "resume", reason="The prompt was fixed.")
    assert resumed.json()["status"] == "live"

    retired = await act(client, agency.admin, uc, "retire", reason="Replaced by the new service.")
    assert retired.json()["status"] == "retired"
    after = await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"owner": "X"}})
    assert after.status_code == 409
    assert (await act(client, agency.writer, uc, "submit")).status_code == 409


async def test_auditors_read_the_register_and_change_nothing(client: httpx.AsyncClient, agency: Keys) -> None:
    uc = (await create(client, agency))["id"]
    assert (await client.get(f"{USE_CASES}/{uc}", headers=agency.auditor)).status_code == 200
    for response in (
        await client.post(USE_CASES, headers=agency.auditor, json=COMPLETE | {"name": "Other"}),
        await client.patch(f"{USE_CASES}/{uc}", headers=agency.auditor, json={"fields": {"owner": "Audit"}}),
        await act(client, agency.auditor, uc, "submit"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "read_only"


async def test_a_key_without_the_governance_scope_is_refused(client: httpx.AsyncClient, agency: Keys) -> None:
    response = await client.get(USE_CASES, headers=agency.tenant.headers("staff"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


async def test_conflicts_and_bad_input_get_clear_errors(client: httpx.AsyncClient, agency: Keys) -> None:
    uc = (await create(client, agency))["id"]
    duplicate = await client.post(USE_CASES, headers=agency.colleague, json=COMPLETE)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["param"] == "name"

    stale = await client.patch(
        f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"owner": "A"}, "expected_version": 7}
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"

    unknown = await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"colour": "red"}})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["param"] == "fields.colour"
    email = await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"contact_email": "nobody"}})
    assert email.status_code == 422
    assert email.json()["error"]["param"] == "fields.contact_email"
    category = await client.post(USE_CASES, headers=agency.writer, json=COMPLETE | {"special_categories": ["hobbies"]})
    assert category.status_code == 422
    bad_id = await client.get(f"{USE_CASES}/not-an-id", headers=agency.writer)
    assert bad_id.status_code == 400
    assert bad_id.json()["error"]["code"] == "invalid_id"
    unknown_version = await client.get(f"{USE_CASES}/{uc}/versions/9", headers=agency.writer)
    assert unknown_version.status_code == 404
    unchanged = (await client.get(f"{USE_CASES}/{uc}", headers=agency.writer)).json()
    assert (unchanged["version"], unchanged["fields"]["contact_email"]) == (1, COMPLETE["contact_email"])


async def test_the_risk_an_approval_rests_on_is_the_assessment_of_the_version_reviewed(
    app: Any, client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await create(client, agency))["id"]
    await assess_minimal(client, agency, uc)
    # a change after the assessment: the agency's administrator no longer suffices
    await client.patch(f"{USE_CASES}/{uc}", headers=agency.colleague, json={"fields": {"owner": "Benefits"}})
    await act(client, agency.writer, uc, "submit")
    stale = await act(client, agency.admin, uc, "approve", version=2)
    assert stale.json()["error"]["code"] == "approver_required"
    # and nobody lowers the risk while a version is in review
    during = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.writer, json={"answers": {"ai_system": "no"}})
    assert during.status_code == 409
    withdrawn = await act(client, agency.writer, uc, "withdraw")
    assert (withdrawn.json()["status"], withdrawn.json()["submitted_version"]) == ("draft", None)
    # an unfinished assessment decides nothing: back to the strictest reviewer
    partial = await client.put(
        f"{USE_CASES}/{uc}/ai-act", headers=agency.writer, json={"answers": {"ai_system": "yes"}}
    )
    assert partial.json()["risk_group"] == "unassessed"
    await assess_minimal(client, agency, uc)
    await act(client, agency.writer, uc, "submit")
    approved = await act(client, agency.admin, uc, "approve", version=2)
    assert approved.status_code == 200, approved.text
    async with app.state.platform.db.session() as session:
        stmt = select(AuditEntry).where(AuditEntry.action == "governance.use_case.approved")
        entry = (await session.scalars(stmt)).one()
    assert json.loads(entry.details)["risk_group"] == "minimal"


async def test_four_eyes_covers_every_version_since_the_approved_one(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await create(client, agency))["id"]
    await act(client, agency.writer, uc, "submit")
    await act(client, ministry.admin, uc, "approve", version=1)
    # the ministry's administrator writes the substance, a colleague a last touch, and submits it
    await client.patch(f"{USE_CASES}/{uc}", headers=ministry.admin, json={"fields": {"models": ["bigger-model"]}})
    await client.patch(f"{USE_CASES}/{uc}", headers=agency.colleague, json={"fields": {"owner": "Benefits"}})
    await act(client, agency.colleague, uc, "submit")
    own = await act(client, ministry.admin, uc, "approve", version=3)
    assert own.json()["error"]["code"] == "four_eyes"


async def test_service_accounts_change_no_use_case(app: Any, client: httpx.AsyncClient, agency: Keys) -> None:
    platform = app.state.platform
    from soberana.auth.principal import Role, Scope, cli_principal
    from soberana.auth.schemas import ApiKeyCreate, ServiceAccountCreate

    async with platform.db.write_session() as session:
        account = await platform.admin.create_service_account(
            session,
            cli_principal("pytest"),
            ServiceAccountCreate(org_id=agency.tenant.org_id, name="robot", role=Role.ORG_ADMIN),
        )
    async with platform.db.write_session() as session:
        _, key = await platform.admin.create_key(
            session,
            cli_principal("pytest"),
            ApiKeyCreate(name="robot", service_account_id=account.id, scopes=[Scope.GOVERNANCE]),
        )
    robot = {"Authorization": f"Bearer {key}"}
    refused = await client.post(USE_CASES, headers=robot, json=COMPLETE)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "person_required"
    uc = (await create(client, agency))["id"]
    incident = await client.post(f"{USE_CASES}/{uc}/incidents", headers=robot, json={"title": "t", "description": "d"})
    assert (incident.status_code, incident.json()["source"]) == (201, "api")


async def test_a_suspended_use_case_resumes_to_where_it_was(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await create(client, agency))["id"]
    await act(client, agency.writer, uc, "submit")
    await act(client, ministry.admin, uc, "approve", version=1)
    await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"owner": "Benefits"}})
    suspended = await act(client, agency.admin, uc, "suspend", reason="Checking the replies.", version=1)
    assert suspended.json()["status"] == "suspended"  # the version that runs is named, not the latest draft
    resumed = await act(client, ministry.admin, uc, "resume", reason="Checked.")
    assert resumed.json()["status"] == "approved"
    live = await act(client, agency.writer, uc, "go_live", version=1)
    assert live.json()["status"] == "live"


async def test_renames_and_organisations_are_checked(
    client: httpx.AsyncClient, agency: Keys, operator: dict[str, str]
) -> None:
    first = (await create(client, agency))["id"]
    await create(client, agency, name="Second")
    taken = await client.patch(f"{USE_CASES}/{first}", headers=agency.writer, json={"fields": {"name": "Second"}})
    assert taken.status_code == 409
    assert taken.json()["error"]["param"] == "fields.name"
    nowhere = await client.post(
        USE_CASES, headers=operator, json=COMPLETE | {"org_id": "org_01JD0000000000000000000000"}
    )
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["param"] == "org_id"
