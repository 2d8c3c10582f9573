"""The application shell: landing page, probes, offline API docs, request ids."""

from __future__ import annotations

from pathlib import Path

import httpx

from soberana import __version__
from soberana.settings import Settings
from soberana.web.app import create_app


async def test_landing_page_says_what_is_running(client: httpx.AsyncClient, backend: str) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="en" dir="ltr">' in html
    assert '<main id="main"' in html
    for link in ('href="/docs"', 'href="/docs#/admin"', 'href="/readyz"'):
        assert link in html
    # what runs where is for administrators, not for every visitor
    assert ("PostgreSQL" if backend == "postgresql" else "SQLite") not in html


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}


async def test_readiness_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="x" * 40))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/readyz")
    await app.state.platform.db.dispose()
    assert response.status_code == 503
    assert "soberana db upgrade" in response.json()["checks"]["migrations"]


async def test_readiness_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = create_app(
        Settings(data_dir=tmp_path, secret_key="x" * 40, database_url="postgresql://nobody@127.0.0.1:1/none")
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/readyz")
    await app.state.platform.db.dispose()
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unreachable")


async def test_docs_are_served_without_any_cdn(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    asset = await client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert len(asset.content) > 100_000
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "Soberana"


async def test_docs_can_be_switched_off(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="x" * 40, docs_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/openapi.json")).status_code == 404
    await app.state.platform.db.dispose()


async def test_request_ids(client: httpx.AsyncClient) -> None:
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert generated.startswith("req_")
    assert (await client.get("/healthz", headers={"x-request-id": "abc-123"})).headers["x-request-id"] == "abc-123"
    # A hostile id (header injection, huge) is replaced, not echoed.
    replaced = (await client.get("/healthz", headers={"x-request-id": "a b<script>"})).headers["x-request-id"]
    assert replaced.startswith("req_")


def test_creating_the_app_connects_to_nothing(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "d", secret_key="x" * 40))
    assert not (tmp_path / "d" / "soberana.db").exists()
    assert app.state.platform.db.dialect == "sqlite"


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    api = await client.get("/v1/models")
    docs = await client.get("/docs")
    for response in (page, api, docs):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # development: plain HTTP
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "form-action 'self'" in policy and "frame-ancestors 'self'" in policy
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    # the API documentation runs its one inline script by its hash, nothing else inline
    assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
    assert "'unsafe-inline'" not in docs.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    # the anonymous home page says nothing of what runs where, nor does the readiness probe
    assert f">{__version__}<" not in page.text and ">development<" not in page.text
    assert "database" not in (await client.get("/readyz")).json()


async def test_production_asks_browsers_for_https_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="p" * 48, environment="production", web_secure_cookies=True)
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://t") as http:
        response = await http.get("/healthz")
    await app.state.platform.db.dispose()
    assert response.headers["strict-transport-security"].startswith("max-age=")
