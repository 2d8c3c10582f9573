"""``create_app(settings)``: builds the ASGI application and wires every service together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from soberana import __version__
from soberana.audit import routes as audit_routes
from soberana.audit.service import AuditLog
from soberana.auth import routes as auth_routes
from soberana.auth.deps import get_audit_access
from soberana.auth.oidc import OidcService
from soberana.auth.service import AdminService, Authenticator
from soberana.auth.sessions import SessionStore
from soberana.gateway import routes as gateway_routes
from soberana.gateway.asgi import ModelApiFastPath
from soberana.gateway.clients import GatewayClient
from soberana.gateway.metering import UsageRetention, usage_verifiers
from soberana.gateway.runtime import GatewayRuntime
from soberana.knowledge import routes as knowledge_routes
from soberana.knowledge.chat import KnowledgeChat
from soberana.knowledge.service import ConversationRetention, KnowledgeService
from soberana.privacy import routes as privacy_routes
from soberana.privacy.service import PrivacyService
from soberana.settings import Settings, ensure_secret_key, load_settings
from soberana.storage import migrate
from soberana.storage.db import Database
from soberana.web import (
    citizen,
    collections,
    console,
    console_models,
    console_people,
    console_reports,
    home,
    pages,
    staff,
    workspace,
)
from soberana.web.errors import install_error_handlers
from soberana.web.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from soberana.web.security import SignInLimiter
from soberana.workspace import routes as workspace_routes
from soberana.workspace.service import WorkspaceRetention, WorkspaceService

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
    db = Database.from_settings(settings)
    audit = AuditLog(settings.secret_key_bytes, verifiers=usage_verifiers())
    admin = AdminService.from_settings(settings, audit)
    authenticator = Authenticator.from_settings(settings, db, audit)
    admin.on_change.append(authenticator.forget)
    gateway = GatewayRuntime(settings, db, audit, admin)
    knowledge = KnowledgeService(settings, db, audit, admin, GatewayClient(gateway.service))
    gateway.service.augmenters.append(KnowledgeChat(knowledge))  # the `knowledge` option of chat completions
    privacy = PrivacyService.from_settings(settings, db, admin, detect_language=knowledge.detector.detect)
    privacy.purgers += [ConversationRetention(), UsageRetention(audit), WorkspaceRetention()]
    gateway.service.privacy = privacy
    knowledge.privacy = privacy
    workspace_service = WorkspaceService(db, admin, GatewayClient(gateway.service), privacy)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Check the schema in the background (off the event loop): start-up does not wait for Alembic.
        stopping = asyncio.Event()
        schema_check = asyncio.create_task(_warn_if_not_migrated(db, stopping))
        await gateway.start()
        await privacy.start()  # loads policies; reloads policies, purges what is past its retention period
        knowledge.start_background()  # embeds new passages
        try:
            yield
        finally:
            stopping.set()
            await schema_check  # returns at once, or after its query: never cancelled mid-query
            await knowledge.stop()
            await privacy.stop()
            await gateway.stop()  # writes every queued usage record before the process ends
            await db.dispose()

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
    app.state.settings = settings
    app.state.db = db
    app.state.audit = audit
    app.state.admin = admin
    app.state.authenticator = authenticator
    app.state.gateway = gateway.service
    app.state.gateway_admin = gateway.admin
    app.state.knowledge = knowledge
    app.state.privacy = privacy
    app.state.workspace = workspace_service
    app.state.sessions = SessionStore(db, timedelta(hours=settings.web_session_hours))
    app.state.oidc = OidcService(db, admin, authenticator, settings.secret_key_bytes)
    app.state.sign_in_limiter = SignInLimiter(settings.sign_in_attempts_per_minute)

    install_error_handlers(app)
    app.add_middleware(ModelApiFastPath, gateway=gateway.service, authenticator=authenticator)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        uploads=(
            ("/v1/collections/", "/documents", settings.knowledge_max_upload_bytes),
            ("/staff/collections/", "/documents", settings.knowledge_max_upload_bytes),
        ),
    )
    app.add_middleware(RequestIdMiddleware)

    app.include_router(pages.router)
    app.include_router(home.router)
    app.include_router(citizen.router)
    app.include_router(staff.router)
    app.include_router(console.router)
    app.include_router(workspace.router)
    app.include_router(collections.router)
    app.include_router(console_reports.router)
    app.include_router(console_people.router)
    app.include_router(console_models.router)
    app.mount("/assets", StaticFiles(directory=Path(__file__).parent / "static"), name="assets")
    if settings.docs_enabled:
        pages.mount_docs(app)
    app.include_router(auth_routes.router)
    app.include_router(audit_routes.build_router(get_audit_access))
    app.include_router(gateway_routes.v1)
    app.include_router(gateway_routes.admin_router)
    app.include_router(knowledge_routes.router)
    app.include_router(knowledge_routes.conversations)
    app.include_router(privacy_routes.v1)
    app.include_router(privacy_routes.admin_router)
    app.include_router(workspace_routes.router)
    return app
