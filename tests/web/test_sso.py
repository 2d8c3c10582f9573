"""Single sign-on with OpenID Connect, against a small provider started by the test."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Tenant
from tests.web.oidc_provider import Provider, oidc_provider


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    with oidc_provider() as running:
        monkeypatch.setenv("SOBERANA_OIDC_SECRET_AGENCY_A", running.client_secret)
        yield running


async def configure(client: httpx.AsyncClient, tenant: Tenant, provider: Provider, platform_key: str) -> None:
    body = {
        "issuer": provider.url,
        "client_id": provider.client_id,
        "client_secret_env": "SOBERANA_OIDC_SECRET_AGENCY_A",
    }
    # an organisation's own administrator may not: the provider would vouch for anyone of its tree
    assert (
        await client.put(f"/admin/organisations/{tenant.org_id}/identity-provider", headers=tenant.headers(), json=body)
    ).status_code == 403
    response = await client.put(
        f"/admin/organisations/{tenant.org_id}/identity-provider",
        headers={"Authorization": f"Bearer {platform_key}"},
        json=body,
    )
    assert response.status_code == 200, response.text
    assert "provider-secret" not in response.text  # only the variable's name is stored


async def through_provider(client: httpx.AsyncClient, slug: str, next_path: str = "/staff/cases") -> httpx.Response:
    """Start at Soberana, follow the provider's redirect (real HTTP), come back to the callback."""
    start = await client.get("/sign-in/sso", params={"org": slug, "next": next_path})
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    async with httpx.AsyncClient() as browser_at_provider:
        back = await browser_at_provider.get(location)
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    return await client.get(f"{callback.path}?{callback.query}")


async def test_staff_sign_in_through_their_organisations_provider(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, provider: Provider, platform_key: str
) -> None:
    await configure(client, tenant_a, provider, platform_key)
    provider.email = f"staff@{tenant_a.slug}.example"
    done = await through_provider(client, tenant_a.slug)
    assert done.status_code == 303 and done.headers["location"] == "/staff/cases"
    assert "soberana_session=" in done.headers["set-cookie"]
    queue = await client.get("/staff/cases")
    assert queue.status_code == 200 and "Hand-off queue" in queue.text
    audit = (await client.get("/admin/audit?action=auth.sign_in", headers=tenant_a.headers())).json()["data"]
    assert audit[0]["details"]["method"] == "oidc" and audit[0]["outcome"] == "success"

    # the provider vouches only for its own organisation: a user of B is refused
    client.cookies.clear()
    provider.email = f"staff@{tenant_b.slug}.example"
    refused = await through_provider(client, tenant_a.slug)
    assert refused.status_code == 401 and "no account for this address" in refused.text
    assert (await client.get("/staff/cases")).status_code == 303

    # a token with another nonce (a replayed or injected one) is refused
    provider.email, provider.nonce_override = f"staff@{tenant_a.slug}.example", "not-the-nonce"
    replayed = await through_provider(client, tenant_a.slug)
    assert replayed.status_code == 401 and "token was refused" in replayed.text
    provider.nonce_override = None

    # an address the provider does not say it verified is refused
    provider.email_verified = False
    unverified = await through_provider(client, tenant_a.slug)
    assert unverified.status_code == 401 and "no verified e-mail" in unverified.text
    provider.email_verified = True

    # a callback that does not belong to a flow this browser started is refused
    client.cookies.clear()
    forged = await client.get("/sign-in/sso/callback", params={"state": "x", "code": "y"})
    assert forged.status_code == 401


async def test_identity_provider_settings_are_per_organisation(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, provider: Provider, platform_key: str
) -> None:
    await configure(client, tenant_a, provider, platform_key)
    other = await client.put(
        f"/admin/organisations/{tenant_b.org_id}/identity-provider",
        headers=tenant_a.headers(),
        json={"issuer": provider.url, "client_id": "x"},
    )
    assert other.status_code in (403, 404)
    assert (
        await client.get(f"/admin/organisations/{tenant_b.org_id}/identity-provider", headers=tenant_a.headers())
    ).status_code == 404
    assert (await client.get("/sign-in/sso", params={"org": tenant_b.slug})).status_code == 404
    for variable in ("the secret itself!", "SOBERANA_SECRET_KEY", "SOBERANA_DATABASE_URL"):
        bad = await client.put(
            f"/admin/organisations/{tenant_a.org_id}/identity-provider",
            headers={"Authorization": f"Bearer {platform_key}"},
            json={"issuer": provider.url, "client_id": "soberana", "client_secret_env": variable},
        )
        assert bad.status_code == 422, variable  # only SOBERANA_OIDC_SECRET_* may be sent to a provider
