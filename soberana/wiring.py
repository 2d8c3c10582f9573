"""The composition root: every service of an installation, built once, in one place.

:func:`build_platform` turns :class:`~soberana.settings.Settings` into a :class:`Platform`: the
database, the audit log, the shared counters (in memory, or Redis), the administration and
authentication services, data protection, the model gateway, knowledge, the workspace and the
register of AI use cases — each
given what it needs when it is constructed, so that nothing is attached later and nothing that
protects data can be forgotten. The web application (:func:`soberana.web.app.create_app`) and every
``soberana`` command use it; nothing else constructs a service (``tests/test_architecture.py``
checks it, and import-linter keeps ``web`` and ``cli`` from importing the builders below).

Each service is built the first time it is asked for, with what it depends on: the web application
asks for all of them at once (:meth:`Platform.components`); a command asks only for what it uses, so
``soberana orgs list`` does not import the knowledge engine. Nothing here connects, loads a model or
reads the environment: the services connect when first used or when :meth:`Platform.start` runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from soberana.adapters import (
    ApprovalEvidenceAdapter,
    EvaluationMetering,
    EvaluationPages,
    EvaluationRegister,
    EvaluationTargets,
    TrainedTraffic,
)
from soberana.audit.service import AuditLog
from soberana.auth.authentication import Authenticator
from soberana.auth.service import AdminService
from soberana.auth.sessions import SessionStore
from soberana.core.components import Components
from soberana.errors import ConfigurationError
from soberana.settings import AI_ACT_DATES, Settings
from soberana.storage.counters import Counters, MemoryCounters, RedisCounters
from soberana.storage.db import Database
from soberana.storage.limits import RateLimiter
from soberana.storage.signals import LocalSignals, RedisSignals, Signals

if TYPE_CHECKING:  # the capabilities load when first built (a command imports what it uses)
    from soberana.auth.oidc import OidcService
    from soberana.evaluations.evidence import Evidence
    from soberana.evaluations.service import Evaluations
    from soberana.gateway.admin import GatewayAdmin
    from soberana.gateway.runtime import GatewayRuntime
    from soberana.gateway.service import GatewayService
    from soberana.governance.enforcement import ChangeFeed, Enforcer
    from soberana.governance.ports import DataRule, ModelFact, Traffic
    from soberana.governance.service import GovernanceService
    from soberana.knowledge.citizens import CitizenAssistant
    from soberana.knowledge.engine import KnowledgeEngine
    from soberana.knowledge.handoff import HandoffQueue
    from soberana.knowledge.jobs import IngestionJobs
    from soberana.knowledge.parsing.sandbox import SandboxedParser
    from soberana.knowledge.service import KnowledgeService
    from soberana.knowledge.text import LanguageDetector
    from soberana.privacy.ports import Purger
    from soberana.privacy.service import PrivacyService
    from soberana.training.service import TrainingService
    from soberana.workspace.service import WorkspaceService

logger = logging.getLogger("soberana")
AUDIT_CHECK_SECONDS = 60.0  # how old the audit chain's verification behind a requirement's evidence may be


def document_parser(settings: Settings) -> SandboxedParser | None:
    """Uploads are read in worker processes with time and memory limits (none with 0 workers)."""
    from soberana.knowledge.parsing.sandbox import SandboxedParser

    if settings.knowledge_parse_workers == 0:
        return None
    return SandboxedParser(
        settings.knowledge_parse_timeout_seconds, settings.knowledge_parse_memory_mb, settings.knowledge_parse_workers
    )


def retention_purgers(audit: AuditLog) -> list[Purger]:
    """Every kind of data kept for a retention period, with what deletes it: the one list the server's
    purge job and ``soberana retention purge`` both use."""
    from soberana.gateway.metering import UsageRetention
    from soberana.knowledge.citizens import ConversationRetention
    from soberana.workspace.service import WorkspaceRetention

    return [ConversationRetention(), WorkspaceRetention(), UsageRetention(audit)]


def ai_act_dates(settings: Settings) -> dict[str, date]:
    """When each group of EU AI Act obligations applies: the defaults, with the groups the installation
    names replaced (an unknown group is a mistake, refused)."""
    unknown = sorted(set(settings.governance_ai_act_dates) - set(AI_ACT_DATES))
    if unknown:
        raise ConfigurationError(
            f"SOBERANA_GOVERNANCE_AI_ACT_DATES: unknown group {unknown[0]!r} (known: {', '.join(AI_ACT_DATES)})"
        )
    return {name: date.fromisoformat(day) for name, day in AI_ACT_DATES.items()} | settings.governance_ai_act_dates


class Platform:
    """Every service of one installation, each built on first use by :func:`build_platform`'s rules."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- the foundation ------------------------------------------------------------------------------

    @cached_property
    def db(self) -> Database:
        return Database.from_settings(self.settings)

    @cached_property
    def audit(self) -> AuditLog:
        from soberana.gateway.metering import usage_verifiers

        return AuditLog(self.settings.secret_key_bytes, verifiers=usage_verifiers())

    @cached_property
    def counters(self) -> Counters:
        """Quota and rate-limit counts: in this process, or in Redis shared by every process."""
        url = self.settings.redis_url
        return RedisCounters(url) if url else MemoryCounters()

    @cached_property
    def admin(self) -> AdminService:
        admin = AdminService.from_settings(self.settings, self.audit)
        admin.on_change.append(lambda: self.authenticator.forget())  # a changed key is not remembered
        return admin

    @cached_property
    def authenticator(self) -> Authenticator:
        return Authenticator.from_settings(self.settings, self.db, self.audit, self.counters)

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self.db, timedelta(hours=self.settings.web_session_hours))

    @cached_property
    def oidc(self) -> OidcService:
        from soberana.auth.oidc import OidcService

        return OidcService(self.db, self.admin, self.authenticator, self.settings.secret_key_bytes)

    # -- data protection and the gateway -------------------------------------------------------------

    @cached_property
    def detector(self) -> LanguageDetector:
        from soberana.knowledge.text import LanguageDetector

        return LanguageDetector(self.settings.knowledge_languages)

    @cached_property
    def privacy(self) -> PrivacyService:
        from soberana.privacy.service import PrivacyService

        return PrivacyService.from_settings(
            self.settings, self.db, self.admin, retention_purgers(self.audit), detect_language=self.detector.detect
        )

    @cached_property
    def gateway(self) -> GatewayRuntime:
        from soberana.gateway.runtime import GatewayRuntime

        return GatewayRuntime(
            self.settings,
            self.db,
            self.audit,
            self.admin,
            self.privacy,
            self.counters,
            TrainedTraffic(
                self.training,
                self.enforcer,
                lambda org_id: PlatformFacts(self).training_complete(org_id, oversight=True),
            ),
        )

    @property
    def gateway_service(self) -> GatewayService:
        return self.gateway.service

    @property
    def gateway_admin(self) -> GatewayAdmin:
        return self.gateway.admin

    # -- knowledge and the workspace -----------------------------------------------------------------

    @cached_property
    def engine(self) -> KnowledgeEngine:
        from soberana.gateway.clients import GatewayClient
        from soberana.knowledge.engine import KnowledgeEngine

        return KnowledgeEngine(self.settings, self.db, GatewayClient(self.gateway.service), self.detector)

    @cached_property
    def knowledge(self) -> KnowledgeService:
        from soberana.knowledge.chat import KnowledgeChat
        from soberana.knowledge.service import KnowledgeService

        knowledge = KnowledgeService(self.settings, self.db, self.admin, self.engine)
        # the `knowledge` option of chat completions: the gateway answers from collections through it
        self.gateway.service.add_augmenter(KnowledgeChat(knowledge))
        return knowledge

    @cached_property
    def jobs(self) -> IngestionJobs:
        from soberana.knowledge.jobs import IngestionJobs

        return IngestionJobs(
            self.settings,
            self.db,
            self.audit,
            self.knowledge,
            self.engine,
            self.privacy,
            document_parser(self.settings),
        )

    @cached_property
    def citizens(self) -> CitizenAssistant:
        from soberana.knowledge.citizens import CitizenAssistant

        return CitizenAssistant(
            self.settings,
            self.db,
            self.audit,
            self.knowledge,
            self.privacy,
            self.counters,
            self.enforcer,
            self.governance.incidents,
        )

    @cached_property
    def handoff(self) -> HandoffQueue:
        from soberana.knowledge.handoff import HandoffQueue

        return HandoffQueue(self.admin)

    @cached_property
    def workspace(self) -> WorkspaceService:
        from soberana.gateway.clients import GatewayClient
        from soberana.workspace.service import WorkspaceService

        return WorkspaceService(self.db, self.admin, GatewayClient(self.gateway.service), self.privacy)

    # -- governance ----------------------------------------------------------------------------------

    @cached_property
    def signals(self) -> Signals:
        """Signals between server processes: none to send in one process, Redis publish/subscribe."""
        url = self.settings.redis_url
        return RedisSignals(url) if url else LocalSignals()

    @cached_property
    def governance_feed(self) -> ChangeFeed:
        """Told after every committed change to the register (run-time enforcement listens)."""
        from soberana.governance.enforcement import ChangeFeed

        return ChangeFeed()

    @cached_property
    def enforcer(self) -> Enforcer:
        """Run-time enforcement of the register: the gateway's and the citizen assistant's guard."""
        from soberana.governance.enforcement import Enforcer

        return Enforcer(
            self.db,
            self.audit,
            self.signals,
            self.governance_feed,
            mode=self.settings.governance_enforcement,
            check_seconds=self.settings.governance_check_seconds,
            audit_seconds=self.settings.governance_audit_seconds,
        )

    @cached_property
    def governance(self) -> GovernanceService:
        from soberana.governance.service import GovernanceService

        aia_dir = self.settings.governance_aia_dir
        return GovernanceService(
            self.db,
            self.admin,
            Path(aia_dir) if aia_dir else None,
            ai_act_dates(self.settings),
            collections=self.knowledge,
            feed=self.governance_feed,
            facts=PlatformFacts(self),
            public_readers=RateLimiter(
                self.counters,
                "transparency",
                self.settings.transparency_requests_per_minute,
                "Too many requests for transparency records from your address. Try again in a minute.",
            ),
            evidence=ApprovalEvidenceAdapter(self, self.settings.evaluations_gate),
        )

    # -- training ------------------------------------------------------------------------------------

    @cached_property
    def training(self) -> TrainingService:
        from soberana.training.courses import Catalogue
        from soberana.training.service import TrainingService

        s = self.settings
        imported = Path(s.training_courses_dir) if s.training_courses_dir else Path(s.data_dir) / "courses"
        return TrainingService(
            self.db,
            self.admin,
            Catalogue([imported]),
            baseline=s.training_baseline_course,
            oversight=s.training_oversight_course,
            reminder_days=s.training_reminder_days,
            gate=s.training_gate,
            check_seconds=s.training_check_seconds,
            verifiers=RateLimiter(
                self.counters,
                "certificates",
                s.training_certificate_checks_per_minute,
                "Too many certificate checks from your address. Try again in a minute.",
            ),
        )

    # -- evaluations ---------------------------------------------------------------------------------

    @cached_property
    def evaluation_register(self) -> EvaluationRegister:
        return EvaluationRegister(self)

    @cached_property
    def evaluations(self) -> Evaluations:
        from soberana.evaluations.runner import Runner
        from soberana.evaluations.service import Evaluations
        from soberana.evaluations.suites import Library
        from soberana.gateway.clients import GatewayClient

        s = self.settings
        folder = Path(s.evaluations_suites_dir) if s.evaluations_suites_dir else None
        runner = Runner(
            EvaluationTargets(self, GatewayClient(self.gateway.service)),
            EvaluationPages(self),
            self.gateway.service.outbound,
            self.detector.detect,
            concurrency=s.evaluations_concurrency,
            case_timeout=s.evaluations_case_timeout_seconds,
        )
        return Evaluations(
            self.db,
            self.admin,
            Library([folder] if folder else []),
            runner,
            answering=runner.answering,
            pages=runner.pages,
            register=self.evaluation_register,
            pins=self.evaluation_register,
            metering=EvaluationMetering(self),
            answer_model=s.knowledge_answer_model,
        )

    @cached_property
    def evaluation_evidence(self) -> Evidence:
        from soberana.evaluations.evidence import Evidence
        from soberana.evaluations.gate import GatePolicy

        folder = self.settings.evaluations_suites_dir
        return Evidence(
            self.evaluations, GatePolicy.load(Path(folder) if folder else None), self.settings.evaluations_gate
        )

    # -- the application's view ----------------------------------------------------------------------

    SERVICES = (
        "db",
        "audit",
        "counters",
        "admin",
        "authenticator",
        "sessions",
        "oidc",
        "privacy",
        "knowledge",
        "jobs",
        "citizens",
        "handoff",
        "workspace",
        "governance",
        "evaluations",
        "evaluation_evidence",
        "training",
    )

    def components(self) -> Components:
        """The registry routes find their services in (by type): builds every service."""
        registry = Components([self.settings, *(getattr(self, name) for name in self.SERVICES)])
        registry.add(self)
        registry.add(self.gateway.service)
        registry.add(self.gateway.admin)
        return registry

    def _built(self, name: str) -> bool:
        return name in self.__dict__

    async def start(self) -> None:
        """Start the background work of a server process: the gateway's health checks and usage writer,
        policy reloads and the retention purge, the refusal log, the indexing worker."""
        await self.enforcer.start()
        await self.gateway.start()
        await self.privacy.start()
        await self.authenticator.start()
        self.jobs.start_background()
        await self.evaluations.resume_unfinished()  # runs a crash or a restart interrupted

    async def stop(self) -> None:
        """Stop the background work and release connections (queued usage and refusals are written).
        Every step runs even when one before it fails; what was never built is not built to be stopped."""
        await _each(
            *self._stops(
                "evaluation_evidence", "evaluations", "jobs", "authenticator", "privacy", "gateway", "enforcer"
            ),
            *self._closes("signals", "counters", "db"),
        )

    def _stops(self, *names: str) -> list[Callable[[], Awaitable[None]]]:
        return [getattr(self, name).stop for name in names if self._built(name)]

    def _closes(self, *names: str) -> list[Callable[[], Awaitable[None]]]:
        closing = {
            "signals": lambda: self.signals.close(),
            "counters": lambda: self.counters.close(),
            "db": lambda: self.db.dispose(),
        }
        return [closing[name] for name in names if self._built(name)]

    async def close(self) -> None:
        """Release the connections of a platform that ran nothing in the background (a command)."""
        await _each(*self._closes("signals", "counters", "db"))

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
            await _each(
                *self._stops("evaluation_evidence", "evaluations", "jobs", "authenticator", "gateway", "enforcer"),
                *self._closes("signals", "counters"),
            )


class PlatformFacts:
    """What governance reads of the platform that runs (its :class:`~soberana.governance.ports.LiveFacts`
    port): the gateway's deployments behind an alias, and the traffic of keys, assistants and workspaces."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._verified: tuple[float, bool] | None = None

    async def models(self, aliases: Sequence[str], *, weights: bool = True) -> list[ModelFact]:
        import anyio

        from soberana.governance.ports import ModelFact
        from soberana.providers.base import weights_sha256

        found = []
        for alias in aliases:
            entry = self.platform.gateway_service.catalog.get(alias)
            for deployment in entry.deployments if entry is not None else []:
                config = deployment.config
                files = deployment.provider.weights() if weights else []
                digest = await anyio.to_thread.run_sync(weights_sha256, files) if files else None
                model = config.model or config.provider
                found.append(ModelFact(alias, deployment.name, model, config.sovereignty, config.supplier, digest))
        return found

    async def all_models(self, *, weights: bool = True) -> list[ModelFact]:
        aliases = [entry.alias for entry in self.platform.gateway_service.catalog.entries()]
        return await self.models(aliases, weights=weights)

    def data_rules(self, org_id: str) -> list[DataRule]:
        from soberana.auth.principal import system_principal
        from soberana.governance.ports import DataRule

        effective = self.platform.privacy.effective(system_principal(org_id, None, "policy-pack"))
        return [
            DataRule(level, rule.mode, tuple(rule.sovereignty), level == effective.default_classification)
            for level in effective.classifications
            if (rule := effective.rules.get(level)) is not None
        ]

    async def audit_chain_verified(self) -> bool:
        """Verified at most once a minute per process (a whole-chain check reads every entry)."""
        now = time.monotonic()
        if self._verified is None or now - self._verified[0] > AUDIT_CHECK_SECONDS:
            async with self.platform.db.session() as session:
                self._verified = (now, (await self.platform.audit.verify(session)).ok)
        return self._verified[1]

    async def training_complete(self, org_id: str, *, oversight: bool) -> bool | None:
        from soberana.auth.principal import cli_principal

        platform, operator = self.platform, cli_principal("training")
        people: list[str] = []
        after: str | None = None
        async with platform.db.session() as session:
            while True:
                page, more = await platform.admin.list_users(session, operator, limit=200, after=after, org_id=org_id)
                people += [u.id for u in page if u.is_active]
                if not more or not page:
                    break
                after = page[-1].id
        if not people:
            return None
        s = self.platform.settings
        courses = [s.training_baseline_course, *([s.training_oversight_course] if oversight else [])]
        for course in courses:
            if len(await platform.training.holders(people, course)) < len(people):
                return False
        return True

    def retention_days(self, org_id: str) -> dict[str, float | None]:
        privacy = self.platform.privacy
        kept = {
            kind: privacy.retention_days(org_id, kind) for kind in ("usage", "conversations", "workspace_conversations")
        }
        return kept | {"vault": privacy.retention.vault_ttl(org_id).total_seconds() / 86_400}

    async def traffic(self, org_id: str, bindings: Sequence[tuple[str, str]], since: datetime) -> Traffic:
        from soberana.governance.ports import Traffic

        keys = [subject for kind, subject in bindings if kind == "api_key"]
        collections = [subject for kind, subject in bindings if kind == "collection"]
        workspace = org_id if ("workspace", org_id) in bindings else None
        async with self.platform.db.session() as session:
            requests, people = await self.platform.gateway.admin.traffic(session, since, keys, workspace)
        assistant = await self.platform.knowledge.assistant_figures(collections, since)
        return Traffic(
            requests=requests + assistant["questions"],
            people=people + assistant["conversations"],
            conversations=assistant["conversations"],
            handoffs=assistant["handoffs"],
            ratings=assistant["ratings"],
            helpful=assistant["helpful"],
        )


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
    """The platform for ``settings``: every service is built when first asked for (connects nothing)."""
    return Platform(settings)
