"""Administration of API keys: created, listed and revoked within the caller's scope; shown once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.service import AuditLog
from soberana.auth import repo
from soberana.auth.keys import KEY_PREFIX, generate_key
from soberana.auth.models import ApiKey, ServiceAccount, User
from soberana.auth.principal import ROLE_SCOPES, Origin, Principal, Role, Scope
from soberana.auth.schemas import ApiKeyCreate, ApiKeyOut
from soberana.auth.tenancy import TenantScope
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound, PermissionDenied, require_id


def key_status(key: ApiKey, now: datetime | None = None) -> Literal["active", "expired", "revoked"]:
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def key_out(key: ApiKey) -> ApiKeyOut:
    owner_type = "user" if key.user_id else "service_account"
    return ApiKeyOut(
        id=key.id,
        org_id=key.org_id,
        name=key.name,
        prefix=key.prefix,
        owner_type=owner_type,
        owner_id=key.user_id or key.service_account_id or "",
        scopes=[Scope(s) for s in key.scopes],
        priority=key.priority,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        status=key_status(key),
    )


class KeyAdmin(TenantScope):
    """API keys within the caller's scope."""

    def __init__(self, audit: AuditLog, *, secret: bytes, key_default_ttl_days: int, key_max_ttl_days: int) -> None:
        super().__init__(audit)
        self._secret = secret
        self._default_ttl = key_default_ttl_days
        self._max_ttl = key_max_ttl_days

    async def list_keys(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        org_id: str | None = None,
        user_id: str | None = None,
        service_account_id: str | None = None,
    ) -> tuple[list[ApiKey], bool]:
        principal.require(Scope.ADMIN)
        return await self._page(
            session,
            principal,
            ApiKey,
            limit=limit,
            after=after,
            org_id=org_id,
            user_id=user_id,
            service_account_id=service_account_id,
        )

    async def get_key(self, session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
        principal.require(Scope.ADMIN)
        return await self._get(session, principal, ApiKey, key_id)

    async def find_key(self, session: AsyncSession, principal: Principal, ref: str) -> ApiKey:
        """A key by id (``key_…``) or by its public prefix (``sob_3KQ7M2X9PA4T``, with or without ``sob_``)."""
        if ref.startswith("key_"):
            return await self.get_key(session, principal, ref)
        principal.require(Scope.ADMIN)
        key = await repo.key_by_prefix(session, ref.removeprefix(KEY_PREFIX).rstrip("…_"))
        visible = await self.visible_org_ids(session, principal)
        if key is None or (visible is not None and key.org_id not in visible):
            raise NotFound(f"No API key with id or prefix {ref!r}.")
        return key

    def _expiry(self, expires_in_days: int | None) -> datetime | None:
        days = self._default_ttl if expires_in_days is None else expires_in_days
        if days == 0:
            if self._max_ttl:
                raise InvalidRequest(
                    f"Keys must expire within {self._max_ttl} days on this installation.", param="expires_in_days"
                )
            return None
        if self._max_ttl and days > self._max_ttl:
            raise InvalidRequest(f"expires_in_days may be at most {self._max_ttl}.", param="expires_in_days")
        return utcnow() + timedelta(days=days)

    async def _owner(self, session: AsyncSession, principal: Principal, data: ApiKeyCreate) -> User | ServiceAccount:
        """Who the new key will belong to, if ``principal`` may give them one.

        A person's key is created by that person, with no more than their own rights, or — audited, and
        shown on their account page — by a platform administrator; administrators create keys for service
        accounts. An administrator could otherwise act under anyone's name and read their saved
        conversations."""
        if (data.user_id is None) == (data.service_account_id is None):
            raise InvalidRequest("Give exactly one owner: user_id or service_account_id.", param="user_id")
        if data.service_account_id is not None:
            principal.require(Scope.ADMIN, "Creating keys for service accounts")
            return await self._get(
                session, principal, ServiceAccount, data.service_account_id, param="service_account_id"
            )
        assert data.user_id is not None
        require_id(data.user_id, "usr", "user", param="user_id")
        if principal.kind == "user" and principal.id == data.user_id:
            too_wide = sorted(str(s) for s in set(data.scopes) - principal.scopes)
            if too_wide:
                raise PermissionDenied(
                    f"Your own key cannot have more rights than you are signed in with ({', '.join(too_wide)}).",
                    param="scopes",
                )
            if data.priority is not None and not principal.can(Scope.ADMIN):
                # a priority class is a share of the models' capacity: administrators hand it out
                raise PermissionDenied(
                    "An administrator sets a key's priority; your own key has the installation's default.",
                    param="priority",
                )
        elif not principal.is_platform_admin:
            raise PermissionDenied(
                "A person's API keys are created by that person, on their own account page; administrators create "
                "keys for service accounts.",
                code="key_for_another_person",
                param="user_id",
            )
        return await self._get(session, principal, User, data.user_id, param="user_id")

    async def create_key(
        self, session: AsyncSession, principal: Principal, data: ApiKeyCreate, origin: Origin = Origin()
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with its plaintext, which exists nowhere else afterwards."""
        owner = await self._owner(session, principal, data)
        if not owner.is_active:
            raise InvalidRequest("The owner is deactivated; reactivate it before giving it a key.")
        if Role(owner.role) is Role.PLATFORM_ADMIN and not principal.is_platform_admin:
            raise PermissionDenied("Only platform administrators create keys for a platform administrator.")
        allowed = ROLE_SCOPES[Role(owner.role)]
        too_wide = sorted(str(s) for s in set(data.scopes) - allowed)
        if too_wide:
            raise InvalidRequest(f"A {owner.role} cannot hold a key with scope {', '.join(too_wide)}.", param="scopes")
        new = generate_key(self._secret)
        key = ApiKey(
            id=new_id("key"),
            org_id=owner.org_id,
            name=data.name,
            prefix=new.prefix,
            digest=new.digest,
            user_id=data.user_id,
            service_account_id=data.service_account_id,
            scopes=sorted({str(s) for s in data.scopes}),
            priority=data.priority,
            created_by=principal.id,
            expires_at=self._expiry(data.expires_in_days),
        )
        await self._add(session, key, "Key collision; try again.")
        details: dict[str, object] = {
            "name": key.name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "owner_id": owner.id,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        }
        if isinstance(owner, User) and owner.id != principal.id:
            details["for_another_person"] = True  # a platform administrator's key for someone: shown to them
        await self._record(session, principal, origin, "api_key.create", key, details)
        await self._commit(session, "Key collision; try again.")
        return key, new.plaintext

    async def own_keys(self, session: AsyncSession, principal: Principal) -> list[ApiKey]:
        """The keys that belong to the signed-in person, whoever created them (newest first)."""
        if principal.kind != "user":
            raise PermissionDenied("Only people have keys of their own; service accounts' keys are administered.")
        return await repo.keys_of_user(session, principal.id)

    async def revoke_key(
        self, session: AsyncSession, principal: Principal, key_id: str, origin: Origin = Origin()
    ) -> ApiKey:
        """Revoke a key for good (an administrator, or the person it belongs to). Revoking a revoked key
        changes nothing."""
        require_id(key_id, "key", "API key")
        own = await session.get(ApiKey, key_id) if principal.kind == "user" else None
        if own is not None and own.user_id == principal.id:
            key = own
        else:
            principal.require(Scope.ADMIN)
            key = await self._get(session, principal, ApiKey, key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self._record(session, principal, origin, "api_key.revoke", key, {"prefix": key.prefix})
            await self._commit(session)
        return key
