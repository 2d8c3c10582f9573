"""Queries over the evaluation tables."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.evaluations.models import EvaluationResult, EvaluationRun

UNFINISHED = ("queued", "running")


async def runs(
    session: AsyncSession,
    org_ids: Collection[str] | None,
    *,
    use_case_id: str | None = None,
    suite_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[EvaluationRun]:
    """Runs, newest first."""
    stmt = select(EvaluationRun).order_by(EvaluationRun.created_at.desc(), EvaluationRun.id.desc()).limit(limit)
    if org_ids is not None:
        stmt = stmt.where(EvaluationRun.org_id.in_(list(org_ids)))
    if use_case_id is not None:
        stmt = stmt.where(EvaluationRun.use_case_id == use_case_id)
    if suite_id is not None:
        stmt = stmt.where(EvaluationRun.suite_id == suite_id)
    if status is not None:
        stmt = stmt.where(EvaluationRun.status == status)
    return list((await session.scalars(stmt)).all())


async def latest(
    session: AsyncSession, use_case_id: str, suite_id: str, *, version: int | None = None, before: str | None = None
) -> EvaluationRun | None:
    """The newest run of a suite for a use case (on ``version``; created before run ``before``)."""
    stmt = (
        select(EvaluationRun)
        .where(EvaluationRun.use_case_id == use_case_id, EvaluationRun.suite_id == suite_id)
        .order_by(EvaluationRun.created_at.desc(), EvaluationRun.id.desc())
    )
    if version is not None:
        stmt = stmt.where(EvaluationRun.use_case_version == version)
    if before is not None:
        earlier = await session.get(EvaluationRun, before)
        if earlier is not None:
            stmt = stmt.where(EvaluationRun.created_at <= earlier.created_at, EvaluationRun.id != before)
    return (await session.scalars(stmt.limit(1))).first()


async def finished_before(session: AsyncSession, run: EvaluationRun) -> EvaluationRun | None:
    """The newest finished run of the same suite and target created before ``run``."""
    stmt = (
        select(EvaluationRun)
        .where(
            EvaluationRun.suite_id == run.suite_id,
            EvaluationRun.org_id == run.org_id,
            EvaluationRun.status == "finished",
            EvaluationRun.created_at <= run.created_at,
            EvaluationRun.id != run.id,
        )
        .order_by(EvaluationRun.created_at.desc(), EvaluationRun.id.desc())
    )
    if run.use_case_id is not None:
        stmt = stmt.where(EvaluationRun.use_case_id == run.use_case_id)
    for candidate in (await session.scalars(stmt.limit(50))).all():
        if run.use_case_id is not None or candidate.target == run.target:
            return candidate
    return None


async def results(session: AsyncSession, run_id: str) -> list[EvaluationResult]:
    stmt = select(EvaluationResult).where(EvaluationResult.run_id == run_id).order_by(EvaluationResult.case_id)
    return list((await session.scalars(stmt)).all())


async def unfinished(session: AsyncSession) -> list[EvaluationRun]:
    stmt = select(EvaluationRun).where(EvaluationRun.status.in_(UNFINISHED)).order_by(EvaluationRun.created_at)
    return list((await session.scalars(stmt)).all())
