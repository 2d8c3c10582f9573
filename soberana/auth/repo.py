"""Queries over organisations, users, service accounts and keys.

Listing functions take ``org_ids``: the organisations the caller may see (``None`` for a platform
administrator). Services compute it once per call with :func:`visible_org_ids`; no query here
returns rows outside it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from soberana.auth.models import ApiKey, Organisation, ServiceAccount, User, WebSession

M = TypeVar("M", Organisation, User, ServiceAccount, ApiKey)


async def subtree_ids(session: AsyncSession, root_id: str) -> frozenset[str]:
    """``root_id`` and every organisation nested below it, at any depth."""
    table = Organisation.__table__
    tree = select(table.c.id).where(table.c.id == root_id).cte("tree", recursive=True)
    tree = tree.union_all(select(table.c.id).where(table.c.parent_id == tree.c.id))
    return frozenset((await session.scalars(select(tree.c.id))).all())


async def ancestors(session: AsyncSession, org_id: str) -> list[Organisation]:
    """The organisation and its ancestors, nearest first."""
    chain: list[Organisation] = []
    current = await session.get(Organisation, org_id)
    while current is not None:
        chain.append(current)
        current = await session.get(Organisation, current.parent_id) if current.parent_id else None
    return chain


def _scoped(stmt: Select[Any], model: type[M], org_ids: Collection[str] | None) -> Select[Any]:
    column = model.id if model is Organisation else model.org_id  # type: ignore[attr-defined]
    return stmt if org_ids is None else stmt.where(column.in_(list(org_ids)))


async def get_scoped(session: AsyncSession, model: type[M], obj_id: str, org_ids: Collection[str] | None) -> M | None:
    """One row by id, or ``None`` if it does not exist *or* lies outside ``org_ids``."""
    stmt = _scoped(select(model).where(model.id == obj_id), model, org_ids)
    if model is ApiKey:
        stmt = stmt.options(joinedload(ApiKey.user), joinedload(ApiKey.service_account))
    return (await session.scalars(stmt)).unique().one_or_none()


async def list_scoped(
    session: AsyncSession,
    model: type[M],
    org_ids: Collection[str] | None,
    *,
    limit: int,
    after: str | None = None,
    filters: dict[str, Any] | None = None,
) -> tuple[list[M], bool]:
    """A page of rows ordered by id (creation order); returns ``(rows, has_more)``."""
    stmt = _scoped(select(model), model, org_ids)
    for column, value in (filters or {}).items():
        if value is not None:
            stmt = stmt.where(getattr(model, column) == value)
    if after:
        stmt = stmt.where(model.id > after)
    if model is ApiKey:
        stmt = stmt.options(joinedload(ApiKey.user), joinedload(ApiKey.service_account))
    rows = list((await session.scalars(stmt.order_by(model.id).limit(limit + 1))).unique().all())
    return rows[:limit], len(rows) > limit


async def org_by_slug(session: AsyncSession, slug: str) -> Organisation | None:
    return (await session.scalars(select(Organisation).where(Organisation.slug == slug))).one_or_none()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.scalars(select(User).where(User.email == email.lower()))).one_or_none()


async def service_account_by_name(session: AsyncSession, org_id: str, name: str) -> ServiceAccount | None:
    stmt = select(ServiceAccount).where(ServiceAccount.org_id == org_id, ServiceAccount.name == name)
    return (await session.scalars(stmt)).one_or_none()


async def key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    """A key with its owner and organisation loaded, for authentication."""
    stmt = (
        select(ApiKey)
        .where(ApiKey.prefix == prefix)
        .options(joinedload(ApiKey.user), joinedload(ApiKey.service_account), joinedload(ApiKey.organisation))
    )
    return (await session.scalars(stmt)).unique().one_or_none()


async def organisation_parents(session: AsyncSession) -> dict[str, str | None]:
    """Every organisation's parent (``None`` at the top of the tree)."""
    rows = await session.execute(select(Organisation.id, Organisation.parent_id))
    return {row.id: row.parent_id for row in rows}


async def end_sessions(session: AsyncSession, user_id: str) -> int:
    """Sign ``user_id`` out of every browser: delete their sessions (in the caller's transaction)."""
    result = await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def keys_of_user(session: AsyncSession, user_id: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id.desc())
    return list((await session.scalars(stmt)).all())


async def organisations(session: AsyncSession, org_ids: Collection[str]) -> list[Organisation]:
    if not org_ids:
        return []
    return list((await session.scalars(select(Organisation).where(Organisation.id.in_(list(org_ids))))).all())
