"""The AI usage policy through the API, on SQLite and PostgreSQL: generated from the live configuration,
kept in versions with their SHA-256, approved by another administrator, what changed since shown, and
downloaded as DOCX (which opens and holds the allowed-model table) or HTML in three languages."""

from __future__ import annotations

import io

import docx
import httpx

from tests.governance.conftest import Keys
from tests.governance.test_enforcement import approved_use_case

CONTACT = {"contact": "ai-incidents@agency.example"}


def policy(keys: Keys) -> str:
    return f"/v1/governance/organisations/{keys.tenant.org_id}/policy"


async def test_the_policy_is_generated_versioned_approved_and_downloaded(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    await approved_use_case(client, agency)
    first = await client.post(policy(agency), headers=agency.admin, json=CONTACT)
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.json()["status"]) == (1, "generated")
    assert set(first.json()["sha256"]) == {"en", "es", "is"}
    again = await client.post(policy(agency), headers=agency.admin, json=CONTACT)
    assert again.json()["version"] == 1  # nothing changed: the same version

    document = await client.get(f"{policy(agency)}/1?format=docx&language=es", headers=agency.auditor)
    assert document.status_code == 200
    opened = docx.Document(io.BytesIO(document.content))
    cells = [[cell.text for cell in row.cells] for table in opened.tables for row in table.rows]
    model_rows = [row for row in cells if "mock-chat" in row]
    # the mock deployment runs on premises: every one of the four classification levels may use it
    assert len(model_rows) == 4 and all("mock-chat@mock" in row for row in model_rows), cells
    pages = {
        language: (await client.get(f"{policy(agency)}/1?language={language}", headers=agency.auditor)).text
        for language in ("en", "es", "is")
    }
    assert all("mock-chat" in page and "Benefit letters assistant" in page for page in pages.values())
    assert len({page[:400] for page in pages.values()}) == 3

    own = await client.post(f"{policy(agency)}/1/approve", headers=agency.admin)
    assert (own.status_code, own.json()["error"]["code"]) == (403, "approver_required")
    approved = await client.post(f"{policy(agency)}/1/approve", headers=ministry.admin)
    assert approved.json()["status"] == "approved", approved.text

    # the configuration changes: a new version, and what changed since the approved one
    tightened = await client.put(
        f"/admin/privacy/policies/organisations/{agency.tenant.org_id}",
        headers=agency.admin,
        json={"retention": {"usage_days": 200}},
    )
    assert tightened.status_code == 200, tightened.text
    second = await client.post(policy(agency), headers=agency.admin, json=CONTACT)
    assert second.json()["version"] == 2
    assert [(c["section"], c["kind"], c["before"], c["after"]) for c in second.json()["changes"]] == [
        ("retention", "changed", "400 days", "200 days")
    ]
    listed = (await client.get(policy(agency), headers=agency.auditor)).json()["data"]
    assert [(v["version"], v["status"]) for v in listed] == [(2, "generated"), (1, "approved")]


async def test_only_administrators_generate_and_approve(client: httpx.AsyncClient, agency: Keys) -> None:
    refused = await client.post(policy(agency), headers=agency.writer, json=CONTACT)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "admin_required")
    empty = await client.post(policy(agency), headers=agency.admin, json={"contact": "   "})
    assert empty.status_code in (400, 422)
    assert (await client.get(f"{policy(agency)}/7", headers=agency.auditor)).status_code == 404
