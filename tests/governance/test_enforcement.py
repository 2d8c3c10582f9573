"""Run-time enforcement, on SQLite and PostgreSQL: traffic runs only for a use case the register allows.

Each reason for a refusal gets its code, in the API's format, and an audit entry; an approved use case's
key works; warning mode lets the call through with a header; the citizen assistant stops with its use
case; a suspension is enforced on the next call in the process that made it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from soberana.gateway.models import UsageRecord
from soberana.governance import enforcement
from soberana.governance.enforcement import Snapshot, Standing, verdict
from soberana.governance.lifecycle import Status
from soberana.settings import DeploymentConfig, Settings
from tests.conftest import MOCK_DEPLOYMENT
from tests.governance.conftest import COMPLETE, Keys
from tests.governance.test_register import act, assess_minimal
from tests.knowledge.conftest import E5, make_collection

USE_CASES = "/v1/governance/use-cases"
BINDINGS = "/v1/governance/bindings"
CHAT = "/v1/chat/completions"
TODAY = dt.date(2027, 3, 1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "governance_enforcement": "enforce",
            "governance_audit_seconds": 0,
            # the citizen assistant searches with the local embedder
            "deployments": [DeploymentConfig.model_validate(d) for d in (MOCK_DEPLOYMENT, E5)],
        }
    )


def standing(**changes: Any) -> Standing:
    values: dict[str, Any] = {
        "use_case_id": "uc_1",
        "org_id": "org_1",
        "name": "Letters",
        "status": Status.LIVE,
        "prohibited": False,
        "models": frozenset({"chat"}),
        "review_date": None,
    }
    return Standing(**(values | changes))


@pytest.mark.parametrize(
    ("changes", "model", "code"),
    [
        ({}, "chat", None),
        ({"status": Status.APPROVED}, "chat", None),
        ({"review_date": TODAY}, "chat", None),  # due today: still allowed
        ({"status": Status.DRAFT}, "chat", "use_case_not_approved"),
        ({"status": Status.IN_REVIEW}, "chat", "use_case_not_approved"),
        ({"status": Status.SUSPENDED}, "chat", "use_case_suspended"),
        ({"status": Status.RETIRED}, "chat", "use_case_retired"),
        ({"prohibited": True}, "chat", "use_case_prohibited"),
        ({"prohibited": True, "status": Status.SUSPENDED}, "chat", "use_case_prohibited"),
        ({"review_date": TODAY - dt.timedelta(days=1)}, "chat", "use_case_review_overdue"),
        ({}, "other", "model_not_approved"),
        ({"models": frozenset()}, "chat", "model_not_approved"),  # no model listed: none approved
        ({}, None, None),  # the assistant: the installation's model
    ],
)
def test_each_reason_has_its_code(changes: dict[str, Any], model: str | None, code: str | None) -> None:
    snapshot = Snapshot(1, {("api_key", "key_1"): "uc_1"}, {"uc_1": standing(**changes)})
    found = verdict(snapshot, "api_key", "key_1", model, TODAY)
    assert (found.code if found else None) == code
    unbound = verdict(snapshot, "api_key", "key_2", model, TODAY)
    assert unbound is not None and unbound.code == "use_case_unbound"


def chat(model: str = "mock-chat") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Draft a reply."}]}


async def approved_use_case(client: httpx.AsyncClient, keys: Keys, **fields: Any) -> str:
    response = await client.post(USE_CASES, headers=keys.writer, json=COMPLETE | fields)
    assert response.status_code == 201, response.text
    uc = str(response.json()["id"])
    await assess_minimal(client, keys, uc)
    assert (await act(client, keys.writer, uc, "submit")).status_code == 200
    approved = await act(client, keys.admin, uc, "approve", version=1)
    assert approved.status_code == 200, approved.text
    return uc


async def bind(client: httpx.AsyncClient, keys: Keys, kind: str, subject: str, uc: str) -> httpx.Response:
    return await client.put(f"{BINDINGS}/{kind}/{subject}", headers=keys.admin, json={"use_case_id": uc})


async def refusals(app: Any) -> list[tuple[str, str | None, dict[str, Any]]]:
    async with app.state.platform.db.session() as session:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "governance.traffic.refused").order_by(AuditEntry.seq)
            )
        ).all()
    return [(row.outcome, row.object_id, json.loads(row.details)) for row in rows]


async def test_enforced_traffic_needs_an_approved_running_use_case(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    staff = agency.tenant.headers("staff")
    key = agency.tenant.staff_key_id
    unbound = await client.post(CHAT, headers=staff, json=chat())
    assert unbound.status_code == 403
    assert unbound.json()["error"] | {"message": ""} == {
        "message": "",
        "type": "permission_error",
        "code": "use_case_unbound",
        "param": None,
    }

    uc = await approved_use_case(client, agency)
    assert (await bind(client, agency, "api_key", key, uc)).status_code == 200
    allowed = await client.post(CHAT, headers=staff, json=chat())
    assert allowed.status_code == 200, allowed.text
    assert "x-soberana-governance" not in allowed.headers

    other_model = await client.post(CHAT, headers=staff, json=chat("mock-other"))
    assert other_model.json()["error"]["code"] == "model_not_approved"
    nameless = await client.post(CHAT, headers=staff, json={"messages": [{"role": "user", "content": "Hi"}]})
    assert (nameless.status_code, nameless.json()["error"]["param"]) == (400, "model")

    # the kill switch: refused from the very next call, in the process that suspended it
    suspended = await act(client, agency.admin, uc, "suspend", reason="Wrong rates quoted.")
    assert suspended.status_code == 200, suspended.text
    stopped = await client.post(CHAT, headers=staff, json=chat())
    assert (stopped.status_code, stopped.json()["error"]["code"]) == (403, "use_case_suspended")
    streamed = await client.post(CHAT, headers=staff, json=chat() | {"stream": True})
    assert streamed.json()["error"]["code"] == "use_case_suspended"
    assert (await act(client, agency.admin, uc, "resume", reason="Rates fixed.")).status_code == 200
    assert (await client.post(CHAT, headers=staff, json=chat())).status_code == 200

    assert (await act(client, agency.admin, uc, "retire", reason="Replaced.")).status_code == 200
    assert (await client.post(CHAT, headers=staff, json=chat())).json()["error"]["code"] == "use_case_retired"

    logged = await refusals(app)
    assert [(outcome, details["code"]) for outcome, _, details in logged] == [
        ("denied", "use_case_unbound"),
        ("denied", "model_not_approved"),
        ("denied", "use_case_suspended"),
        ("denied", "use_case_suspended"),
        ("denied", "use_case_retired"),
    ]
    assert logged[0][1] == key and logged[1][1] == uc
    assert logged[1][2] | {"calls": 1} == {
        "code": "model_not_approved",
        "kind": "api_key",
        "subject_id": key,
        "model": "mock-other",
        "calls": 1,
    }
    # refused calls are metered as errors, like any other refusal
    await app.state.platform.gateway_service.meter.flush()
    async with app.state.platform.db.session() as session:
        metered = (await session.scalars(select(UsageRecord.error_code).where(UsageRecord.key_id == key))).all()
    refused = ["use_case_unbound", "model_not_approved", "use_case_suspended", "use_case_suspended", "use_case_retired"]
    assert sorted(c or "" for c in metered) == sorted(["", "", *refused])


async def test_a_use_case_not_yet_approved_overdue_or_prohibited_gets_no_traffic(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    staff = agency.tenant.headers("staff")
    key = agency.tenant.staff_key_id
    draft = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE | {"name": "Draft"})).json()["id"]
    assert (await bind(client, agency, "api_key", key, draft)).status_code == 200
    assert (await client.post(CHAT, headers=staff, json=chat())).json()["error"]["code"] == "use_case_not_approved"

    overdue = await approved_use_case(client, agency, name="Overdue", review_date="2020-01-31")
    assert (await bind(client, agency, "api_key", key, overdue)).status_code == 200
    refused = await client.post(CHAT, headers=staff, json=chat())
    assert refused.json()["error"]["code"] == "use_case_review_overdue"
    assert "2020-01-31" in refused.json()["error"]["message"]

    prohibited = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE | {"name": "Scoring"})).json()
    answers = {"ai_system": "yes", "general_purpose": "no", "role": "deployer", "prohibited_practice": "social_scoring"}
    assessed = await client.put(
        f"{USE_CASES}/{prohibited['id']}/ai-act", headers=agency.writer, json={"answers": answers}
    )
    assert assessed.json()["risk_group"] == "prohibited"
    assert (await bind(client, agency, "api_key", key, prohibited["id"])).status_code == 200
    assert (await client.post(CHAT, headers=staff, json=chat())).json()["error"]["code"] == "use_case_prohibited"
    # each refusal has its audit entry, naming the use case
    assert [(d["code"], use_case) for _, use_case, d in await refusals(app)] == [
        ("use_case_not_approved", draft),
        ("use_case_review_overdue", overdue),
        ("use_case_prohibited", prohibited["id"]),
    ]


async def test_the_citizen_assistant_answers_only_for_a_running_use_case(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    collection = await make_collection(client, agency.tenant, "faq", "public")
    ref = {"collection": f"{agency.tenant.slug}/faq"}
    closed = await client.post("/v1/conversations", json=ref)
    assert (closed.status_code, closed.json()["error"]["code"]) == (503, "use_case_unbound")
    assert "not available" in closed.json()["error"]["message"]

    # the assistant's calls are held to its use case too: its approved models must include the embedder
    narrow = await approved_use_case(client, agency, name="Without the embedder")
    assert (await bind(client, agency, "collection", collection["id"], narrow)).status_code == 200
    opened = (await client.post("/v1/conversations", json=ref)).json()
    refused = await client.post(
        f"/v1/conversations/{opened['id']}/messages",
        headers={"X-Conversation-Token": opened["token"]},
        json={"question": "When is the library open?"},
    )
    assert refused.status_code == 503
    logged = await refusals(app)
    assert [(d["code"], d["model"], d["kind"]) for _, _, d in logged][-1:] == [
        ("model_not_approved", E5["alias"], "collection")
    ]

    uc = await approved_use_case(client, agency, models=["mock-chat", E5["alias"]])
    assert (await bind(client, agency, "collection", collection["id"], uc)).status_code == 200
    opened = await client.post("/v1/conversations", json=ref)
    assert opened.status_code == 201, opened.text
    url = f"/v1/conversations/{opened.json()['id']}/messages"
    headers = {"X-Conversation-Token": opened.json()["token"]}
    asked = await client.post(url, headers=headers, json={"question": "When is the library open?"})
    assert asked.status_code == 200, asked.text

    await act(client, agency.admin, uc, "suspend", reason="Wrong opening hours.")
    stopped = await client.post(url, headers=headers, json={"question": "And on Sundays?"})
    assert (stopped.status_code, stopped.json()["error"]["code"]) == (503, "use_case_suspended")


async def test_binding_is_for_administrators_within_their_organisation(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = await approved_use_case(client, agency)
    by_staff = await client.put(
        f"{BINDINGS}/api_key/{agency.tenant.staff_key_id}", headers=agency.writer, json={"use_case_id": uc}
    )
    assert (by_staff.status_code, by_staff.json()["error"]["code"]) == (403, "admin_required")
    # the ministry's administrator sees the agency, but a ministry key answers for a ministry use case
    cross = await bind(client, ministry, "api_key", ministry.tenant.staff_key_id, uc)
    assert (cross.status_code, cross.json()["error"]["code"]) == (403, "other_organisation")
    # the agency's administrator does not see the ministry's assistant (public or not)
    theirs = await make_collection(client, ministry.tenant, "faq", "public")
    hidden = await bind(client, agency, "collection", theirs["id"], uc)
    assert hidden.status_code == 404
    workspace = await bind(client, agency, "workspace", agency.tenant.org_id, uc)
    assert workspace.status_code == 200 and workspace.json()["subject_id"] == agency.tenant.org_id
    above = await bind(client, agency, "workspace", ministry.tenant.org_id, uc)
    assert above.status_code == 404
    listed = (await client.get(f"{BINDINGS}?use_case_id={uc}", headers=agency.auditor)).json()["data"]
    assert [(b["kind"], b["subject_id"]) for b in listed] == [("workspace", agency.tenant.org_id)]
    removed = await client.delete(f"{BINDINGS}/workspace/{agency.tenant.org_id}", headers=agency.admin)
    assert removed.status_code == 204
    assert (await client.get(BINDINGS, headers=agency.auditor)).json()["data"] == []


async def test_warning_lets_the_call_through_with_a_header_and_an_entry(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    app.state.platform.enforcer.mode = "warn"
    warned = await client.post(CHAT, headers=agency.tenant.headers("staff"), json=chat())
    assert warned.status_code == 200, warned.text
    assert warned.headers["x-soberana-governance"] == "warn; code=use_case_unbound"
    async with app.state.platform.db.session() as session:
        entry = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "governance.traffic.warned"))
        ).one()
    assert (entry.outcome, json.loads(entry.details)["code"]) == ("success", "use_case_unbound")
    assert await refusals(app) == []


async def test_refusals_in_a_loop_are_audited_once_per_window(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    app.state.platform.enforcer.audit_seconds = 3600
    for _ in range(5):
        refused = await client.post(CHAT, headers=agency.tenant.headers("staff"), json=chat())
        assert refused.status_code == 403
    assert [details["calls"] for _, _, details in await refusals(app)] == [1]
    app.state.platform.enforcer.audit_seconds = 0  # the next entry counts the calls not logged
    await client.post(CHAT, headers=agency.tenant.headers("staff"), json=chat())
    assert [details["calls"] for _, _, details in await refusals(app)] == [1, 5]


async def test_a_call_during_a_reload_waits_for_what_it_loads(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload under way may hold a change the snapshot in memory lacks: a call waits for it."""
    enforcer = app.state.platform.enforcer
    gate = asyncio.Event()
    fresh = Snapshot(99, {("api_key", "key_1"): "uc_1"}, {"uc_1": standing(status=Status.SUSPENDED)})

    async def slow_load(session: Any) -> Snapshot:
        await gate.wait()
        return fresh

    monkeypatch.setattr(enforcement, "load", slow_load)
    enforcer._stale = True
    reloading = asyncio.create_task(enforcer._reload())
    await asyncio.sleep(0)  # the reload has begun: the change is no longer marked
    assert not enforcer._stale
    calling = asyncio.create_task(enforcer.snapshot())
    await asyncio.sleep(0)
    assert not calling.done()
    gate.set()
    assert await calling is fresh
    assert await reloading is fresh
