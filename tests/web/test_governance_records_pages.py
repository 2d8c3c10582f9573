"""The records around a use case in the web console: requirement states, incidents (report, triage,
suspend from one), with CSRF, refusals on the page, the auditor's read-only view and tenant isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from soberana.auth.principal import cli_principal
from tests.conftest import Tenant
from tests.web.test_governance_pages import SignIn, forms, passwords, register
from tests.web.test_pages import form_token, sign_in


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
