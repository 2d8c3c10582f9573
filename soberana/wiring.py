"""The composition root: every service of an installation, built once, in one place.

:func:`build_platform` turns :class:`~soberana.settings.Settings` into a :class:`Platform`: the
database, the audit log, the shared counters (in memory, or Redis), the administration and
authentication services, data protection, the model gateway, knowledge and the workspace — each
given what it needs when it is constructed, so that nothing is attached later and nothing that
protects data can be forgotten. The web application (:func:`soberana.web.app.create_app`) and every
``soberana`` command use it; nothing else constructs a service (``tests/test_architecture.py``
checks it, and import-linter keeps ``web`` and ``cli`` from importing the builders below).

Nothing here connects, loads a model or reads the environment: building is cheap, and the services
connect when first used or when :meth:`Platform.start` runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import timedelta

from soberana.audit.service import AuditLog
from soberana.auth.authentication import Authenticator
from soberana.auth.oidc import OidcService
from soberana.auth.service import AdminService
from soberana.auth.sessions import SessionStore
from soberana.core.components import Components
from soberana.gateway.admin import GatewayAdmin
from soberana.gateway.clients import GatewayClient
from soberana.gateway.metering import UsageRetention, usage_verifiers
from soberana.gateway.runtime import GatewayRuntime
from soberana.gateway.service import GatewayService
from soberana.knowledge.chat import KnowledgeChat
from soberana.knowledge.citizens import CitizenAssistant, ConversationRetention
from soberana.knowledge.engine import KnowledgeEngine
from soberana.knowledge.handoff import HandoffQueue
from soberana.knowledge.jobs import IngestionJobs
from soberana.knowledge.parsing.sandbox import SandboxedParser
from soberana.knowledge.service import KnowledgeService
from soberana.knowledge.text import LanguageDetector
from soberana.privacy.ports import Purger
from soberana.privacy.service import PrivacyService
from soberana.settings import Settings
from soberana.storage.counters import Counters, MemoryCounters, RedisCounters
from soberana.storage.db import Database
from soberana.workspace.service import WorkspaceRetention, WorkspaceService

logger = logging.getLogger("soberana")


def document_parser(settings: Settings) -> SandboxedParser | None:
    """Uploads are read in worker processes with time and memory limits (none with 0 workers)."""
    if settings.knowledge_parse_workers == 0:
        return None
    return SandboxedParser(
        settings.knowledge_parse_timeout_seconds, settings.knowledge_parse_memory_mb, settings.knowledge_parse_workers
    )


def retention_purgers(audit: AuditLog) -> list[Purger]:
    """Every kind of data kept for a retention period, with what deletes it: the one list the server's
    purge job and ``soberana retention purge`` both use."""
    return [ConversationRetention(), WorkspaceRetention(), UsageRetention(audit)]


@dataclass(eq=False)
class Platform:
    """Every service of one installation, built by :func:`build_platform`."""

    settings: Settings
    db: Database
    audit: AuditLog
    counters: Counters
    admin: AdminService
    authenticator: Authenticator
    sessions: SessionStore
    oidc: OidcService
    privacy: PrivacyService
    gateway: GatewayRuntime
    knowledge: KnowledgeService
    jobs: IngestionJobs
    citizens: CitizenAssistant
    handoff: HandoffQueue
    workspace: WorkspaceService

    def components(self) -> Components:
        """The registry routes find their services in (by type)."""
        registry = Components(getattr(self, f.name) for f in fields(self) if f.name != "gateway")
        registry.add(self)
        registry.add(self.gateway.service)
        registry.add(self.gateway.admin)
        return registry

    @property
    def gateway_service(self) -> GatewayService:
        return self.gateway.service

    @property
    def gateway_admin(self) -> GatewayAdmin:
        return self.gateway.admin

    async def start(self) -> None:
        """Start the background work of a server process: the gateway's health checks and usage writer,
        policy reloads and the retention purge, the refusal log, the indexing worker."""
        await self.gateway.start()
        await self.privacy.start()
        await self.authenticator.start()
        self.jobs.start_background()

    async def stop(self) -> None:
        """Stop the background work and release connections (queued usage and refusals are written).
        Every step runs even when one before it fails."""
        await _each(
            self.jobs.stop,
            self.authenticator.stop,
            self.privacy.stop,
            self.gateway.stop,
            self.counters.close,
            self.db.dispose,
        )

    @asynccontextmanager
    async def for_command(self) -> AsyncIterator[Platform]:
        """The platform for one command: the gateway running (so that passages can be embedded and models
        called, metered), the data-protection policies loaded, no background work; stopped afterwards
        (the database is disposed of by the command's context)."""
        try:
            await self.gateway.start()
            async with self.db.session() as session:
                await self.privacy.reload(session)
            yield self
        finally:
            # the refusals counted and the usage of the calls made are written
            await _each(self.jobs.stop, self.authenticator.stop, self.gateway.stop, self.counters.close)


async def _each(*steps: Callable[[], Awaitable[None]]) -> None:
    """Run every step; log the failures, then raise the first of them."""
    first: Exception | None = None
    for step in steps:
        try:
            await step()
        except Exception as error:
            logger.exception("stopping failed at %s", getattr(step, "__qualname__", step))
            first = first or error
    if first is not None:
        raise first


def build_platform(settings: Settings) -> Platform:
    """Build every service for ``settings`` (connects nothing yet)."""
    db = Database.from_settings(settings)
    audit = AuditLog(settings.secret_key_bytes, verifiers=usage_verifiers())
    counters: Counters = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
    admin = AdminService.from_settings(settings, audit)
    authenticator = Authenticator.from_settings(settings, db, audit, counters)
    admin.on_change.append(authenticator.forget)
    detector = LanguageDetector(settings.knowledge_languages)
    privacy = PrivacyService.from_settings(
        settings, db, admin, retention_purgers(audit), detect_language=detector.detect
    )
    gateway = GatewayRuntime(settings, db, audit, admin, privacy, counters)
    models = GatewayClient(gateway.service)
    engine = KnowledgeEngine(settings, db, models, detector)
    knowledge = KnowledgeService(settings, db, admin, engine)
    gateway.service.add_augmenter(KnowledgeChat(knowledge))  # the `knowledge` option of chat completions
    return Platform(
        settings=settings,
        db=db,
        audit=audit,
        counters=counters,
        admin=admin,
        authenticator=authenticator,
        sessions=SessionStore(db, timedelta(hours=settings.web_session_hours)),
        oidc=OidcService(db, admin, authenticator, settings.secret_key_bytes),
        privacy=privacy,
        gateway=gateway,
        knowledge=knowledge,
        jobs=IngestionJobs(settings, db, audit, knowledge, engine, privacy, document_parser(settings)),
        citizens=CitizenAssistant(settings, db, audit, knowledge, privacy, counters),
        handoff=HandoffQueue(admin),
        workspace=WorkspaceService(db, admin, GatewayClient(gateway.service), privacy),
    )
