"""Public transparency records through the API, on SQLite and PostgreSQL: written from the register and
what runs (figures of the last 30 days included), approved by a second person, published for anyone to
read without signing in (JSON valid against the schema, CSV, three languages), flagged out of date when
what runs changes, exported in the ATRS and Algoritmeregister layouts."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from soberana.governance import transparency
from soberana.settings import Settings
from tests.conftest import make_tenant
from tests.governance.conftest import COMPLETE, Keys
from tests.governance.test_enforcement import approved_use_case, bind, chat
from tests.governance.test_register import act

USE_CASES = "/v1/governance/use-cases"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"transparency_requests_per_minute": 8})


async def published_record(client: httpx.AsyncClient, agency: Keys) -> tuple[str, str]:
    uc = await approved_use_case(client, agency, website="https://agency.example/ai/letters")
    assert (await bind(client, agency, "api_key", agency.tenant.staff_key_id, uc)).status_code == 200
    for _ in range(3):
        assert (
            await client.post("/v1/chat/completions", headers=agency.tenant.headers("staff"), json=chat())
        ).status_code == 200
    drafted = await client.post(f"{USE_CASES}/{uc}/transparency", headers=agency.writer)
    assert drafted.status_code == 201, drafted.text
    record_id = drafted.json()["id"]
    return uc, record_id


async def test_a_record_is_written_approved_by_another_and_published(client: httpx.AsyncClient, agency: Keys) -> None:
    uc, record_id = await published_record(client, agency)
    drafted = (await client.get(f"{USE_CASES}/{uc}/transparency", headers=agency.auditor)).json()["data"][0]
    assert (drafted["status"], drafted["version"], drafted["out_of_date"]) == ("draft", 1, False)
    transparency.validate(drafted["record"])
    assert drafted["record"]["figures"]["requests"] == 3
    assert drafted["record"]["use_case"]["name"] == COMPLETE["name"]
    assert drafted["record"]["ai_generated_content_disclosure"]["answers_written_by_ai"] is True
    assert [m["alias"] for m in drafted["record"]["models"]] == ["mock-chat"]

    # not public until approved by a second person and published
    assert (await client.get(f"/v1/transparency/{agency.tenant.slug}")).json()["data"] == []
    staff = await client.post(
        f"/v1/governance/transparency/{record_id}/actions", headers=agency.writer, json={"action": "approve"}
    )
    assert (staff.status_code, staff.json()["error"]["code"]) == (403, "admin_required")
    early = await client.post(
        f"/v1/governance/transparency/{record_id}/actions", headers=agency.admin, json={"action": "publish"}
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "not_approved")
    approved = await client.post(
        f"/v1/governance/transparency/{record_id}/actions", headers=agency.admin, json={"action": "approve"}
    )
    assert approved.json()["status"] == "approved", approved.text
    published = await client.post(
        f"/v1/governance/transparency/{record_id}/actions", headers=agency.admin, json={"action": "publish"}
    )
    assert published.json()["status"] == "published", published.text

    public = await client.get(f"/v1/transparency/{agency.tenant.slug}")  # no credentials
    assert public.status_code == 200
    (shown,) = public.json()["data"]
    assert (shown["use_case"]["id"], shown["out_of_date"]) == (uc, False)
    spanish = (await client.get(f"/v1/transparency/{agency.tenant.slug}/{uc}?language=es")).json()
    icelandic = (await client.get(f"/v1/transparency/{agency.tenant.slug}/{uc}?language=is")).json()
    assert len({shown["labels"]["figures"], spanish["labels"]["figures"], icelandic["labels"]["figures"]}) == 3
    rows = list(
        csv.DictReader(io.StringIO((await client.get(f"/v1/transparency/{agency.tenant.slug}/records.csv")).text))
    )
    assert [r["name"] for r in rows] == [COMPLETE["name"]]

    # what runs changes: the published record says it is out of date
    await act(client, agency.admin, uc, "suspend", reason="Wrong rates quoted.")
    assert (await client.get(f"/v1/transparency/{agency.tenant.slug}/{uc}")).json()["out_of_date"] is True


async def test_drafts_need_a_running_use_case_and_stay_within_the_organisation(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    draft = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE | {"name": "Draft"})).json()["id"]
    refused = await client.post(f"{USE_CASES}/{draft}/transparency", headers=agency.writer)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_public")
    uc, _record_id = await published_record(client, agency)
    other = await make_tenant(app, "other")
    assert (await client.get(f"/v1/transparency/{other.slug}")).json()["data"] == []
    assert (await client.get(f"/v1/transparency/{other.slug}/{uc}")).status_code == 404
    assert (await client.get("/v1/transparency/no-such-organisation")).status_code == 404


async def test_exports_in_the_atrs_and_algoritmeregister_layouts(client: httpx.AsyncClient, agency: Keys) -> None:
    uc, _ = await published_record(client, agency)
    atrs = (await client.get(f"{USE_CASES}/{uc}/transparency/export?layout=atrs", headers=agency.auditor)).json()
    assert atrs["tier_1"]["name"] == COMPLETE["name"]
    dutch = (
        await client.get(f"{USE_CASES}/{uc}/transparency/export?layout=algoritmeregister", headers=agency.auditor)
    ).json()
    assert (dutch["name"], dutch["contact_email"]) == (COMPLETE["name"], COMPLETE["contact_email"])


async def test_the_public_side_is_rate_limited_per_address(client: httpx.AsyncClient, agency: Keys) -> None:
    statuses = [(await client.get(f"/v1/transparency/{agency.tenant.slug}")).status_code for _ in range(9)]
    assert statuses == [200] * 8 + [429]
