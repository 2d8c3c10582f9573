"""Organisation A can never read or change organisation B's data, through any admin endpoint.

``CASES`` holds one or more attempts per admin route; ``test_every_admin_route_is_covered`` fails
when a route is added without an isolation case here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant

# (method, route path, concrete path builder, JSON body builder); builders receive tenant B.
Case = tuple[str, str, Callable[[Tenant], str], Callable[[Tenant], dict[str, Any]] | None]

CASES: list[Case] = [
    ("GET", "/admin/me", lambda b: "/admin/me", None),
    ("GET", "/admin/organisations", lambda b: "/admin/organisations", None),
    ("GET", "/admin/organisations", lambda b: f"/admin/organisations?parent_id={b.org_id}", None),
    (
        "POST",
        "/admin/organisations",
        lambda b: "/admin/organisations",
        lambda b: {"slug": "sneaky", "name": "Sneaky", "parent_id": b.org_id},
    ),
    ("GET", "/admin/organisations/{org_id}", lambda b: f"/admin/organisations/{b.org_id}", None),
    (
        "PATCH",
        "/admin/organisations/{org_id}",
        lambda b: f"/admin/organisations/{b.org_id}",
        lambda b: {"name": "Taken over", "is_active": False},
    ),
    ("GET", "/admin/users", lambda b: "/admin/users", None),
    ("GET", "/admin/users", lambda b: f"/admin/users?org_id={b.org_id}", None),
    (
        "POST",
        "/admin/users",
        lambda b: "/admin/users",
        lambda b: {"org_id": b.org_id, "email": "spy@a.example", "display_name": "Spy", "role": "org_admin"},
    ),
    ("GET", "/admin/users/{user_id}", lambda b: f"/admin/users/{b.staff_id}", None),
    (
        "PATCH",
        "/admin/users/{user_id}",
        lambda b: f"/admin/users/{b.admin_id}",
        lambda b: {"role": "staff", "is_active": False, "password": "a-new-password-123"},
    ),
    ("GET", "/admin/service-accounts", lambda b: "/admin/service-accounts", None),
    ("GET", "/admin/service-accounts", lambda b: f"/admin/service-accounts?org_id={b.org_id}", None),
    (
        "POST",
        "/admin/service-accounts",
        lambda b: "/admin/service-accounts",
        lambda b: {"org_id": b.org_id, "name": "backdoor", "role": "org_admin"},
    ),
    ("GET", "/admin/service-accounts/{sa_id}", lambda b: f"/admin/service-accounts/{b.service_account_id}", None),
    (
        "PATCH",
        "/admin/service-accounts/{sa_id}",
        lambda b: f"/admin/service-accounts/{b.service_account_id}",
        lambda b: {"is_active": False},
    ),
    ("GET", "/admin/keys", lambda b: "/admin/keys", None),
    ("GET", "/admin/keys", lambda b: f"/admin/keys?org_id={b.org_id}", None),
    ("GET", "/admin/keys", lambda b: f"/admin/keys?user_id={b.admin_id}", None),
    (
        "POST",
        "/admin/keys",
        lambda b: "/admin/keys",
        lambda b: {"name": "stolen", "user_id": b.admin_id, "scopes": ["admin"]},
    ),
    (
        "POST",
        "/admin/keys",
        lambda b: "/admin/keys",
        lambda b: {"name": "stolen", "service_account_id": b.service_account_id},
    ),
    ("GET", "/admin/keys/{key_id}", lambda b: f"/admin/keys/{b.admin_key_id}", None),
    ("POST", "/admin/keys/{key_id}/revoke", lambda b: f"/admin/keys/{b.admin_key_id}/revoke", None),
    ("GET", "/admin/audit", lambda b: "/admin/audit", None),
    ("GET", "/admin/audit", lambda b: f"/admin/audit?object_id={b.org_id}", None),
    ("GET", "/admin/audit/verify", lambda b: "/admin/audit/verify", None),
    ("GET", "/admin/audit/export", lambda b: "/admin/audit/export", None),
    ("GET", "/admin/models/deployments", lambda b: "/admin/models/deployments", None),
    (
        "POST",
        "/admin/models/deployments",
        lambda b: "/admin/models/deployments",
        lambda b: {"alias": "hijack", "provider": "mock"},
    ),
    (
        "PATCH",
        "/admin/models/deployments/{dep_id}",
        lambda b: "/admin/models/deployments/dep_01JD0000000000000000000000",
        lambda b: {"enabled": False},
    ),
    (
        "DELETE",
        "/admin/models/deployments/{dep_id}",
        lambda b: "/admin/models/deployments/dep_01JD0000000000000000000000",
        None,
    ),
    ("GET", "/admin/models/aliases", lambda b: "/admin/models/aliases", None),
    (
        "PUT",
        "/admin/models/aliases/{name}",
        lambda b: "/admin/models/aliases/mock-chat",
        lambda b: {"strategy": "round_robin"},
    ),
    ("DELETE", "/admin/models/aliases/{name}", lambda b: "/admin/models/aliases/mock-chat", None),
    ("GET", "/admin/quotas", lambda b: "/admin/quotas", None),
    (
        "PUT",
        "/admin/quotas/organisations/{org_id}",
        lambda b: f"/admin/quotas/organisations/{b.org_id}",
        lambda b: {"requests_per_minute": 0},
    ),
    ("DELETE", "/admin/quotas/organisations/{org_id}", lambda b: f"/admin/quotas/organisations/{b.org_id}", None),
    (
        "PUT",
        "/admin/quotas/keys/{key_id}",
        lambda b: f"/admin/quotas/keys/{b.staff_key_id}",
        lambda b: {"requests_per_minute": 0},
    ),
    ("DELETE", "/admin/quotas/keys/{key_id}", lambda b: f"/admin/quotas/keys/{b.staff_key_id}", None),
    ("GET", "/admin/usage", lambda b: "/admin/usage?group_by=organisation", None),
    ("GET", "/admin/usage", lambda b: "/admin/usage?group_by=key", None),
    ("GET", "/admin/usage", lambda b: f"/admin/usage?org_id={b.org_id}", None),
    ("GET", "/admin/privacy/policies", lambda b: "/admin/privacy/policies", None),
    (
        "GET",
        "/admin/privacy/policies/{kind}/{subject_id}",
        lambda b: f"/admin/privacy/policies/organisations/{b.org_id}",
        None,
    ),
    (
        "GET",
        "/admin/privacy/policies/{kind}/{subject_id}",
        lambda b: f"/admin/privacy/policies/keys/{b.staff_key_id}",
        None,
    ),
    (
        "PUT",
        "/admin/privacy/policies/{kind}/{subject_id}",
        lambda b: f"/admin/privacy/policies/organisations/{b.org_id}",
        lambda b: {"rules": {"internal": {"mode": "off"}}},
    ),
    (
        "PUT",
        "/admin/privacy/policies/{kind}/{subject_id}",
        lambda b: f"/admin/privacy/policies/keys/{b.staff_key_id}",
        lambda b: {"default_classification": "public"},
    ),
    (
        "DELETE",
        "/admin/privacy/policies/{kind}/{subject_id}",
        lambda b: f"/admin/privacy/policies/organisations/{b.org_id}",
        None,
    ),
    (
        "DELETE",
        "/admin/privacy/policies/{kind}/{subject_id}",
        lambda b: f"/admin/privacy/policies/keys/{b.staff_key_id}",
        None,
    ),
    ("POST", "/admin/privacy/purge", lambda b: "/admin/privacy/purge", None),
    (
        "GET",
        "/admin/organisations/{org_id}/identity-provider",
        lambda b: f"/admin/organisations/{b.org_id}/identity-provider",
        None,
    ),
    (
        "PUT",
        "/admin/organisations/{org_id}/identity-provider",
        lambda b: f"/admin/organisations/{b.org_id}/identity-provider",
        lambda b: {"issuer": "https://idp.attacker.example", "client_id": "stolen"},
    ),
    (
        "DELETE",
        "/admin/organisations/{org_id}/identity-provider",
        lambda b: f"/admin/organisations/{b.org_id}/identity-provider",
        None,
    ),
]


def test_every_admin_route_is_covered(app: Any) -> None:
    paths = app.openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() if path.startswith("/admin") for method in ops}
    covered = {(method, path) for method, path, _, _ in CASES}
    assert routes == covered, f"admin routes without an isolation case: {routes - covered}"


def _b_identifiers(b: Tenant) -> set[str]:
    return {
        b.org_id,
        b.admin_id,
        b.staff_id,
        b.auditor_id,
        b.service_account_id,
        b.admin_key_id,
        b.staff_key_id,
        b.admin_key,
        b.staff_key,
        b.auditor_key,
        f"admin@{b.slug}.example",
    }


@pytest.mark.parametrize(
    ("method", "route", "path", "body"), CASES, ids=[f"{m} {p(Tenant(*(['org_B'] * 11)))}" for m, _, p, _ in CASES]
)
async def test_organisation_a_cannot_reach_organisation_b(
    client: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    method: str,
    route: str,
    path: Callable[[Tenant], str],
    body: Callable[[Tenant], dict[str, Any]] | None,
    app: Any,
) -> None:
    await give_b_quotas_and_usage(app, client, tenant_b)
    response = await client.request(
        method, path(tenant_b), headers=tenant_a.headers("admin"), json=body(tenant_b) if body else None
    )
    # A write or a direct read of B's object is refused as "not found" (no existence leak), or as
    # forbidden where the endpoint needs rights A lacks; a list answers only with A's own data.
    assert response.status_code in (200, 204, 403, 404), response.text
    if response.status_code not in (200, 204):
        assert response.json()["error"]["type"] in ("not_found_error", "permission_error")
        assert method != "GET" or "{" not in route or response.status_code == 404
    else:
        assert method == "GET", f"{method} {route} succeeded across organisations"
        text = response.text
        leaked = sorted(i for i in _b_identifiers(tenant_b) if i in text)
        assert not leaked, f"{route} leaked organisation B's data: {leaked}"
        if route.endswith("export"):
            lines = [json.loads(line) for line in text.splitlines()]
            assert lines
            assert all(entry["org_id"] in (tenant_a.org_id, None) for entry in lines)

    # Whatever A tried, B is untouched: its admin key still works and its organisation is unchanged.
    me = await client.get("/admin/me", headers=tenant_b.headers("admin"))
    assert me.status_code == 200
    assert me.json()["role"] == "org_admin"
    org = await client.get(f"/admin/organisations/{tenant_b.org_id}", headers=tenant_b.headers("admin"))
    assert org.json()["name"] == "Agency-B"
    assert org.json()["is_active"] is True
    users = await client.get("/admin/users", headers=tenant_b.headers("admin"))
    assert {u["email"] for u in users.json()["data"]} == {
        f"{role}@agency-b.example" for role in ("org_admin", "staff", "auditor")
    }
    accounts = await client.get("/admin/service-accounts", headers=tenant_b.headers("admin"))
    assert [(a["name"], a["is_active"]) for a in accounts.json()["data"]] == [("portal", True)]
    keys = await client.get("/admin/keys", headers=tenant_b.headers("admin"))
    assert {k["status"] for k in keys.json()["data"]} == {"active"}
    assert len(keys.json()["data"]) == 3
    quotas = (await client.get("/admin/quotas", headers=tenant_b.headers("admin"))).json()
    assert sorted((q["subject_type"], q["requests_per_minute"]) for q in quotas) == [("api_key", 1000)]
    idp = await client.get(
        f"/admin/organisations/{tenant_b.org_id}/identity-provider", headers=tenant_b.headers("admin")
    )
    assert idp.json()["issuer"] == "https://idp.agency-b.example"
    policies = (await client.get("/admin/privacy/policies", headers=tenant_b.headers("admin"))).json()
    assert sorted((p["subject_type"], p["document"]["default_classification"]) for p in policies) == [
        ("api_key", "confidential"),
        ("organisation", "confidential"),
    ]
    models = await client.get("/v1/models", headers=tenant_b.headers("staff"))
    assert [m["id"] for m in models.json()["data"]] == ["mock-chat"]
    chat = await client.post(
        "/v1/chat/completions",
        headers=tenant_b.headers("staff"),
        json={"model": "mock-chat", "messages": [{"role": "user", "content": "still mine"}]},
    )
    assert chat.status_code == 200


async def give_b_quotas_and_usage(app: Any, client: httpx.AsyncClient, b: Tenant) -> None:
    """Organisation B has a key quota and some usage, so that a leak of either would show."""
    from soberana.auth.principal import Origin, cli_principal
    from soberana.gateway.schemas import QuotaValues

    async with app.state.platform.db.write_session() as session:
        await app.state.platform.gateway_admin.set_quota(
            session, cli_principal("pytest"), "api_key", b.staff_key_id, QuotaValues(requests_per_minute=1000), Origin()
        )
    from soberana.auth.schemas import IdentityProviderIn
    from soberana.privacy.schemas import PolicyDocument

    await app.state.platform.oidc.put(
        cli_principal("pytest"),
        b.org_id,
        IdentityProviderIn(issuer="https://idp.agency-b.example", client_id="agency-b"),
        Origin(),
    )

    for subject_type, subject_id in (("organisation", b.org_id), ("api_key", b.staff_key_id)):
        async with app.state.platform.db.write_session() as session:
            await app.state.platform.privacy.policies.set_policy(
                session,
                cli_principal("pytest"),
                subject_type,
                subject_id,
                PolicyDocument(default_classification="confidential"),
                Origin(),
            )
    response = await client.post(
        "/v1/chat/completions",
        headers=b.headers("staff"),
        json={"model": "mock-chat", "messages": [{"role": "user", "content": "hello"}]},
    )
    assert response.status_code == 200
    await app.state.platform.gateway_service.meter.flush()


async def test_auditor_of_a_sees_only_a_in_the_audit_log(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    response = await client.get("/admin/audit?limit=500", headers=tenant_a.headers("auditor"))
    assert response.status_code == 200
    orgs = {entry["org_id"] for entry in response.json()["data"]}
    assert orgs == {tenant_a.org_id}


async def test_lists_show_each_tenant_its_own_objects(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    for tenant, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        users = (await client.get("/admin/users", headers=tenant.headers())).json()["data"]
        assert {u["org_id"] for u in users} == {tenant.org_id}
        keys = (await client.get("/admin/keys", headers=tenant.headers())).json()["data"]
        assert {k["org_id"] for k in keys} == {tenant.org_id}
        orgs = (await client.get("/admin/organisations", headers=tenant.headers())).json()["data"]
        assert [o["id"] for o in orgs] == [tenant.org_id]
        assert other.org_id not in str(users) + str(keys) + str(orgs)


async def test_nested_organisations_ministry_sees_agency_but_not_the_reverse(
    app: Any, client: httpx.AsyncClient
) -> None:
    from tests.conftest import make_tenant

    ministry = await make_tenant(app, "ministry")
    agency = await make_tenant(app, "agency", parent_id=ministry.org_id)
    sibling = await make_tenant(app, "other-ministry")

    seen = (await client.get("/admin/organisations", headers=ministry.headers())).json()["data"]
    assert {o["id"] for o in seen} == {ministry.org_id, agency.org_id}
    agency_user = await client.get(f"/admin/users/{agency.staff_id}", headers=ministry.headers())
    assert agency_user.status_code == 200
    # The ministry's admin can create a sub-agency and manage the agency's keys.
    created = await client.post(
        "/admin/organisations",
        headers=ministry.headers(),
        json={"slug": "sub-agency", "name": "Sub-agency", "kind": "agency", "parent_id": agency.org_id},
    )
    assert created.status_code == 201
    revoke = await client.post(f"/admin/keys/{agency.staff_key_id}/revoke", headers=ministry.headers())
    assert revoke.json()["status"] == "revoked"

    # The agency cannot see its ministry or the ministry's users; nobody sees the other ministry.
    up = await client.get(f"/admin/organisations/{ministry.org_id}", headers=agency.headers())
    assert up.status_code == 404
    up_user = await client.get(f"/admin/users/{ministry.admin_id}", headers=agency.headers())
    assert up_user.status_code == 404
    across = await client.get(f"/admin/organisations/{sibling.org_id}", headers=ministry.headers())
    assert across.status_code == 404
