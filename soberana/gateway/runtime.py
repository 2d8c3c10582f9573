"""Building the gateway and running its background work (usage writer, health checks, reloads)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.exc import DBAPIError

from soberana.audit.service import AuditLog
from soberana.auth.service import AdminService
from soberana.gateway.admin import GatewayAdmin
from soberana.gateway.catalog import Catalog
from soberana.gateway.metering import UsageMeter
from soberana.gateway.service import GatewayService, TrafficGuard
from soberana.plugins import make_plugin_manager
from soberana.privacy.service import PrivacyService
from soberana.providers import builtin
from soberana.providers.base import ProviderContext
from soberana.providers.openai_compat import close_shared_session
from soberana.providers.registry import ProviderRegistry
from soberana.providers.routing import RoutePolicy, Router
from soberana.settings import Settings
from soberana.storage.counters import Counters
from soberana.storage.db import Database

logger = logging.getLogger("soberana.gateway")
HEALTH_EVERY_SECONDS = 5.0
RELOAD_EVERY_SECONDS = 30.0


def provider_registry() -> ProviderRegistry:
    """Every provider kind: the built-in ones and those of installed plugins."""
    registry = ProviderRegistry()
    make_plugin_manager([builtin]).hook.register_providers(registry=registry)
    return registry


class GatewayRuntime:
    """The gateway's services and their lifecycle (``start`` and ``stop`` from the app's lifespan)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditLog,
        admin: AdminService,
        privacy: PrivacyService,
        counters: Counters,
        guard: TrafficGuard,
    ) -> None:
        self.db = db
        self.context = ProviderContext(settings)
        catalog = Catalog(settings, provider_registry(), self.context)
        router = Router(
            RoutePolicy(
                retries=settings.upstream_retries,
                backoff_seconds=settings.upstream_backoff_seconds,
                cooldown_failures=settings.cooldown_failures,
                cooldown_seconds=settings.cooldown_seconds,
                wait_seconds=settings.priority_wait_seconds,
            )
        )
        meter = UsageMeter(
            db, audit, flush_seconds=settings.usage_flush_seconds, flush_records=settings.usage_flush_records
        )
        self.service = GatewayService(settings, catalog, router, counters, meter, privacy, guard)
        self.admin = GatewayAdmin(admin, self.service)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.service.meter.start()
        await self._reload()
        self._task = asyncio.create_task(self._background(), name="soberana-gateway")

    async def _reload(self) -> None:
        try:
            async with self.db.session() as session:
                await self.admin.reload(session)
        except DBAPIError as exc:  # not migrated yet, or the database is down: /readyz says so
            logger.warning("gateway could not load deployments and quotas: %s", type(exc).__name__)

    async def _background(self) -> None:
        last_reload = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEALTH_EVERY_SECONDS):
                    await self._stopping.wait()
            if self._stopping.is_set():  # asked to stop between two rounds, never in the middle of one
                return
            try:
                await self.service.router.health_check(self.service.catalog.deployments())
                if time.monotonic() - last_reload >= RELOAD_EVERY_SECONDS:
                    last_reload = time.monotonic()
                    await self._reload()
            except Exception:
                logger.exception("gateway background work failed")

    async def stop(self) -> None:
        """Write queued usage, then release everything — even if one step fails."""
        if self._task is not None:
            self._stopping.set()
            await self._task
        try:
            await self.service.meter.stop()
        finally:
            for deployment in self.service.catalog.deployments():
                with contextlib.suppress(Exception):
                    await deployment.provider.close()
            await close_shared_session(self.context)
