"""Administration of the gateway: deployments (platform administrators), quotas, usage reports.

Tenant scoping goes through the auth capability's :class:`AdminService`, never its tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.service import AdminService
from soberana.core.ids import new_id
from soberana.core.spreadsheet import to_csv
from soberana.errors import ConfigurationError, Conflict, InvalidRequest, NotFound, PermissionDenied, require_id
from soberana.gateway import repo
from soberana.gateway.models import ModelAlias, ModelDeployment, Quota
from soberana.gateway.schemas import DeploymentOut, QuotaOut, QuotaValues, UsageReport, UsageRow
from soberana.gateway.service import GatewayService, QuotaBook, QuotaLimits
from soberana.settings import AliasConfig, DeploymentConfig
from soberana.storage.db import conflicts_as

logger = logging.getLogger("soberana.gateway")


class GatewayAdmin:
    def __init__(self, admin: AdminService, gateway: GatewayService) -> None:
        self.admin = admin
        self.gateway = gateway

    # -- reloading what the hot path keeps in memory ------------------------------------------------

    async def reload(self, session: AsyncSession) -> None:
        """Reload deployments and quotas from the database into the running gateway."""
        stored = await repo.deployments(session)
        aliases = [
            AliasConfig.model_validate({"name": a.name, "strategy": a.strategy, "description": a.description})
            for a in await repo.aliases(session)
        ]
        configs = []
        for row in stored:
            if not row.enabled:
                continue
            try:
                configs.append(DeploymentConfig.model_validate(row.config))
            except ValidationError as exc:  # stored under older rules (e.g. api_key_env's prefix): left out
                logger.warning("deployment %s is left out: %s", row.name, exc.errors()[0].get("msg", "invalid"))
        self.gateway.catalog.load(configs, aliases)
        book = QuotaBook()
        for quota in await repo.quotas(session):
            limits = QuotaLimits(
                quota.requests_per_minute,
                quota.tokens_per_minute,
                quota.tokens_per_day,
                quota.monthly_budget,
                quota.max_concurrent,
            )
            (book.organisations if quota.subject_type == "organisation" else book.keys)[quota.subject_id] = limits
        month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        for (kind, subject), spent in (await repo.spent_since(session, month_start)).items():
            await self.gateway.counters.seed(f"{kind}:{subject}:budget", 0, spent)
        self.gateway.quotas = book

    # -- deployments --------------------------------------------------------------------------------

    def require_platform_admin(self, principal: Principal) -> None:
        principal.require(Scope.ADMIN)
        if not principal.is_platform_admin:
            raise PermissionDenied("Only platform administrators manage model deployments.")

    async def list_deployments(self, session: AsyncSession, principal: Principal) -> list[DeploymentOut]:
        self.require_platform_admin(principal)
        stored = {d.name: d for d in await repo.deployments(session)}
        demo_names = {c.name for c in self.gateway.catalog.static_configs[len(self.gateway.settings.deployments) :]}
        out = []
        running = {d.name: d for d in self.gateway.catalog.deployments()}
        now = time.monotonic()
        configs: list[tuple[DeploymentConfig, str, str | None, bool, str | None]] = [
            (c, "demo" if c.name in demo_names else "settings", None, True, None)
            for c in self.gateway.catalog.static_configs
        ]
        for row in stored.values():
            try:
                configs.append((DeploymentConfig.model_validate(row.config), "admin", row.id, row.enabled, None))
            except ValidationError as exc:  # stored under older rules: shown, so it can be fixed or removed
                first = exc.errors()[0]
                try:
                    shown = DeploymentConfig.model_validate({**row.config, "api_key_env": None})
                except ValidationError:
                    logger.warning("deployment %s cannot be shown: %s", row.name, first.get("msg"))
                    continue
                why = f"Left out: {first.get('msg', 'invalid')} ({'.'.join(map(str, first['loc']))})."
                configs.append((shown, "admin", row.id, False, why))
        for config, source, dep_id, enabled, problem in configs:
            name = config.name or f"{config.alias}@{config.provider}"
            live = running.get(name)
            out.append(
                DeploymentOut(
                    id=dep_id,
                    name=name,
                    source=source,
                    enabled=enabled,
                    config=config,
                    cooled_down=bool(live and live.cooled(now)),
                    in_flight=live.gate.in_flight if live else 0,
                    waiting=live.gate.waiting if live else 0,
                    problem=problem,
                )
            )
        return out

    async def create_deployment(
        self, session: AsyncSession, principal: Principal, config: DeploymentConfig, origin: Origin
    ) -> ModelDeployment:
        self.require_platform_admin(principal)
        name = config.name or f"{config.alias}@{config.provider}"
        config = config.model_copy(update={"name": name})
        if any((c.name or f"{c.alias}@{c.provider}") == name for c in self.gateway.catalog.static_configs):
            raise Conflict(f"A deployment named {name!r} is defined in the settings.", param="name")
        try:
            self.gateway.catalog.check(config)
        except ConfigurationError as exc:
            raise InvalidRequest(exc.message) from None
        if any(d.name == name for d in await repo.deployments(session)):
            raise Conflict(f"A deployment named {name!r} already exists.", param="name")
        row = ModelDeployment(id=new_id("dep"), name=name, config=config.model_dump(mode="json"), enabled=True)
        # two administrators adding the same name at once: the second gets 409, at the flush or the commit
        async with conflicts_as(session, f"A deployment named {name!r} already exists.", param="name"):
            session.add(row)
            await session.flush()
            await self.admin.record_change(
                session,
                principal,
                origin,
                action="model_deployment.create",
                object_type="model_deployment",
                object_id=row.id,
                details={
                    "name": name,
                    "alias": config.alias,
                    "provider": config.provider,
                    "sovereignty": config.sovereignty,
                },
            )
            await session.commit()
        await self.reload(session)
        return row

    async def update_deployment(
        self,
        session: AsyncSession,
        principal: Principal,
        dep_id: str,
        enabled: bool | None,
        config: DeploymentConfig | None,
        origin: Origin,
    ) -> ModelDeployment:
        self.require_platform_admin(principal)
        require_id(dep_id, "dep", "deployment")
        row = await session.get(ModelDeployment, dep_id)
        if row is None:
            raise NotFound(f"No deployment with id {dep_id!r}.")
        changes: dict[str, Any] = {}
        if enabled is not None and enabled != row.enabled:
            changes["enabled"] = {"from": row.enabled, "to": enabled}
            row.enabled = enabled
        if config is not None:
            new = config.model_copy(update={"name": row.name}).model_dump(mode="json")
            if new != row.config:
                changes["config"] = {"from": row.config, "to": new}
                row.config = new
        if changes:
            await self.admin.record_change(
                session,
                principal,
                origin,
                action="model_deployment.update",
                object_type="model_deployment",
                object_id=row.id,
                details={"changes": changes},
            )
            await session.commit()
            await self.reload(session)
        return row

    async def delete_deployment(self, session: AsyncSession, principal: Principal, dep_id: str, origin: Origin) -> None:
        self.require_platform_admin(principal)
        require_id(dep_id, "dep", "deployment")
        row = await session.get(ModelDeployment, dep_id)
        if row is None:
            raise NotFound(f"No deployment with id {dep_id!r}.")
        await session.delete(row)
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="model_deployment.delete",
            object_type="model_deployment",
            object_id=dep_id,
            details={"name": row.name},
        )
        await session.commit()
        await self.reload(session)

    # -- aliases ------------------------------------------------------------------------------------

    async def list_aliases(self, principal: Principal) -> list[AliasConfig]:
        """Every public model name with its strategy and description, as routing uses them now."""
        self.require_platform_admin(principal)
        return [
            AliasConfig.model_validate({"name": e.alias, "strategy": e.strategy.name, "description": e.description})
            for e in self.gateway.catalog.entries()
        ]

    async def set_alias(
        self, session: AsyncSession, principal: Principal, config: AliasConfig, origin: Origin
    ) -> AliasConfig:
        self.require_platform_admin(principal)
        row = await session.get(ModelAlias, config.name)
        if row is None:
            row = ModelAlias(name=config.name)
            session.add(row)
        row.strategy, row.description = config.strategy, config.description
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="model_alias.set",
            object_type="model_alias",
            object_id=config.name,
            details=config.model_dump(),
        )
        await session.commit()
        await self.reload(session)
        return config

    async def delete_alias(self, session: AsyncSession, principal: Principal, name: str, origin: Origin) -> None:
        self.require_platform_admin(principal)
        row = await session.get(ModelAlias, name)
        if row is None:
            raise NotFound(f"No alias settings stored for {name!r}.")
        await session.delete(row)
        await self.admin.record_change(
            session, principal, origin, action="model_alias.delete", object_type="model_alias", object_id=name
        )
        await session.commit()
        await self.reload(session)

    # -- quotas -------------------------------------------------------------------------------------

    async def _quota_subject_org(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str
    ) -> str:
        """The organisation of a quota's subject, which must lie within the caller's organisations."""
        return await self.admin.subject_org(session, principal, subject_type, subject_id)

    async def list_quotas(self, session: AsyncSession, principal: Principal) -> list[Quota]:
        principal.require(Scope.ADMIN)
        return await repo.quotas(session, await self.admin.visible_org_ids(session, principal))

    async def set_quota(
        self,
        session: AsyncSession,
        principal: Principal,
        subject_type: str,
        subject_id: str,
        values: QuotaValues,
        origin: Origin,
    ) -> Quota:
        """Set the quota of an organisation below yours, or of a key in your organisations."""
        org_id = await self._quota_subject_org(session, principal, subject_type, subject_id)
        if subject_type == "organisation" and org_id == principal.org_id and not principal.is_platform_admin:
            raise PermissionDenied("Your own organisation's quota is set by the organisation above it.")
        quota = await repo.quota_for(session, subject_type, subject_id)
        async with conflicts_as(session, "Another administrator set this quota at the same time; try again."):
            if quota is None:
                quota = Quota(id=new_id("quo"), subject_type=subject_type, subject_id=subject_id, org_id=org_id)
                session.add(quota)
            for name, value in values.model_dump().items():
                setattr(quota, name, value)
            await session.flush()
            await self.admin.record_change(
                session,
                principal,
                origin,
                action="quota.set",
                org_id=org_id,
                object_type=subject_type,
                object_id=subject_id,
                details=values.model_dump(),
            )
            await session.commit()
        await self.reload(session)
        return quota

    async def delete_quota(
        self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str, origin: Origin
    ) -> None:
        org_id = await self._quota_subject_org(session, principal, subject_type, subject_id)
        if subject_type == "organisation" and org_id == principal.org_id and not principal.is_platform_admin:
            raise PermissionDenied("Your own organisation's quota is set by the organisation above it.")
        quota = await repo.quota_for(session, subject_type, subject_id)
        if quota is None:
            raise NotFound(f"No quota is set for {subject_id!r}.")
        await session.delete(quota)
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="quota.delete",
            org_id=quota.org_id,
            object_type=subject_type,
            object_id=subject_id,
        )
        await session.commit()
        await self.reload(session)

    # -- usage --------------------------------------------------------------------------------------

    async def report(
        self,
        session: AsyncSession,
        *,
        group_by: str,
        start: date | None,
        end: date | None,
        org_ids: frozenset[str] | None,
        key_id: str | None = None,
        model: str | None = None,
    ) -> UsageReport:
        if group_by not in repo.GROUPS:
            raise InvalidRequest(f"group_by must be one of {', '.join(repo.GROUPS)}.", param="group_by")
        end = end or datetime.now(UTC).date()
        start = start or end.replace(day=1)
        if start > end:
            raise InvalidRequest("start_date is after end_date.", param="start_date")
        await self.gateway.meter.flush()  # include what is still queued
        since = datetime(start.year, start.month, start.day, tzinfo=UTC)
        until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        rows = await repo.usage_report(
            session, group_by=group_by, since=since, until=until, org_ids=org_ids, key_id=key_id, model=model
        )
        data = [UsageRow(**row) for row in rows]
        totals = UsageRow(
            group="total",
            requests=sum(r.requests for r in data),
            errors=sum(r.errors for r in data),
            prompt_tokens=sum(r.prompt_tokens for r in data),
            completion_tokens=sum(r.completion_tokens for r in data),
            cost=round(sum(r.cost for r in data), 6),
            energy_wh=round(sum(r.energy_wh for r in data), 6),
            latency_ms_avg=round(
                sum(r.latency_ms_avg * r.requests for r in data) / max(1, sum(r.requests for r in data)), 3
            ),
        )
        return UsageReport(
            group_by=group_by,
            start_date=start,
            end_date=end,
            currency=self.gateway.settings.currency,
            data=data,
            totals=totals,
        )

    async def traffic(
        self, session: AsyncSession, since: datetime, key_ids: Sequence[str], workspace_org: str | None
    ) -> tuple[int, int]:
        """Requests since ``since`` by ``key_ids`` and ``workspace_org``'s signed-in people, and how many
        distinct people or services made them (for transparency records; the caller checks who may see)."""
        await self.gateway.meter.flush()
        return await repo.traffic(session, since, key_ids, workspace_org)

    async def spent(self, session: AsyncSession, org_id: str, principal_prefix: str) -> tuple[int, int, float]:
        """Calls, tokens and cost of the work of principals whose id starts with ``principal_prefix`` (an
        evaluation run's), pending usage written first."""
        await self.gateway.meter.flush()
        return await repo.spent(session, org_id, principal_prefix)

    @staticmethod
    def report_csv(report: UsageReport) -> str:
        """The report as CSV (cells a spreadsheet would run as formulas are quoted)."""
        fields = list(UsageRow.model_fields)
        header = [report.group_by if f == "group" else f for f in fields] + ["currency"]
        return to_csv(header, ([getattr(row, f) for f in fields] + [report.currency] for row in report.data))


def quota_out(quota: Quota) -> QuotaOut:
    return QuotaOut.model_validate(quota)
