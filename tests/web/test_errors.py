"""Every bad input gets a clear message, the right status and the OpenAI error shape — never a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from soberana.settings import Settings
from tests.conftest import Tenant


def assert_error(response: httpx.Response, status: int, code: str, error_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"message", "type", "code", "param"} <= set(error)
    assert error["code"] == code
    if error_type:
        assert error["type"] == error_type
    assert error["message"]
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    return dict(error)


async def test_malformed_json(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.post(
        "/admin/organisations",
        headers={**tenant_a.headers(), "content-type": "application/json"},
        content=b'{"slug": "x", ',
    )
    error = assert_error(response, 400, "invalid_json", "invalid_request_error")
    assert error["message"].startswith("The request body is not valid JSON")


async def test_body_that_is_not_an_object(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.post("/admin/organisations", headers=tenant_a.headers(), json=["a", "list"])
    assert_error(response, 422, "validation_error", "invalid_request_error")


async def test_unknown_field(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.post(
        "/admin/service-accounts",
        headers=tenant_a.headers(),
        json={"org_id": tenant_a.org_id, "name": "x", "colour": "blue"},
    )
    error = assert_error(response, 422, "validation_error")
    assert error["message"] == "Unknown field 'colour'."
    assert error["param"] == "colour"


async def test_missing_and_invalid_fields_are_all_listed(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.post(
        "/admin/users", headers=tenant_a.headers(), json={"email": "not-an-email", "role": "emperor"}
    )
    error = assert_error(response, 422, "validation_error")
    params = {d["param"] for d in error["details"]}
    assert {"org_id", "display_name", "email", "role"} <= params
    assert "more problems in 'details'" in error["message"]


@pytest.mark.parametrize(
    ("path", "noun"),
    [
        ("/admin/organisations/123", "organisation"),
        ("/admin/users/org_01JD0000000000000000000000", "user"),  # an id of the wrong kind
        ("/admin/service-accounts/svc_lowercase_not_ulid_xxxxxx", "service account"),
        ("/admin/keys/key_", "API key"),
    ],
)
async def test_bad_ids(client: httpx.AsyncClient, tenant_a: Tenant, path: str, noun: str) -> None:
    error = assert_error(await client.get(path, headers=tenant_a.headers()), 400, "invalid_id")
    assert f"is not a valid {noun} id" in error["message"]


async def test_bad_id_in_body_names_the_field(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.post("/admin/keys", headers=tenant_a.headers(), json={"name": "k", "user_id": "bob"})
    error = assert_error(response, 400, "invalid_id")
    assert error["param"] == "user_id"


async def test_well_formed_unknown_id_is_404(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    response = await client.get("/admin/users/usr_01JD0000000000000000000000", headers=tenant_a.headers())
    assert_error(response, 404, "not_found", "not_found_error")


async def test_unknown_url_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/admin/nothing-here"), 404, "unknown_url", "not_found_error")
    assert_error(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_oversized_body_by_content_length(app: Any, client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    limit = app.state.platform.settings.max_request_body_bytes
    response = await client.post("/admin/organisations", headers=tenant_a.headers(), content=b"x" * (limit + 1))
    error = assert_error(response, 413, "request_too_large")
    assert str(limit) in error["message"]


async def test_oversized_chunked_body(client: httpx.AsyncClient, tenant_a: Tenant, app: Any) -> None:
    limit = app.state.platform.settings.max_request_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = await client.post(
        "/admin/organisations", headers={**tenant_a.headers(), "content-type": "application/json"}, content=chunks()
    )
    assert_error(response, 413, "request_too_large")


async def test_expired_and_revoked_keys(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await client.post(f"/admin/keys/{tenant_a.staff_key_id}/revoke", headers=tenant_a.headers())
    error = assert_error(
        await client.get("/admin/me", headers=tenant_a.headers("staff")), 401, "revoked_api_key", "authentication_error"
    )
    assert "revoked on" in error["message"]


async def test_unexpected_errors_are_500_with_request_id_only(settings: Settings) -> None:
    from soberana.web.app import create_app

    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail sob_should_not_leak")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/boom", headers={"x-request-id": "trace-123"})
    await app.state.platform.db.dispose()
    error = assert_error(response, 500, "internal_error", "server_error")
    assert "trace-123" in error["message"]
    assert "secret internal detail" not in response.text
    assert response.headers["x-request-id"] == "trace-123"


async def test_a_constraint_violation_nobody_expected_is_a_conflict_not_a_server_error() -> None:
    from fastapi import FastAPI
    from sqlalchemy.exc import IntegrityError

    from soberana.web.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def add_thing() -> None:
        raise IntegrityError("INSERT INTO things …", {}, Exception("UNIQUE constraint failed: things.name"))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/things")
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "conflict_error"
    assert "INSERT" not in response.text and "UNIQUE" not in response.text  # nothing of the database shown


async def test_a_server_error_still_carries_the_security_headers() -> None:
    from fastapi import FastAPI

    from soberana.web.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://t") as http:
        response = await http.get("/boom")
    assert response.status_code == 500 and "a bug" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["strict-transport-security"].startswith("max-age=")
