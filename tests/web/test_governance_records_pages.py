"""The records around a use case in the web console: requirement states, incidents (report, triage,
suspend from one), with CSRF, refusals on the page, the auditor's read-only view and tenant isolation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from soberana.auth.principal import Role, cli_principal
from soberana.auth.schemas import UserCreate
from tests.conftest import Tenant, make_platform_key
from tests.web.test_governance_pages import REGISTER, SignIn, act, assess, carried, forms, passwords, register
from tests.web.test_pages import PASSWORD, form_token, set_password, sign_in, source_messages, visible_text


@pytest.fixture
def signed_in(app: Any) -> SignIn:
    """A browser of its own for each person, signed in."""

    @asynccontextmanager
    async def browser(email: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://soberana.test") as client:
            assert (await sign_in(client, email)).status_code == 303
            yield client

    return browser


async def test_requirement_states_are_recorded_on_the_use_case_page(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        views = await app.state.platform.governance.compliance.review(cli_principal("pytest"), use_case)
        requirement = next(v.outcome.requirement.id for v in views if v.outcome.check is None)
        action = f"/console/governance/{use_case}/requirements/{requirement}"
        page = await staff.get(f"/console/governance/{use_case}?lang=en")
        (form,) = forms(page.text, action)
        assert form["textareas"] == ["reason"] and ("csrf_token", form_token(page.text)) in form["hidden"]
        recorded = await staff.post(
            action, data={"state": "in_progress", "reason": "Drafting the notice.", "csrf_token": form_token(page.text)}
        )
        assert recorded.status_code == 303 and "done=recorded" in recorded.headers["location"]
        page = await staff.get(f"/console/governance/{use_case}?lang=en&done=recorded")
        assert "The requirement&#39;s state has been recorded." in page.text and "Drafting the notice." in page.text
        assert '<option value="in_progress" selected>In progress</option>' in page.text
        views = await app.state.platform.governance.compliance.review(cli_principal("pytest"), use_case)
        assert next(v.manual for v in views if v.outcome.requirement.id == requirement) == "in_progress"
        # not applicable without a reason: refused on the page, with its status code; nothing changes
        refused = await staff.post(
            action, data={"state": "not_applicable", "reason": " ", "csrf_token": form_token(page.text)}
        )
        assert refused.status_code == 400 and "Refused (400)" in refused.text
        assert "Say why the requirement does not apply." in refused.text
        assert (await staff.post(action, data={"state": "done", "csrf_token": "forged"})).status_code == 403
    async with signed_in(f"auditor@{tenant_a.slug}.example") as auditor:
        page = await auditor.get(f"/console/governance/{use_case}")
        assert page.status_code == 200 and "/requirements/" not in page.text and "Drafting the notice." in page.text


async def test_report_triage_and_suspend_from_an_incident(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a, tenant_b)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        page = await staff.get(f"/console/governance/{use_case}?lang=en")
        action = f"/console/governance/{use_case}/incidents"
        (form,) = forms(page.text, action)
        assert form["textareas"] == ["description"]
        # a report without a title is refused on the use case's page
        empty = await staff.post(action, data={"title": " ", "description": "x", "csrf_token": form_token(page.text)})
        assert empty.status_code == 400 and "Refused (400)" in empty.text and "Report an incident" in empty.text
        reported = await staff.post(
            action,
            data={
                "title": "Reply with a wrong amount",
                "description": "A letter said the benefit was 10 times what it is.",
                "severity": "high",
                "serious_kind": "other",
                "csrf_token": form_token(page.text),
            },
        )
        assert reported.status_code == 303, reported.text
        location = reported.headers["location"]
        assert location.startswith("/console/governance/incidents/inc_") and location.endswith("?done=reported")
        incident = location.removeprefix("/console/governance/incidents/").removesuffix("?done=reported")
        listed = await staff.get("/console/governance/incidents?lang=en")
        assert listed.status_code == 200 and "Reply with a wrong amount" in listed.text
        assert "Benefit letters assistant" in listed.text and ">High<" in listed.text
        assert "hours left" in listed.text  # a serious incident: 15 days to report it
        page = await staff.get(location + "&lang=en")
        assert "The incident has been reported." in page.text and ">Open<" in page.text
        exported = await staff.get(f"/console/governance/incidents/{incident}/export")
        assert f'href="/console/governance/incidents/{incident}/export"' in page.text
        assert exported.status_code == 200 and exported.json()["incident"]["serious_kind"] == "other"
        assert "/suspend" not in page.text  # staff do not suspend
        triaged = await staff.post(
            f"/console/governance/incidents/{incident}/triage",
            data={
                "status": "investigating",
                "severity": "critical",
                "serious_kind": "other",
                "note": "Checking every letter sent this week.",
                "csrf_token": form_token(page.text),
            },
        )
        assert triaged.status_code == 303
        page = await staff.get(f"/console/governance/incidents/{incident}?lang=en")
        assert ">Investigating<" in page.text and "Checking every letter sent this week." in page.text
        # staff may not declare a serious incident not serious: refused on the page, with its status code
        lighter = await staff.post(
            f"/console/governance/incidents/{incident}/triage",
            data={
                "status": "investigating",
                "severity": "critical",
                "serious_kind": "no",
                "csrf_token": form_token(page.text),
            },
        )
        assert lighter.status_code == 403 and "Refused (403)" in lighter.text
        posted = await staff.post(f"/console/governance/incidents/{incident}/triage", data={"csrf_token": "forged"})
        assert posted.status_code == 403
    found = await app.state.platform.governance.incidents.get(cli_principal("pytest"), incident)
    assert (found.status, found.severity, found.serious_kind) == ("investigating", "critical", "other")
    # submitted by its author, approved by an administrator, so that it can be suspended
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        save = f"/console/governance/{use_case}/assess/save"
        assert (await staff.post(save, data=carried(await assess(staff, use_case), save))).status_code == 303
        assert (await act(staff, use_case, "submit")).status_code == 303
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        assert (await act(admin, use_case, "approve", version="1")).status_code == 303
        page = await admin.get(f"/console/governance/incidents/{incident}?lang=en")
        assert f'action="/console/governance/incidents/{incident}/suspend"' in page.text
        suspend = f"/console/governance/incidents/{incident}/suspend"
        no_reason = await admin.post(suspend, data={"reason": "", "csrf_token": form_token(page.text)})
        assert no_reason.status_code == 400 and "Refused (400)" in no_reason.text
        suspended = await admin.post(suspend, data={"reason": "Wrong amounts", "csrf_token": form_token(page.text)})
        assert suspended.status_code == 303
        page = await admin.get(f"/console/governance/incidents/{incident}?lang=en&done=suspended")
        assert "The use case has been suspended." in page.text and ">Suspended<" in page.text
        assert "Use case suspended: Wrong amounts" in page.text
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        assert "Reply with a wrong amount" not in (await other.get("/console/governance/incidents")).text
        assert (await other.get(f"/console/governance/incidents/{incident}")).status_code == 404
        token = form_token((await other.get("/console/governance")).text)
        for path in (f"incidents/{incident}/triage", f"incidents/{incident}/suspend", f"{use_case}/incidents"):
            data = {"title": "x", "description": "y", "reason": "z", "status": "closed", "csrf_token": token}
            assert (await other.post(f"/console/governance/{path}", data=data)).status_code == 404, path


async def test_the_new_pages_speak_three_languages(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        page = await staff.get(f"/console/governance/{use_case}")
        data = {"title": "Slow answers", "description": "Took a minute.", "serious_kind": "death"}
        reported = await staff.post(
            f"/console/governance/{use_case}/incidents", data={**data, "csrf_token": form_token(page.text)}
        )
        incident = reported.headers["location"].split("/")[-1].split("?")[0]
    pages = [
        "/console/governance",
        f"/console/governance/{use_case}?done=recorded",
        "/console/governance/incidents",
        f"/console/governance/incidents/{incident}?done=reported",
        f"/console/governance/{use_case}/transparency?done=drafted",
        "/console/governance/policy?done=generated",
        "/console/governance/suppliers?done=saved",
        f"/console/governance/{use_case}/change",
    ]
    english = {m for m in source_messages() if len(m) > 12}
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        for language in ("es", "en", "is"):
            for path in pages:
                response = await admin.get(path, params={"lang": language})
                assert response.status_code == 200, path
                assert f'<html lang="{language}"' in response.text
                if language != "en":
                    text = " ".join(visible_text(response.text).split())
                    left = sorted(m for m in english if " ".join(m.split()) in text)
                    assert not left, f"{path} in {language} shows English text: {left[:3]}"


async def approved_use_case(signed_in: SignIn, tenant: Tenant) -> str:
    """A use case registered, assessed and submitted by staff, approved by an administrator."""
    async with signed_in(f"staff@{tenant.slug}.example") as staff:
        use_case = await register(staff)
        save = f"/console/governance/{use_case}/assess/save"
        assert (await staff.post(save, data=carried(await assess(staff, use_case), save))).status_code == 303
        assert (await act(staff, use_case, "submit")).status_code == 303
    async with signed_in(f"org_admin@{tenant.slug}.example") as admin:
        assert (await act(admin, use_case, "approve", version="1")).status_code == 303
    return use_case


async def test_a_transparency_record_is_drafted_approved_and_published(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a, tenant_b)
    use_case = await approved_use_case(signed_in, tenant_a)
    records = f"/console/governance/{use_case}/transparency"
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        assert records in (await staff.get(f"/console/governance/{use_case}")).text
        page = await staff.get(f"{records}?lang=en")
        assert "No record has been written yet." in page.text and "Write a draft" in page.text
        drafted = await staff.post(records, data={"csrf_token": form_token(page.text)})
        assert drafted.status_code == 303 and drafted.headers["location"].endswith("?done=drafted")
        page = await staff.get(f"{records}?lang=en&done=drafted")
        assert "A draft has been written." in page.text and ">Draft<" in page.text
        assert "Approve version 1" not in page.text  # staff neither approve nor publish
        assert f'action="{records}/tr_' not in page.text
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        page = await admin.get(f"{records}?lang=en")
        (record,) = re.findall(rf'action="{records}/(tr_[^"]+)"', page.text)
        # publishing a draft is refused on the page, with its status code
        early = await admin.post(f"{records}/{record}", data={"action": "publish", "csrf_token": form_token(page.text)})
        assert early.status_code == 409 and "Refused (409)" in early.text
        for action in ("approve", "publish"):
            done = await admin.post(f"{records}/{record}", data={"action": action, "csrf_token": form_token(page.text)})
            assert done.status_code == 303, done.text
        page = await admin.get(f"{records}?lang=en")
        assert ">Published<" in page.text
        public = f"/transparency/{tenant_a.slug}/{use_case}"
        assert f'href="{public}"' in page.text
    shown = await client.get(public, params={"lang": "en"})
    assert shown.status_code == 200 and "Benefit letters assistant" in shown.text
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        assert (await other.get(records)).status_code == 404
        token = form_token((await other.get("/console/governance")).text)
        assert (await other.post(records, data={"csrf_token": token})).status_code == 404
        stolen = await other.post(f"{records}/{record}", data={"action": "approve", "csrf_token": token})
        assert stolen.status_code == 404


async def test_the_ai_usage_policy_is_generated_and_approved_by_another_administrator(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a, tenant_b)
    platform = app.state.platform
    async with platform.db.write_session() as session:
        second = await platform.admin.create_user(
            session,
            cli_principal("pytest"),
            UserCreate(
                org_id=tenant_a.org_id,
                email=f"second@{tenant_a.slug}.example",
                display_name="Second",
                role=Role.ORG_ADMIN,
            ),
        )
    await set_password(client, tenant_a, second.id)
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        assert 'href="/console/governance/policy"' in (await admin.get("/console/governance")).text
        page = await admin.get("/console/governance/policy?lang=en")
        assert page.status_code == 200 and "No policy has been generated yet." in page.text
        blank = await admin.post(
            "/console/governance/policy", data={"contact": " ", "csrf_token": form_token(page.text)}
        )
        assert blank.status_code == 400 and "Refused (400)" in blank.text
        generated = await admin.post(
            "/console/governance/policy", data={"contact": "ai@agency.example", "csrf_token": form_token(page.text)}
        )
        assert generated.status_code == 303 and generated.headers["location"].endswith("?done=generated")
        page = await admin.get("/console/governance/policy?lang=en")
        assert ">Generated<" in page.text and "/console/governance/policy/1/approve" not in page.text  # not their own
        (row,) = await platform.governance.policies.versions(cli_principal("pytest"), tenant_a.org_id)
        assert row[0].digests["en"] in page.text
    async with signed_in(f"second@{tenant_a.slug}.example") as other_admin:
        page = await other_admin.get("/console/governance/policy?lang=en")
        approved = await other_admin.post(
            "/console/governance/policy/1/approve", data={"csrf_token": form_token(page.text)}
        )
        assert approved.status_code == 303
        page = await other_admin.get("/console/governance/policy?lang=en")
        assert ">Approved<" in page.text
        assert 'href="/console/governance/policy/1?format=docx&amp;language=is"' in page.text
        docx = await other_admin.get("/console/governance/policy/1", params={"format": "docx", "language": "is"})
        assert docx.status_code == 200 and docx.content.startswith(b"PK")
        html = await other_admin.get("/console/governance/policy/1", params={"format": "html", "language": "es"})
        assert html.status_code == 200 and "ai@agency.example" in html.text
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        page = await staff.get("/console/governance/policy")
        assert page.status_code == 200 and 'action="/console/governance/policy"' not in page.text
    async with signed_in(f"org_admin@{tenant_b.slug}.example") as other:
        page = await other.get("/console/governance/policy")
        assert "ai@agency.example" not in page.text and "/console/governance/policy/1?" not in page.text
        assert (await other.get("/console/governance/policy/1", params={"format": "docx"})).status_code == 404


async def test_platform_administrators_keep_the_suppliers_others_read_them(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    key = await make_platform_key(app)
    users = await client.get("/admin/users", headers={"Authorization": f"Bearer {key}"}, params={"limit": 500})
    (ops,) = [u["id"] for u in users.json()["data"] if u["email"] == "ops@platform.example"]
    patched = await client.patch(
        f"/admin/users/{ops}", headers={"Authorization": f"Bearer {key}"}, json={"password": PASSWORD}
    )
    assert patched.status_code == 200, patched.text
    fields = {
        "legal_name": "Nordic Cloud hf.",
        "country": "is",
        "status": "approved",
        "review_date": "2031-06-30",
        "data_residency": "IS, EEA",
        "trains_on_customer_data": "no",
        "contract_reference": "RK-2026-114",
    }
    async with signed_in("ops@platform.example") as operator:
        page = await operator.get("/console/governance/suppliers?lang=en")
        assert page.status_code == 200 and "Add a supplier" in page.text
        bad = await operator.post(
            "/console/governance/suppliers",
            data={**fields, "country": "Iceland", "csrf_token": form_token(page.text)},
        )
        assert bad.status_code == 400 and "Refused (400)" in bad.text and "RK-2026-114" in bad.text
        added = await operator.post(
            "/console/governance/suppliers", data={**fields, "csrf_token": form_token(page.text)}
        )
        assert added.status_code == 303, added.text
        (supplier,) = await app.state.platform.governance.suppliers.list_suppliers(cli_principal("pytest"))
        assert (supplier.country, supplier.data_residency, supplier.status) == ("IS", ["IS", "EEA"], "approved")
        page = await operator.get(f"/console/governance/suppliers?edit={supplier.id}&lang=en")
        assert "Change “Nordic Cloud hf.”" in page.text and 'value="RK-2026-114"' in page.text
        blocked = await operator.post(
            "/console/governance/suppliers",
            data={**fields, "status": "blocked", "supplier": supplier.id, "csrf_token": form_token(page.text)},
        )
        assert blocked.status_code == 303
        page = await operator.get("/console/governance/suppliers?lang=en&done=saved")
        assert "The supplier has been saved." in page.text and ">Blocked<" in page.text
    found = await app.state.platform.governance.suppliers.get(cli_principal("pytest"), supplier.id)
    assert found.status == "blocked"
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        page = await admin.get("/console/governance/suppliers?lang=en")
        assert page.status_code == 200 and "Nordic Cloud hf." in page.text and ">Blocked<" in page.text
        assert 'action="/console/governance/suppliers"' not in page.text and "?edit=" not in page.text
        refused = await admin.post(
            "/console/governance/suppliers",
            data={
                **fields,
                "legal_name": "Other",
                "csrf_token": form_token((await admin.get("/console/governance")).text),
            },
        )
        assert refused.status_code == 403 and "Refused (403)" in refused.text


async def test_changing_a_use_case_makes_a_new_version_and_a_conflict_is_shown(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a, tenant_b)
    change = ""
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        change = f"/console/governance/{use_case}/change"
        assert f'href="{change}"' in (await staff.get(f"/console/governance/{use_case}")).text
        page = await staff.get(f"{change}?lang=en")
        assert page.status_code == 200 and "Housing Benefit Regulations 2006, reg. 90." in page.text
        (form,) = forms(page.text, change)
        hidden = dict(form["hidden"])
        assert hidden["expected_version"] == "1"
        sent = {  # every field, as a browser sends the form
            **REGISTER,
            **hidden,
            "purpose": "Answer letters within a week.",
            "models": ["mock-chat"],
            "review_date": "2032-01-31",
        }
        saved = await staff.post(change, data=sent)
        assert saved.status_code == 303 and saved.headers["location"].endswith("?done=changed")
        page = await staff.get(f"/console/governance/{use_case}?lang=en&done=changed")
        assert "A new version has been saved." in page.text and "Answer letters within a week." in page.text
        entry = await app.state.platform.governance.get(cli_principal("pytest"), use_case)
        assert entry.use_case.version == 2 and entry.fields.review_date.isoformat() == "2032-01-31"
        # the same form again, read at version 1: refused with 409, what was typed kept on the page
        stale = await staff.post(change, data={**sent, "purpose": "Something else entirely."})
        assert stale.status_code == 409 and "Refused (409)" in stale.text
        assert "Something else entirely." in stale.text
        assert (await app.state.platform.governance.get(cli_principal("pytest"), use_case)).use_case.version == 2
        assert (await staff.post(change, data={**sent, "csrf_token": "forged"})).status_code == 403
    async with signed_in(f"auditor@{tenant_a.slug}.example") as auditor:
        page = await auditor.get(change)
        assert page.status_code == 200 and f'action="{change}"' not in page.text
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        assert (await other.get(change)).status_code == 404
        token = form_token((await other.get("/console/governance")).text)
        stolen = await other.post(change, data={"name": "x", "expected_version": "2", "csrf_token": token})
        assert stolen.status_code == 404
