"""API keys: random, shown once, stored only as an HMAC-SHA256 digest, refused when revoked or expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from soberana.auth.keys import generate_key, key_digest, parse_prefix
from soberana.core.clock import utcnow
from soberana.core.crypto import hmac_sha256_hex
from tests.conftest import TEST_SECRET, Tenant


def test_generated_keys_are_random_well_formed_and_digested_with_the_secret() -> None:
    keys = [generate_key(b"secret") for _ in range(200)]
    assert len({k.plaintext for k in keys}) == 200
    assert len({k.prefix for k in keys}) == 200
    for key in keys[:5]:
        assert parse_prefix(key.plaintext) == key.prefix
        assert key.digest == hmac_sha256_hex(b"secret", key.plaintext)
        assert key.digest != key_digest(b"other-secret", key.plaintext)
    assert parse_prefix("sob_short") is None
    assert parse_prefix(keys[0].plaintext + "x") is None


async def _all_database_text(app: Any) -> str:
    """Every value of every row of every table, as one string."""
    chunks = []
    async with app.state.platform.db.session() as session:
        for table in ("organisations", "users", "service_accounts", "api_keys", "audit_log", "audit_head"):
            for row in (await session.execute(text(f"SELECT * FROM {table}"))).all():
                chunks.extend(str(value) for value in row)
    return "\n".join(chunks)


async def test_plaintext_is_never_stored_only_prefix_and_hmac(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    created = await client.post(
        "/admin/keys",
        headers=tenant_a.headers(),
        json={"name": "ci", "service_account_id": tenant_a.service_account_id},
    )
    assert created.status_code == 201
    body = created.json()
    plaintext = body["key"]
    assert plaintext.startswith("sob_")
    assert body["prefix"] in plaintext

    stored = await _all_database_text(app)
    secret_part = plaintext.split("_", 2)[2]
    for candidate in (plaintext, tenant_a.admin_key, tenant_a.staff_key):
        assert candidate not in stored
    assert secret_part not in stored
    async with app.state.platform.db.session() as session:
        digest = (
            await session.execute(text("SELECT digest FROM api_keys WHERE id = :id"), {"id": body["id"]})
        ).scalar_one()
    assert digest == hmac_sha256_hex(TEST_SECRET.encode(), plaintext)

    # Shown once: reading the key back never returns it.
    again = await client.get(f"/admin/keys/{body['id']}", headers=tenant_a.headers())
    assert "key" not in again.json()
    listed = await client.get("/admin/keys", headers=tenant_a.headers())
    assert plaintext not in listed.text
    # And it works.
    me = await client.get("/admin/me", headers={"Authorization": f"Bearer {plaintext}"})
    assert me.json()["kind"] == "service_account"


async def test_revoked_key_is_refused(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    assert (await client.get("/admin/me", headers=tenant_a.headers("staff"))).status_code == 200
    revoked = await client.post(f"/admin/keys/{tenant_a.staff_key_id}/revoke", headers=tenant_a.headers())
    assert revoked.json()["status"] == "revoked"
    response = await client.get("/admin/me", headers=tenant_a.headers("staff"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"
    assert response.headers["www-authenticate"] == "Bearer"
    # Revoking twice is harmless and records one revocation.
    again = await client.post(f"/admin/keys/{tenant_a.staff_key_id}/revoke", headers=tenant_a.headers())
    assert again.status_code == 200
    audit = await client.get("/admin/audit?action=api_key.revoke", headers=tenant_a.headers())
    assert len(audit.json()["data"]) == 1


async def test_expired_key_is_refused(app: Any, client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    async with app.state.platform.db.session() as session:
        await session.execute(
            text("UPDATE api_keys SET expires_at = :t WHERE id = :id"),
            {
                "t": (utcnow() - timedelta(seconds=1)).replace(tzinfo=None)
                if app.state.platform.db.dialect == "sqlite"
                else utcnow() - timedelta(seconds=1),
                "id": tenant_a.staff_key_id,
            },
        )
        await session.commit()
    response = await client.get("/admin/me", headers=tenant_a.headers("staff"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "expired_api_key"
    listed = await client.get(f"/admin/keys/{tenant_a.staff_key_id}", headers=tenant_a.headers())
    assert listed.json()["status"] == "expired"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sob_AAAAAAAAAAAA_" + "x" * 43,  # well-formed, unknown prefix
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
    ],
)
async def test_invalid_keys_are_refused_and_recorded(client: httpx.AsyncClient, tenant_a: Tenant, header: str) -> None:
    response = await client.get("/admin/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    audit = await client.get("/admin/audit?action=auth.refused", headers=tenant_a.headers())
    # Refusals without a known key belong to no organisation: A's administrator does not see them...
    assert audit.json()["data"] == []


async def test_tampered_secret_with_valid_prefix_is_refused(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    forged = tenant_a.staff_key[:-4] + ("AAAA" if not tenant_a.staff_key.endswith("AAAA") else "BBBB")
    response = await client.get("/admin/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    # ...but the platform administrator sees every refusal, with the prefix and never the key.
    audit = await client.get("/admin/audit?action=auth.refused", headers={"Authorization": f"Bearer {platform_key}"})
    (entry,) = audit.json()["data"]
    assert entry["outcome"] == "denied"
    assert entry["ip"] == "203.0.113.7"
    assert entry["details"]["reason"] == "invalid_api_key"
    assert forged not in audit.text
    assert entry["details"]["key_prefix"] in forged


async def test_missing_key_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/organisations")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


async def test_deactivating_owner_or_organisation_refuses_its_keys(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    platform = {"Authorization": f"Bearer {platform_key}"}
    await client.patch(f"/admin/users/{tenant_a.staff_id}", headers=tenant_a.headers(), json={"is_active": False})
    refused = await client.get("/admin/me", headers=tenant_a.headers("staff"))
    assert refused.json()["error"]["code"] == "account_disabled"
    assert (await client.get("/admin/me", headers=tenant_a.headers())).status_code == 200

    await client.patch(f"/admin/organisations/{tenant_a.org_id}", headers=platform, json={"is_active": False})
    assert (await client.get("/admin/me", headers=tenant_a.headers())).status_code == 401
    await client.patch(f"/admin/organisations/{tenant_a.org_id}", headers=platform, json={"is_active": True})
    assert (await client.get("/admin/me", headers=tenant_a.headers())).status_code == 200


async def test_deactivating_a_parent_organisation_refuses_its_agencies_keys(
    app: Any, client: httpx.AsyncClient, platform_key: str
) -> None:
    from tests.conftest import make_tenant

    ministry = await make_tenant(app, "ministry")
    agency = await make_tenant(app, "agency", parent_id=ministry.org_id)
    await client.patch(
        f"/admin/organisations/{ministry.org_id}",
        json={"is_active": False},
        headers={"Authorization": f"Bearer {platform_key}"},
    )
    assert (await client.get("/admin/me", headers=agency.headers())).status_code == 401


async def test_last_used_is_recorded_at_most_once_per_resolution(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    async def last_used() -> object:
        async with app.state.platform.db.session() as session:
            return (
                await session.execute(
                    text("SELECT last_used_at FROM api_keys WHERE id = :id"), {"id": tenant_a.staff_key_id}
                )
            ).scalar_one()

    assert await last_used() is None
    await client.get("/admin/me", headers=tenant_a.headers("staff"))
    first = await last_used()
    assert first is not None
    await client.get("/admin/me", headers=tenant_a.headers("staff"))
    assert await last_used() == first  # within the 60 s resolution: no second write


async def test_key_scopes_are_capped_by_the_owners_role(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    response = await client.post(
        "/admin/keys",
        headers={"Authorization": f"Bearer {platform_key}"},
        json={"name": "x", "user_id": tenant_a.staff_id, "scopes": ["admin"]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "scopes"
    # A staff key cannot use the admin API at all.
    denied = await client.get("/admin/users", headers=tenant_a.headers("staff"))
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "insufficient_scope"


async def test_key_expiry_follows_settings(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    default = await client.post(
        "/admin/keys", headers=tenant_a.headers(), json={"name": "d", "service_account_id": tenant_a.service_account_id}
    )
    from datetime import datetime

    expires = datetime.fromisoformat(default.json()["expires_at"])
    assert timedelta(days=89) < expires - utcnow() <= timedelta(days=90)
    never = await client.post(
        "/admin/keys",
        headers=tenant_a.headers(),
        json={"name": "n", "service_account_id": tenant_a.service_account_id, "expires_in_days": 0},
    )
    assert never.status_code == 400  # the default max lifetime (365 days) forbids keys that never expire
    too_long = await client.post(
        "/admin/keys",
        headers=tenant_a.headers(),
        json={"name": "n", "service_account_id": tenant_a.service_account_id, "expires_in_days": 400},
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["param"] == "expires_in_days"


async def test_an_administrator_cannot_make_a_key_to_act_as_someone_else(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    """An organisation administrator once created a key owned by a staff member and read that person's
    saved conversations with it. A person's keys are made by that person; a platform administrator's key
    for someone is recorded and shown to them."""
    refused = await client.post(
        "/admin/keys", headers=tenant_a.headers(), json={"name": "as-staff", "user_id": tenant_a.staff_id}
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "key_for_another_person"
    # the administrator's own key is theirs to make, for themselves
    own = await client.post(
        "/admin/keys", headers=tenant_a.headers(), json={"name": "mine", "user_id": tenant_a.admin_id}
    )
    assert own.status_code == 201
    # a key cannot give its holder more than the key it was made with
    narrow = await client.post(
        "/admin/keys",
        headers=tenant_a.headers(),
        json={"name": "n", "user_id": tenant_a.admin_id, "scopes": ["inference"]},
    )
    widened = await client.post(
        "/admin/keys",
        headers={"Authorization": f"Bearer {narrow.json()['key']}"},
        json={"name": "w", "user_id": tenant_a.admin_id, "scopes": ["admin"]},
    )
    assert widened.status_code == 403
    # a platform administrator may, and it is on the record
    made = await client.post(
        "/admin/keys",
        headers={"Authorization": f"Bearer {platform_key}"},
        json={"name": "for-staff", "user_id": tenant_a.staff_id},
    )
    assert made.status_code == 201, made.text
    entries = (await client.get("/admin/audit?action=api_key.create", headers=tenant_a.headers())).json()["data"]
    marked = [e for e in entries if e["object_id"] == made.json()["id"]]
    assert marked and marked[0]["details"]["for_another_person"] is True


async def test_refused_authentications_are_counted_not_written_one_by_one(
    app: Any, client: httpx.AsyncClient, platform_key: str
) -> None:
    """Every refused request (a made-up key, no key at all) took the audit log's write lock: a script
    could slow every tenant down. The first of each kind a minute is written, the rest counted, and an
    address refused too often is answered 429."""
    admin = {"Authorization": f"Bearer {platform_key}"}
    unknown = {"Authorization": "Bearer sob_AAAAAAAAAAAA_" + "x" * 43}
    refused = [(await client.get("/admin/me", headers=unknown)).status_code for _ in range(20)]
    refused += [(await client.get("/admin/me")).status_code for _ in range(10)]
    assert refused == [401] * 30
    entries = (await client.get("/admin/audit?action=auth.refused", headers=admin)).json()["data"]
    assert sorted(e["details"]["reason"] for e in entries) == ["invalid_api_key", "missing_api_key"]
    await app.state.platform.authenticator.refusals.flush()
    entries = (await client.get("/admin/audit?action=auth.refused", headers=admin)).json()["data"]
    counts = {e["details"]["reason"]: e["details"].get("count") for e in entries if "count" in e["details"]}
    assert counts == {"invalid_api_key": 19, "missing_api_key": 9}
    assert len(entries) == 4  # thirty refusals, four entries
    # the 31st refusal from this address this minute: 429, and still counted
    limited = await client.get("/admin/me", headers=unknown)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert (await client.get("/admin/me", headers=admin)).status_code == 200  # a valid key is still served


async def test_people_do_not_give_their_own_keys_a_priority(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    """A priority class is a share of the models' capacity: administrators hand it out."""
    critical = await client.post(
        "/admin/keys",
        headers=tenant_a.headers("staff"),
        json={"name": "mine", "user_id": tenant_a.staff_id, "scopes": ["inference"], "priority": "critical"},
    )
    assert critical.status_code == 403 and critical.json()["error"]["param"] == "priority"
    plain = await client.post(
        "/admin/keys",
        headers=tenant_a.headers("staff"),
        json={"name": "mine", "user_id": tenant_a.staff_id, "scopes": ["inference"]},
    )
    assert plain.status_code == 201 and plain.json()["priority"] is None
