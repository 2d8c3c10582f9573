"""Queries over the governance tables."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.governance.models import Assessment, Binding, Incident, Supplier, UseCase, UseCaseVersion


async def use_cases(
    session: AsyncSession,
    org_ids: Collection[str] | None,
    *,
    status: str | None,
    limit: int,
    after: str | None,
) -> list[UseCase]:
    """Use cases of ``org_ids`` (every organisation for ``None``), oldest first, after the id ``after``."""
    stmt = select(UseCase).order_by(UseCase.id).limit(limit)
    if org_ids is not None:
        stmt = stmt.where(UseCase.org_id.in_(list(org_ids)))
    if status:
        stmt = stmt.where(UseCase.status == status)
    if after:
        stmt = stmt.where(UseCase.id > after)
    return list((await session.scalars(stmt)).all())


async def version(session: AsyncSession, use_case_id: str, number: int) -> UseCaseVersion | None:
    stmt = select(UseCaseVersion).where(UseCaseVersion.use_case_id == use_case_id, UseCaseVersion.version == number)
    return (await session.scalars(stmt)).first()


async def versions(session: AsyncSession, use_case_id: str) -> list[UseCaseVersion]:
    stmt = select(UseCaseVersion).where(UseCaseVersion.use_case_id == use_case_id).order_by(UseCaseVersion.version)
    return list((await session.scalars(stmt)).all())


async def latest_assessment(session: AsyncSession, use_case_id: str, kind: str) -> Assessment | None:
    stmt = (
        select(Assessment)
        .where(Assessment.use_case_id == use_case_id, Assessment.kind == kind)
        .order_by(Assessment.version.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def incidents(
    session: AsyncSession,
    org_ids: Collection[str] | None,
    *,
    status: str | None,
    use_case_id: str | None,
    limit: int,
    after: str | None,
) -> list[Incident]:
    stmt = select(Incident).order_by(Incident.id).limit(limit)
    if org_ids is not None:
        stmt = stmt.where(Incident.org_id.in_(list(org_ids)))
    if status:
        stmt = stmt.where(Incident.status == status)
    if use_case_id:
        stmt = stmt.where(Incident.use_case_id == use_case_id)
    if after:
        stmt = stmt.where(Incident.id > after)
    return list((await session.scalars(stmt)).all())


async def suppliers(session: AsyncSession, *, status: str | None) -> list[Supplier]:
    stmt = select(Supplier).order_by(Supplier.legal_name)
    if status:
        stmt = stmt.where(Supplier.status == status)
    return list((await session.scalars(stmt)).all())


async def version_authors(session: AsyncSession, use_case_id: str, after: int, upto: int) -> frozenset[str]:
    """Who wrote the versions after ``after`` up to ``upto``."""
    stmt = select(UseCaseVersion.author).where(
        UseCaseVersion.use_case_id == use_case_id, UseCaseVersion.version > after, UseCaseVersion.version <= upto
    )
    return frozenset((await session.scalars(stmt)).all())


async def assessments(session: AsyncSession, use_case_id: str, kind: str) -> list[Assessment]:
    """Every assessment of a kind of a use case, newest first."""
    stmt = (
        select(Assessment)
        .where(Assessment.use_case_id == use_case_id, Assessment.kind == kind)
        .order_by(Assessment.version.desc())
    )
    return list((await session.scalars(stmt)).all())


async def bound(session: AsyncSession, use_case_id: str, kind: str) -> list[str]:
    """The subjects of one kind bound to a use case."""
    stmt = select(Binding.subject_id).where(Binding.use_case_id == use_case_id, Binding.kind == kind)
    return list((await session.scalars(stmt.order_by(Binding.subject_id))).all())
