"""Organisation A can never read or change organisation B's use cases, through any governance route;
``test_every_governance_route_is_covered`` fails when a route is added without a case here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import make_tenant
from tests.governance.conftest import COMPLETE, keys_for
from tests.governance.test_register import act, assess_minimal

USE_CASES = "/v1/governance/use-cases"
INCIDENTS = "/v1/governance/incidents"
SUPPLIERS = "/v1/governance/suppliers"
BINDINGS = "/v1/governance/bindings"
POLICY = "/v1/governance/organisations/{org_id}/policy"

# (method, route, concrete path from B's use case id, body)
CASES: list[tuple[str, str, Callable[[dict[str, str]], str], dict[str, Any] | str | None]] = [
    ("GET", USE_CASES, lambda ids: USE_CASES, None),
    ("POST", USE_CASES, lambda ids: USE_CASES, None),  # the body names B's organisation
    ("GET", USE_CASES + "/{use_case_id}", lambda ids: f"{USE_CASES}/{ids['uc']}", None),
    ("PATCH", USE_CASES + "/{use_case_id}", lambda ids: f"{USE_CASES}/{ids['uc']}", {"fields": {"owner": "Taken"}}),
    (
        "POST",
        USE_CASES + "/{use_case_id}/actions",
        lambda ids: f"{USE_CASES}/{ids['uc']}/actions",
        {"action": "retire", "reason": "Taken over."},
    ),
    ("GET", USE_CASES + "/{use_case_id}/versions", lambda ids: f"{USE_CASES}/{ids['uc']}/versions", None),
    ("GET", USE_CASES + "/{use_case_id}/versions/{number}", lambda ids: f"{USE_CASES}/{ids['uc']}/versions/1", None),
    (
        "PUT",
        USE_CASES + "/{use_case_id}/aia",
        lambda ids: f"{USE_CASES}/{ids['uc']}/aia",
        {"answers": {"impact6": "item1-1"}},
    ),
    ("GET", USE_CASES + "/{use_case_id}/aia", lambda ids: f"{USE_CASES}/{ids['uc']}/aia", None),
    (
        "PUT",
        USE_CASES + "/{use_case_id}/ai-act",
        lambda ids: f"{USE_CASES}/{ids['uc']}/ai-act",
        {"answers": {"ai_system": "no"}},
    ),
    ("GET", USE_CASES + "/{use_case_id}/ai-act", lambda ids: f"{USE_CASES}/{ids['uc']}/ai-act", None),
    (
        "POST",
        USE_CASES + "/{use_case_id}/ai-act/override",
        lambda ids: f"{USE_CASES}/{ids['uc']}/ai-act/override",
        {"risk_group": "minimal", "justification": "Taken over."},
    ),
    ("GET", "/v1/governance/ai-act/tree", lambda ids: "/v1/governance/ai-act/tree", None),
    (
        "POST",
        USE_CASES + "/{use_case_id}/incidents",
        lambda ids: f"{USE_CASES}/{ids['uc']}/incidents",
        {"title": "Planted", "description": "Planted."},
    ),
    ("GET", INCIDENTS, lambda ids: INCIDENTS, None),
    ("GET", INCIDENTS + "/{incident_id}", lambda ids: f"{INCIDENTS}/{ids['incident']}", None),
    ("PATCH", INCIDENTS + "/{incident_id}", lambda ids: f"{INCIDENTS}/{ids['incident']}", {"status": "closed"}),
    (
        "POST",
        INCIDENTS + "/{incident_id}/suspend",
        lambda ids: f"{INCIDENTS}/{ids['incident']}/suspend",
        {"reason": "Taken over."},
    ),
    ("GET", INCIDENTS + "/{incident_id}/export", lambda ids: f"{INCIDENTS}/{ids['incident']}/export", None),
    # suppliers are the installation's: an organisation's administrator reads them and changes nothing
    ("GET", SUPPLIERS, lambda ids: SUPPLIERS, None),
    ("GET", SUPPLIERS + "/{supplier_id}", lambda ids: f"{SUPPLIERS}/{ids['supplier']}", None),
    ("POST", SUPPLIERS, lambda ids: SUPPLIERS, {"legal_name": "Planted", "country": "ES"}),
    ("PATCH", SUPPLIERS + "/{supplier_id}", lambda ids: f"{SUPPLIERS}/{ids['supplier']}", {"status": "approved"}),
    ("POST", USE_CASES + "/{use_case_id}/transparency", lambda ids: f"{USE_CASES}/{ids['uc']}/transparency", None),
    ("GET", USE_CASES + "/{use_case_id}/transparency", lambda ids: f"{USE_CASES}/{ids['uc']}/transparency", None),
    (
        "GET",
        USE_CASES + "/{use_case_id}/transparency/export",
        lambda ids: f"{USE_CASES}/{ids['approved']}/transparency/export",
        None,
    ),
    (
        "POST",
        "/v1/governance/transparency/{record_id}/actions",
        lambda ids: f"/v1/governance/transparency/{ids['record']}/actions",
        {"action": "approve"},
    ),
    ("GET", USE_CASES + "/{use_case_id}/requirements", lambda ids: f"{USE_CASES}/{ids['uc']}/requirements", None),
    (
        "PUT",
        USE_CASES + "/{use_case_id}/requirements/{requirement_id}",
        lambda ids: f"{USE_CASES}/{ids['uc']}/requirements/ai_act_art_4_literacy",
        {"state": "done"},
    ),
    ("POST", POLICY, lambda ids: f"/v1/governance/organisations/{ids['org']}/policy", {"contact": "a@b.example"}),
    ("GET", POLICY, lambda ids: f"/v1/governance/organisations/{ids['org']}/policy", None),
    (
        "POST",
        POLICY + "/{version}/approve",
        lambda ids: f"/v1/governance/organisations/{ids['org']}/policy/1/approve",
        None,
    ),
    ("GET", POLICY + "/{version}", lambda ids: f"/v1/governance/organisations/{ids['org']}/policy/1", None),
    ("GET", BINDINGS, lambda ids: BINDINGS, None),
    # B's key, bound by A's administrator to B's use case
    ("PUT", BINDINGS + "/{kind}/{subject_id}", lambda ids: f"{BINDINGS}/api_key/{ids['key']}", "bind"),
    ("DELETE", BINDINGS + "/{kind}/{subject_id}", lambda ids: f"{BINDINGS}/api_key/{ids['key']}", None),
]


@pytest.mark.parametrize(("method", "route", "path", "body"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
async def test_organisation_a_cannot_reach_organisation_b(
    app: Any,
    client: httpx.AsyncClient,
    method: str,
    route: str,
    path: Callable[[dict[str, str]], str],
    body: dict[str, Any] | str | None,
    operator: dict[str, str],
) -> None:
    a = await keys_for(app, await make_tenant(app, "agency-a"))
    b = await keys_for(app, await make_tenant(app, "agency-b"))
    created = await client.post(USE_CASES, headers=b.writer, json=COMPLETE)
    uc = created.json()["id"]
    assessed = await client.put(f"{USE_CASES}/{uc}/aia", headers=b.writer, json={"answers": {"impact7": "item4-4"}})
    assert assessed.status_code == 200, assessed.text
    ai_act = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=b.writer, json={"answers": {"ai_system": "no"}})
    assert ai_act.json()["conclusion"]["id"] == "not_ai_system"
    if method == "POST" and route == USE_CASES:
        body = COMPLETE | {"name": "Planted", "org_id": b.tenant.org_id}

    incident = await client.post(
        f"{USE_CASES}/{uc}/incidents", headers=b.writer, json={"title": "Wrong rates", "description": "Old rates."}
    )
    supplier = await client.post(SUPPLIERS, headers=operator, json={"legal_name": "Cloud SL", "country": "ES"})
    key = b.tenant.staff_key_id
    bound = await client.put(f"{BINDINGS}/api_key/{key}", headers=b.admin, json={"use_case_id": uc})
    assert bound.status_code == 200, bound.text
    approved = (await client.post(USE_CASES, headers=b.writer, json=COMPLETE | {"name": "Approved"})).json()["id"]
    await assess_minimal(client, b, approved)
    await act(client, b.writer, approved, "submit")
    assert (await act(client, b.admin, approved, "approve", version=1)).status_code == 200
    record = await client.post(f"{USE_CASES}/{approved}/transparency", headers=b.writer)
    assert record.status_code == 201, record.text
    generated = await client.post(
        f"/v1/governance/organisations/{b.tenant.org_id}/policy", headers=b.admin, json={"contact": "b@b.example"}
    )
    assert generated.status_code == 200, generated.text
    ids = {
        "org": b.tenant.org_id,
        "uc": uc,
        "incident": incident.json()["id"],
        "supplier": supplier.json()["id"],
        "key": key,
        "approved": approved,
        "record": record.json()["id"],
    }
    if body == "bind":
        body = {"use_case_id": uc}

    response = await client.request(method, path(ids), headers=a.admin, json=body)
    if route.startswith(SUPPLIERS):
        # not an organisation's data: readable, never changed by an organisation's administrator
        expected = 200 if method == "GET" else 403
        assert response.status_code == expected, response.text
    elif route in (USE_CASES, INCIDENTS, BINDINGS, "/v1/governance/ai-act/tree") and method == "GET":
        assert response.status_code == 200
        assert not {uc, approved, ids["incident"], key, b.tenant.org_id} & set(response.text.split('"'))
    else:
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "not_found_error"

    mine = (await client.get(USE_CASES, headers=b.auditor)).json()["data"]
    assert sorted((u["id"], u["name"], u["version"], u["status"]) for u in mine) == sorted(
        [(uc, COMPLETE["name"], 1, "draft"), (approved, "Approved", 1, "approved")]
    )
    policy = (await client.get(f"/v1/governance/organisations/{b.tenant.org_id}/policy", headers=b.auditor)).json()
    assert [(v["version"], v["status"]) for v in policy["data"]] == [(1, "generated")]
    states = (await client.get(f"{USE_CASES}/{uc}/requirements", headers=b.auditor)).json()["data"]
    assert {r["id"]: r["recorded_state"] for r in states}["ai_act_art_4_literacy"] == "to_do"
    records = (await client.get(f"{USE_CASES}/{approved}/transparency", headers=b.auditor)).json()["data"]
    assert [(r["id"], r["status"]) for r in records] == [(ids["record"], "draft")]
    aia = (await client.get(f"{USE_CASES}/{uc}/aia", headers=b.auditor)).json()
    assert (aia["version"], aia["answers"]) == (1, {"impact7": "item4-4"})
    theirs = (await client.get(f"{INCIDENTS}/{ids['incident']}", headers=b.auditor)).json()
    assert (theirs["status"], theirs["title"], len(theirs["history"])) == ("open", "Wrong rates", 1)
    catalogue = (await client.get(SUPPLIERS, headers=b.auditor)).json()["data"]
    assert [(s["legal_name"], s["status"]) for s in catalogue] == [("Cloud SL", "pending")]
    bindings = (await client.get(BINDINGS, headers=b.auditor)).json()["data"]
    assert [(x["kind"], x["subject_id"], x["use_case_id"]) for x in bindings] == [("api_key", key, uc)]
    mine_ai_act = (await client.get(f"{USE_CASES}/{uc}/ai-act", headers=b.auditor)).json()
    assert (mine_ai_act["version"], mine_ai_act["override"]) == (1, None)


def test_every_governance_route_is_covered(app: Any) -> None:
    paths = app.openapi()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() if p.startswith("/v1/governance") for m in ops}
    assert routes == {(method, route) for method, route, _, _ in CASES}
