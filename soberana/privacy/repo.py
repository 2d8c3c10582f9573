"""Queries over the data-protection policies (the vault's are in :mod:`soberana.privacy.vault`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.privacy.models import PrivacyPolicy
from soberana.privacy.schemas import PolicyDocument


async def all_policies(session: AsyncSession) -> list[PrivacyPolicy]:
    return list((await session.scalars(select(PrivacyPolicy))).all())


async def policies_in(session: AsyncSession, org_ids: Collection[str] | None) -> list[PrivacyPolicy]:
    """The policies filed under ``org_ids`` (``None``: all of them), in a stable order."""
    stmt = select(PrivacyPolicy).order_by(PrivacyPolicy.id)
    if org_ids is not None:
        stmt = stmt.where(PrivacyPolicy.org_id.in_(list(org_ids)))
    return list((await session.scalars(stmt)).all())


async def policy_for(session: AsyncSession, subject_type: str, subject_id: str) -> PrivacyPolicy | None:
    stmt = select(PrivacyPolicy).where(
        PrivacyPolicy.subject_type == subject_type, PrivacyPolicy.subject_id == subject_id
    )
    return (await session.scalars(stmt)).one_or_none()


async def organisation_documents(session: AsyncSession, org_ids: Collection[str]) -> dict[str, PolicyDocument]:
    """The policies of the organisations ``org_ids`` that have one, by organisation."""
    stmt = select(PrivacyPolicy).where(
        PrivacyPolicy.subject_type == "organisation", PrivacyPolicy.subject_id.in_(list(org_ids))
    )
    return {row.subject_id: PolicyDocument.model_validate(row.document) for row in (await session.scalars(stmt))}
