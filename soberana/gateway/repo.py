"""Queries over the gateway's tables."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.gateway.models import ModelAlias, ModelDeployment, Quota, UsageRecord


async def deployments(session: AsyncSession) -> list[ModelDeployment]:
    return list((await session.scalars(select(ModelDeployment).order_by(ModelDeployment.name))).all())


async def aliases(session: AsyncSession) -> list[ModelAlias]:
    return list((await session.scalars(select(ModelAlias).order_by(ModelAlias.name))).all())


async def quotas(session: AsyncSession, org_ids: Collection[str] | None = None) -> list[Quota]:
    stmt = select(Quota).order_by(Quota.id)
    if org_ids is not None:
        stmt = stmt.where(Quota.org_id.in_(list(org_ids)))
    return list((await session.scalars(stmt)).all())


async def quota_for(session: AsyncSession, subject_type: str, subject_id: str) -> Quota | None:
    stmt = select(Quota).where(Quota.subject_type == subject_type, Quota.subject_id == subject_id)
    return (await session.scalars(stmt)).one_or_none()


async def spent_since(session: AsyncSession, since: datetime) -> dict[tuple[str, str], float]:
    """Cost per organisation and per key since ``since`` (to seed budget counters after a restart)."""
    spent: dict[tuple[str, str], float] = {}
    for column, kind in ((UsageRecord.org_id, "org"), (UsageRecord.key_id, "key")):
        stmt = select(column, func.sum(UsageRecord.cost)).where(UsageRecord.occurred_at >= since).group_by(column)
        for subject, total in (await session.execute(stmt)).all():
            if subject:
                spent[(kind, subject)] = float(total or 0)
    return spent


GROUPS = ("day", "model", "organisation", "key", "deployment")


def _group_column(group_by: str, dialect: str) -> Any:
    if group_by == "day":
        if dialect == "postgresql":
            return func.to_char(func.timezone("UTC", UsageRecord.occurred_at), "YYYY-MM-DD")
        return func.substr(cast(UsageRecord.occurred_at, String), 1, 10)  # SQLite stores UTC text
    return {
        "model": UsageRecord.model,
        "organisation": UsageRecord.org_id,
        "key": UsageRecord.key_id,
        "deployment": UsageRecord.deployment,
    }[group_by]


async def usage_report(
    session: AsyncSession,
    *,
    group_by: str,
    since: datetime,
    until: datetime,
    org_ids: Collection[str] | None = None,
    key_id: str | None = None,
    model: str | None = None,
) -> list[dict[str, Any]]:
    group = _group_column(group_by, session.get_bind().dialect.name).label("grp")
    stmt = (
        select(
            group,
            func.count().label("requests"),
            func.sum(case((UsageRecord.status >= 400, 1), else_=0)).label("errors"),
            func.sum(UsageRecord.prompt_tokens).label("prompt_tokens"),
            func.sum(UsageRecord.completion_tokens).label("completion_tokens"),
            func.sum(UsageRecord.cost).label("cost"),
            func.sum(func.coalesce(UsageRecord.energy_wh, 0.0)).label("energy_wh"),
            func.avg(UsageRecord.latency_ms).label("latency_ms_avg"),
        )
        .where(UsageRecord.occurred_at >= since, UsageRecord.occurred_at < until)
        .group_by(group)
        .order_by(group)
    )
    if org_ids is not None:
        stmt = stmt.where(UsageRecord.org_id.in_(list(org_ids)))
    if key_id is not None:
        stmt = stmt.where(UsageRecord.key_id == key_id)
    if model is not None:
        stmt = stmt.where(UsageRecord.model == model)
    rows = (await session.execute(stmt)).mappings().all()
    return [
        {
            "group": str(r["grp"]) if r["grp"] is not None else "",
            "requests": int(r["requests"]),
            "errors": int(r["errors"] or 0),
            "prompt_tokens": int(r["prompt_tokens"] or 0),
            "completion_tokens": int(r["completion_tokens"] or 0),
            "cost": round(float(r["cost"] or 0), 6),
            "energy_wh": round(float(r["energy_wh"] or 0), 6),
            "latency_ms_avg": round(float(r["latency_ms_avg"] or 0), 3),
        }
        for r in rows
    ]


async def traffic(
    session: AsyncSession, since: datetime, key_ids: Collection[str], workspace_org: str | None
) -> tuple[int, int]:
    """Requests since ``since`` made with ``key_ids`` or, for ``workspace_org``, by its signed-in people
    (no key), and how many distinct people or services made them."""
    conditions: list[ColumnElement[bool]] = []
    if key_ids:
        conditions.append(UsageRecord.key_id.in_(list(key_ids)))
    if workspace_org is not None:
        signed_in = UsageRecord.key_id.is_(None) & UsageRecord.principal_id.like("usr_%")
        conditions.append((UsageRecord.org_id == workspace_org) & signed_in)
    if not conditions:
        return 0, 0
    row = (
        await session.execute(
            select(func.count(), func.count(func.distinct(UsageRecord.principal_id))).where(
                UsageRecord.occurred_at >= since, or_(*conditions)
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def spent(session: AsyncSession, org_id: str, principal_prefix: str) -> tuple[int, int, float]:
    """Calls, tokens and cost of the usage of ``org_id`` by principals whose id starts with the prefix."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens), 0),
                func.coalesce(func.sum(UsageRecord.cost), 0.0),
            ).where(
                UsageRecord.org_id == org_id,
                func.substr(UsageRecord.principal_id, 1, len(principal_prefix)) == principal_prefix,
            )
        )
    ).one()
    return int(row[0]), int(row[1]), float(row[2])
