"""A citizen reports a problem on the assistant, on SQLite and PostgreSQL: an open incident with the use
case the assistant is bound to, for that organisation's staff only; an assistant bound to none takes no
reports; the form on the assistant's page needs its CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from soberana.settings import DeploymentConfig, Settings
from tests.conftest import MOCK_DEPLOYMENT, make_tenant
from tests.governance.conftest import Keys, keys_for
from tests.governance.test_enforcement import approved_use_case, bind
from tests.knowledge.conftest import E5, make_collection


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The citizen assistant answers with the local embedder."""
    return settings.model_copy(
        update={"deployments": [DeploymentConfig.model_validate(d) for d in (MOCK_DEPLOYMENT, E5)]}
    )


PROBLEM = {"description": "The answer gave last year's fee for a minor works permit."}


async def conversation(client: httpx.AsyncClient, keys: Keys) -> tuple[str, dict[str, str]]:
    opened = (await client.post("/v1/conversations", json={"collection": f"{keys.tenant.slug}/faq"})).json()
    return opened["id"], {"X-Conversation-Token": opened["token"]}


async def test_a_report_becomes_an_incident_of_the_assistants_use_case(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    collection = await make_collection(client, agency.tenant, "faq", "public")
    conversation_id, token = await conversation(client, agency)
    url = f"/v1/conversations/{conversation_id}/problems"
    unbound = await client.post(url, headers=token, json=PROBLEM)
    assert (unbound.status_code, unbound.json()["error"]["code"]) == (409, "reports_not_taken")

    uc = await approved_use_case(client, agency, models=["mock-chat", E5["alias"]])
    assert (await bind(client, agency, "collection", collection["id"], uc)).status_code == 200
    reported = await client.post(url, headers=token, json=PROBLEM)
    assert reported.status_code == 201, reported.text
    reference = reported.json()["reference"]
    incident = (await client.get(f"/v1/governance/incidents/{reference}", headers=agency.auditor)).json()
    assert (incident["use_case_id"], incident["source"], incident["status"]) == (uc, "citizen", "open")
    assert incident["description"] == PROBLEM["description"]
    assert (await client.post(url, headers={"X-Conversation-Token": "wrong"}, json=PROBLEM)).status_code == 401
    assert (await client.post(url, headers=token, json={"description": ""})).status_code in (400, 422)

    other = await keys_for(app, await make_tenant(app, "other"))
    assert (await client.get(f"/v1/governance/incidents/{reference}", headers=other.admin)).status_code == 404
    async with app.state.platform.db.session() as session:
        entry = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "governance.use_case.incident_reported")
            )
        ).one()
    assert (entry.actor_type, entry.object_id) == ("system", uc)


async def test_the_form_on_the_assistants_page(client: httpx.AsyncClient, agency: Keys) -> None:
    collection = await make_collection(client, agency.tenant, "faq", "public")
    uc = await approved_use_case(client, agency, models=["mock-chat", E5["alias"]])
    await bind(client, agency, "collection", collection["id"], uc)
    path = f"/ask/{agency.tenant.slug}/faq"
    page = await client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    asked = await client.post(path, data={"csrf_token": token.group(1), "question": "When is the library open?"})
    assert asked.status_code == 303, asked.text
    page = await client.get(path)
    assert 'action="' + path + '/problem"' in page.text
    forged = await client.post(f"{path}/problem", data={"csrf_token": "forged", **PROBLEM})
    assert forged.status_code == 403
    sent = await client.post(f"{path}/problem", data={"csrf_token": token.group(1), **PROBLEM})
    assert sent.status_code == 303 and "reported=1" in sent.headers["location"]
    listed = (await client.get(f"/v1/governance/incidents?use_case_id={uc}", headers=agency.auditor)).json()["data"]
    assert [(i["source"], i["description"]) for i in listed] == [("citizen", PROBLEM["description"])]
