"""Password sign-in (used by the web application): Argon2id hashes, every attempt audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from soberana.auth import passwords
from soberana.auth.principal import Origin
from soberana.errors import AuthenticationFailed, InvalidCredentials
from tests.conftest import Tenant

PASSWORD = "correct horse battery staple"


def test_passwords_are_argon2id_and_verified() -> None:
    digest = passwords.hash_password(PASSWORD)
    assert digest.startswith("$argon2id$")
    assert passwords.verify_password(digest, PASSWORD)
    assert not passwords.verify_password(digest, PASSWORD + "!")
    assert not passwords.verify_password(None, PASSWORD)
    with pytest.raises(ValueError, match="at least 12"):
        passwords.hash_password("short")


async def test_sign_in_success_and_failures_are_audited(app: Any, client: Any, tenant_a: Tenant) -> None:
    response = await client.patch(
        f"/admin/users/{tenant_a.staff_id}", headers=tenant_a.headers(), json={"password": PASSWORD}
    )
    assert response.json()["has_password"] is True
    async with app.state.platform.db.session() as session:
        stored = (
            await session.execute(text("SELECT password_hash FROM users WHERE id = :id"), {"id": tenant_a.staff_id})
        ).scalar_one()
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$")

    authenticator = app.state.platform.authenticator
    origin = Origin(ip="198.51.100.1", request_id="req_test")
    principal = await authenticator.sign_in("STAFF@agency-a.example", PASSWORD, origin)
    assert (principal.id, principal.org_id, principal.role) == (tenant_a.staff_id, tenant_a.org_id, "staff")
    with pytest.raises(InvalidCredentials):
        await authenticator.sign_in("staff@agency-a.example", "wrong password!!", origin)
    with pytest.raises(InvalidCredentials):
        await authenticator.sign_in("nobody@agency-a.example", PASSWORD, origin)

    await client.patch(f"/admin/users/{tenant_a.staff_id}", headers=tenant_a.headers(), json={"is_active": False})
    with pytest.raises(AuthenticationFailed) as disabled:
        await authenticator.sign_in("staff@agency-a.example", PASSWORD, origin)
    assert disabled.value.code == "account_disabled"

    entries = (await client.get("/admin/audit?action=auth.sign_in", headers=tenant_a.headers())).json()["data"]
    outcomes = [(e["outcome"], e["details"].get("reason")) for e in reversed(entries)]
    # The unknown account belongs to no organisation, so A's administrator sees three of the four.
    assert outcomes == [("success", None), ("denied", "invalid_credentials"), ("denied", "account_disabled")]
    assert all(e["ip"] == "198.51.100.1" for e in entries)
    assert PASSWORD not in str(entries)
