"""The installation's supplier catalogue: kept by platform administrators, read by everyone with the
governance scope, every change audit-logged, a passed review date reported."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from tests.governance.conftest import Keys

SUPPLIERS = "/v1/governance/suppliers"
CLOUD = {
    "legal_name": "Nordic Cloud Models ehf.",
    "country": "IS",
    "registration_number": "5501692829",
    "contract_reference": "RK-2026-114",
    "data_residency": ["IS", "EEA"],
    "retention_terms": "Prompts deleted after 30 days.",
    "trains_on_customer_data": "no",
    "certifications": ["ISO/IEC 27001"],
    "sub_processors": [{"name": "Datacentre Reykjanes hf.", "country": "IS", "purpose": "hosting"}],
    "review_date": "2027-06-30",
    "status": "approved",
}


async def test_platform_administrators_keep_the_catalogue(
    app: Any, client: httpx.AsyncClient, operator: dict[str, str], agency: Keys
) -> None:
    created = await client.post(SUPPLIERS, headers=operator, json=CLOUD)
    assert created.status_code == 201, created.text
    supplier = created.json()
    assert (supplier["status"], supplier["review_overdue"], supplier["data_residency"]) == (
        "approved",
        False,
        ["IS", "EEA"],
    )

    for headers in (agency.admin, agency.writer):
        refused = await client.post(SUPPLIERS, headers=headers, json=CLOUD | {"legal_name": "Other"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "platform_admin_required"
    listed = (await client.get(SUPPLIERS, headers=agency.auditor)).json()["data"]
    assert [s["legal_name"] for s in listed] == [CLOUD["legal_name"]]

    blocked = await client.patch(
        f"{SUPPLIERS}/{supplier['id']}", headers=operator, json={"status": "blocked", "review_date": "2026-01-31"}
    )
    assert (blocked.json()["status"], blocked.json()["review_overdue"]) == ("blocked", True)
    assert blocked.json()["certifications"] == ["ISO/IEC 27001"]  # what the change did not name is kept
    assert [
        s["id"] for s in (await client.get(f"{SUPPLIERS}?status=approved", headers=agency.writer)).json()["data"]
    ] == []
    async with app.state.platform.db.session() as session:
        stmt = select(AuditEntry).where(AuditEntry.object_id == supplier["id"]).order_by(AuditEntry.seq)
        entries = (await session.scalars(stmt)).all()
    assert [e.action for e in entries] == ["governance.supplier.created", "governance.supplier.changed"]
    assert json.loads(entries[1].details)["fields"]["status"] == {"from": "approved", "to": "blocked"}


async def test_bad_supplier_records_get_clear_errors(client: httpx.AsyncClient, operator: dict[str, str]) -> None:
    first = (await client.post(SUPPLIERS, headers=operator, json=CLOUD)).json()
    duplicate = await client.post(SUPPLIERS, headers=operator, json=CLOUD)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["param"] == "legal_name"
    for bad in ({"country": "Iceland"}, {"data_residency": ["Mars"]}, {"trains_on_customer_data": "maybe"}):
        response = await client.post(SUPPLIERS, headers=operator, json=CLOUD | {"legal_name": "X"} | bad)
        assert response.status_code == 422, bad
    unknown = await client.patch(f"{SUPPLIERS}/{first['id']}", headers=operator, json={"colour": "red"})
    assert unknown.status_code == 422
    missing = await client.get(f"{SUPPLIERS}/sup_01JD0000000000000000000000", headers=operator)
    assert missing.status_code == 404
