"""The admin API's behaviour: what each role may do, conflicts, paging, and an audit entry per action."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant


async def test_me_describes_the_caller(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    body = (await client.get("/admin/me", headers=tenant_a.headers())).json()
    assert body == {
        "object": "principal",
        "kind": "user",
        "id": tenant_a.admin_id,
        "label": "org_admin@agency-a.example",
        "org_id": tenant_a.org_id,
        "role": "org_admin",
        "scopes": ["admin", "audit", "inference", "knowledge"],
        "key_id": tenant_a.admin_key_id,
    }


async def test_every_admin_action_is_audited(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers()
    org = (
        await client.post(
            "/admin/organisations",
            headers=h,
            json={"slug": "unit", "name": "Unit", "kind": "agency", "parent_id": tenant_a.org_id},
        )
    ).json()
    await client.patch(f"/admin/organisations/{org['id']}", headers=h, json={"name": "Renamed unit"})
    user = (
        await client.post(
            "/admin/users",
            headers=h,
            json={"org_id": org["id"], "email": "Clerk@Unit.example", "display_name": "Clerk"},
        )
    ).json()
    assert user["email"] == "clerk@unit.example"
    await client.patch(f"/admin/users/{user['id']}", headers=h, json={"role": "auditor"})
    account = (
        await client.post("/admin/service-accounts", headers=h, json={"org_id": org["id"], "name": "bot"})
    ).json()
    await client.patch(f"/admin/service-accounts/{account['id']}", headers=h, json={"description": "A bot"})
    key = (await client.post("/admin/keys", headers=h, json={"name": "k", "service_account_id": account["id"]})).json()
    await client.post(f"/admin/keys/{key['id']}/revoke", headers=h)

    entries = (await client.get("/admin/audit?limit=500", headers=h)).json()["data"]
    mine = [(e["action"], e["object_id"]) for e in entries if e["actor_id"] == tenant_a.admin_id]
    assert mine[::-1] == [
        ("organisation.create", org["id"]),
        ("organisation.update", org["id"]),
        ("user.create", user["id"]),
        ("user.update", user["id"]),
        ("service_account.create", account["id"]),
        ("service_account.update", account["id"]),
        ("api_key.create", key["id"]),
        ("api_key.revoke", key["id"]),
    ]
    update = next(e for e in entries if e["action"] == "user.update")
    assert update["details"]["changes"] == {"role": {"from": "staff", "to": "auditor"}}
    assert update["ip"] == "203.0.113.7"
    assert update["request_id"].startswith("req_")
    assert key["key"] not in str(entries)


async def test_org_admin_cannot_escalate_to_platform_admin(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers()
    created = await client.post(
        "/admin/users",
        headers=h,
        json={"org_id": tenant_a.org_id, "email": "boss@a.example", "display_name": "Boss", "role": "platform_admin"},
    )
    assert created.status_code == 403
    promoted = await client.patch(f"/admin/users/{tenant_a.staff_id}", headers=h, json={"role": "platform_admin"})
    assert promoted.status_code == 403
    top = await client.post("/admin/organisations", headers=h, json={"slug": "rogue", "name": "Rogue"})
    assert top.status_code == 403
    selfie = await client.patch(f"/admin/users/{tenant_a.admin_id}", headers=h, json={"is_active": False})
    assert selfie.status_code == 403
    own_org = await client.patch(f"/admin/organisations/{tenant_a.org_id}", headers=h, json={"is_active": False})
    assert own_org.status_code == 403


async def test_platform_admin_manages_every_organisation(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, platform_key: str
) -> None:
    h = {"Authorization": f"Bearer {platform_key}"}
    orgs = (await client.get("/admin/organisations", headers=h)).json()["data"]
    assert {tenant_a.org_id, tenant_b.org_id} <= {o["id"] for o in orgs}
    top = await client.post(
        "/admin/organisations", headers=h, json={"slug": "new-ministry", "name": "New Ministry", "kind": "ministry"}
    )
    assert top.status_code == 201
    verify = await client.get("/admin/audit/verify", headers=h)
    assert verify.status_code == 200
    assert verify.json()["ok"] is True


async def test_conflicts_are_409(client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant) -> None:
    h = tenant_a.headers()
    dup_user = await client.post(
        "/admin/users",
        headers=h,
        json={"org_id": tenant_a.org_id, "email": f"staff@{tenant_b.slug}.example", "display_name": "Dup"},
    )
    assert dup_user.status_code == 409
    # The message names the e-mail the caller sent, and nothing of organisation B.
    assert tenant_b.org_id not in dup_user.text
    dup_sa = await client.post("/admin/service-accounts", headers=h, json={"org_id": tenant_a.org_id, "name": "portal"})
    assert dup_sa.status_code == 409
    dup_org = await client.post(
        "/admin/organisations", headers=h, json={"slug": tenant_b.slug, "name": "x", "parent_id": tenant_a.org_id}
    )
    assert dup_org.status_code == 409
    assert dup_org.json()["error"] == {
        "message": f"An organisation with slug '{tenant_b.slug}' already exists.",
        "type": "conflict_error",
        "code": "conflict",
        "param": "slug",
    }


async def test_paging(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers()
    for i in range(5):
        await client.post("/admin/service-accounts", headers=h, json={"org_id": tenant_a.org_id, "name": f"sa{i}"})
    first = (await client.get("/admin/service-accounts?limit=4", headers=h)).json()
    assert first["has_more"] is True
    assert len(first["data"]) == 4
    rest = (await client.get(f"/admin/service-accounts?limit=4&after={first['data'][-1]['id']}", headers=h)).json()
    assert rest["has_more"] is False
    assert len(rest["data"]) == 2
    names = [a["name"] for a in first["data"] + rest["data"]]
    assert names == ["portal", "sa0", "sa1", "sa2", "sa3", "sa4"]


async def test_auditor_reads_the_log_but_not_the_admin_api(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    assert (await client.get("/admin/audit", headers=tenant_a.headers("auditor"))).status_code == 200
    assert (await client.get("/admin/users", headers=tenant_a.headers("auditor"))).status_code == 403
    assert (await client.get("/admin/audit/verify", headers=tenant_a.headers("auditor"))).status_code == 403
    assert (await client.get("/admin/audit", headers=tenant_a.headers("staff"))).status_code == 403


async def test_audit_filters_and_export(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers()
    by_prefix = (await client.get("/admin/audit?action=api_key.", headers=h)).json()["data"]
    assert by_prefix
    assert all(e["action"].startswith("api_key.") for e in by_prefix)
    exported = await client.get("/admin/audit/export", headers=h)
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    import json

    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    assert {"seq", "hash", "prev_hash", "signature", "action"} <= set(lines[0])
    after = (await client.get("/admin/audit?action=audit.export", headers=h)).json()["data"]
    assert len(after) == 1
    assert after[0]["actor_id"] == tenant_a.admin_id


async def test_openapi_documents_the_admin_api(app: Any) -> None:
    spec = app.openapi()
    assert spec["info"]["license"]["identifier"] == "EUPL-1.2"
    for path in (
        "/admin/organisations",
        "/admin/users",
        "/admin/service-accounts",
        "/admin/keys",
        "/admin/audit",
        "/admin/audit/verify",
        "/admin/audit/export",
        "/healthz",
        "/readyz",
    ):
        assert path in spec["paths"]
        for operation in spec["paths"][path].values():
            assert operation.get("summary"), f"{path} has no summary"
