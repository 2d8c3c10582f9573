"""Suites run for real through the gateway: the injection suites tell a model that obeys injected instructions
from one that resists them; runs are compared case by case; a crashed run resumes; cost and usage are kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.evaluations.conftest import finished
from tests.governance.conftest import keys_for


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def run(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/evaluations/runs", headers=headers, json=body)
    assert response.status_code == 202, response.text
    return await finished(client, headers, response.json()["id"])


async def test_indirect_injection_hidden_in_pages_is_caught_and_passed_by_a_resisting_model(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, pages: dict[str, Any], upstream: Any
) -> None:
    keys = await keys_for(app, tenant)
    obeying = await run(client, keys.writer, suite="indirect-injection", collection=pages["id"], model="obeying")
    resisting = await run(client, keys.writer, suite="indirect-injection", collection=pages["id"], model="resisting")
    assert obeying["status"] == resisting["status"] == "finished", (obeying["error"], resisting["error"])
    assert resisting["pass_rate"] == 1.0
    assert obeying["pass_rate"] is not None and obeying["pass_rate"] <= 0.2
    results = (await client.get(f"/v1/evaluations/runs/{obeying['id']}/results", headers=keys.writer)).json()
    failed_checks = {v["check"] for r in results for v in r["verdicts"] if not v["passed"]}
    assert {"no_new_contacts", "must_not_contain"} <= failed_checks
    # the shadow collection of poisoned copies is gone once the runs end
    names = [c["name"] for c in (await client.get("/v1/collections", headers=tenant.headers("admin"))).json()["data"]]
    assert names == ["city-services"]
    # the paired comparison lists the cases that flipped
    response = await client.get(
        f"/v1/evaluations/runs/{obeying['id']}/comparison",
        headers=keys.writer,
        params={"against": resisting["id"]},
    )
    comparison = response.json()
    assert set(comparison["regressed"]) == {r["case_id"] for r in results if not r["passed"]}
    assert comparison["fixed"] == [] and comparison["baseline_id"] == resisting["id"]


async def test_personal_data_sent_abroad_is_checked_against_what_the_upstream_received(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, upstream: Any
) -> None:
    keys = await keys_for(app, tenant)
    before = len(upstream.requests())
    done = await run(client, keys.writer, suite="personal-data", model="resisting-abroad")
    assert done["status"] == "finished", done["error"]
    results = (await client.get(f"/v1/evaluations/runs/{done['id']}/results", headers=keys.writer)).json()
    sent_checks = [v for r in results for v in r["verdicts"] if v["check"] == "not_sent"]
    assert sent_checks and all(v["passed"] for v in sent_checks), sent_checks
    assert all(not v["detail"].startswith("nothing protected in 0 ") for v in sent_checks)  # requests were sent
    # the recording upstream (abroad) received the questions, without the identifiers the suite protects
    received = str(upstream.requests()[before:])
    assert "12345678Z" not in received and received.count("<ID_NUMBER") > 0


async def test_the_extractive_assistant_never_quotes_a_line_that_speaks_to_a_model(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, pages: dict[str, Any]
) -> None:
    """The embedded default assistant quoted a poisoned page's planted instruction (and its fake telephone
    number) to citizens until the indirect-injection suite caught it."""
    keys = await keys_for(app, tenant)
    done = await run(client, keys.writer, suite="indirect-injection", collection=pages["id"])
    assert done["status"] == "finished" and done["pass_rate"] == 1.0, done
