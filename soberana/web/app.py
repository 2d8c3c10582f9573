"""``create_app(settings)``: the ASGI application over the services :mod:`soberana.wiring` builds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from soberana import __version__
from soberana.audit import routes as audit_routes
from soberana.auth import routes as auth_routes
from soberana.auth.deps import get_audit_access
from soberana.evaluations import routes as evaluation_routes
from soberana.gateway import routes as gateway_routes
from soberana.gateway.asgi import ModelApiFastPath
from soberana.governance import records_routes as governance_records
from soberana.governance import routes as governance_routes
from soberana.knowledge import routes as knowledge_routes
from soberana.privacy import routes as privacy_routes
from soberana.settings import Settings, ensure_secret_key, load_settings
from soberana.storage import migrate
from soberana.storage.db import Database
from soberana.training import routes as training_routes
from soberana.web import (
    account,
    citizen,
    collections,
    console,
    console_models,
    console_people,
    console_reports,
    governance,
    governance_aia,
    governance_evaluations,
    governance_suppliers,
    home,
    pages,
    staff,
    training,
    training_reports,
    workspace,
)
from soberana.web import governance_records as governance_pages_records
from soberana.web import transparency as transparency_pages
from soberana.web.errors import API_ERRORS, install_error_handlers
from soberana.web.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from soberana.wiring import build_platform
from soberana.workspace import routes as workspace_routes

DESCRIPTION = """
Soberana is a self-hostable AI platform that a public administration installs and runs itself.

Authenticate with an API key: `Authorization: Bearer sob_…`. Errors always have the shape
`{"error": {"message", "type", "code", "param"}}`.
"""

logger = logging.getLogger("soberana.web")

OPENAPI_TAGS = [
    {"name": "admin", "description": "Organisations, users, service accounts and API keys (needs the `admin` scope)."},
    {"name": "audit", "description": "The tamper-evident audit log (needs the `audit` scope)."},
    {"name": "model API", "description": "The OpenAI-compatible model API (needs the `inference` scope)."},
    {"name": "gateway admin", "description": "Model deployments, quotas and usage reports."},
    {
        "name": "knowledge",
        "description": "Collections and documents (`knowledge` scope), hybrid search and grounded answers with "
        "citations (`inference` scope), and the staff hand-off queue.",
    },
    {
        "name": "data protection",
        "description": "Personal-data policies per organisation and key (modes, allowed sovereignty, detectors, "
        "retention), the caller's effective policy and erasure of a conversation's placeholders.",
    },
    {
        "name": "citizen assistant",
        "description": "Anonymous conversations with a public collection's assistant: no API key, the "
        "conversation's token proves it is yours.",
    },
    {
        "name": "workspace",
        "description": "A staff member's saved conversations with models: only their own (signed-in users' keys).",
    },
    {
        "name": "governance",
        "description": "The register of AI use cases (`governance` scope): versions, four-eyes approval, "
        "suspension and retirement, every change audit-logged.",
    },
    {"name": "health", "description": "Liveness and readiness probes."},
]


async def _warn_if_not_migrated(db: Database, stopping: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):  # wait until start-up is over, so Alembic does not slow it down
        async with asyncio.timeout(3):
            await stopping.wait()
    if stopping.is_set():
        return
    try:
        head = await anyio.to_thread.run_sync(migrate.head_revision)
        current = await migrate.current_revision(db)
    except Exception as exc:  # noqa: BLE001 - only a warning; /readyz reports the details
        logger.warning("could not check the database schema: %s", type(exc).__name__)
        return
    if current != head:
        logger.warning("database at revision %s, code expects %s: run `soberana db upgrade`", current, head)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (default: from the environment). Connects lazily."""
    settings = ensure_secret_key(settings or load_settings())
    logging.getLogger("soberana").setLevel(settings.log_level.upper())
    platform = build_platform(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Check the schema in the background (off the event loop): start-up does not wait for Alembic.
        stopping = asyncio.Event()
        schema_check = asyncio.create_task(_warn_if_not_migrated(platform.db, stopping))
        try:
            await platform.start()
            yield
        finally:
            stopping.set()
            await schema_check  # returns at once, or after its query: never cancelled mid-query
            await platform.stop()  # writes every queued usage record before the process ends

    app = FastAPI(
        title="Soberana",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        lifespan=lifespan,
        license_info={"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
    )
    app.state.platform = platform  # for tests and tools; routes use app.state.components
    app.state.components = platform.components()

    install_error_handlers(app)
    app.add_middleware(ModelApiFastPath, gateway=platform.gateway.service, authenticator=platform.authenticator)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        uploads=(
            ("/v1/collections/", "/documents", settings.knowledge_max_upload_bytes),
            ("/staff/collections/", "/documents", settings.knowledge_max_upload_bytes),
        ),
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    app.add_middleware(RequestIdMiddleware)

    app.include_router(pages.router)
    app.include_router(home.router)
    app.include_router(citizen.router)
    app.include_router(staff.router)
    app.include_router(account.router)
    app.include_router(console.router)
    app.include_router(workspace.router)
    app.include_router(collections.router)
    app.include_router(console_reports.router)
    app.include_router(console_people.router)
    app.include_router(console_models.router)
    app.include_router(transparency_pages.router)
    app.include_router(governance_pages_records.router)  # before the register's /console/governance/{id}
    app.include_router(governance_suppliers.router)
    app.include_router(governance_evaluations.router)
    app.include_router(governance.router)
    app.include_router(governance_aia.router)
    app.include_router(training.router)
    app.include_router(training_reports.router)
    app.mount("/assets", StaticFiles(directory=Path(__file__).parent / "static"), name="assets")
    if settings.docs_enabled:
        pages.mount_docs(app)
    for api in (
        auth_routes.router,
        audit_routes.build_router(get_audit_access),
        gateway_routes.v1,
        gateway_routes.admin_router,
        knowledge_routes.router,
        knowledge_routes.conversations,
        privacy_routes.v1,
        privacy_routes.admin_router,
        workspace_routes.router,
        governance_routes.router,
        evaluation_routes.router,
        governance_records.public_router,
        training_routes.router,
        training_routes.public_router,
    ):
        app.include_router(api, responses=API_ERRORS)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the models that routes reading their own JSON refer to."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in gateway_routes.COMPONENTS.items():
            schemas.setdefault(name, schema)
        app.openapi_schema = document
    return app.openapi_schema
