"""Authentication and the administration of organisations, users, service accounts and keys.

Every method that reads or changes tenant data first works out which organisations the principal
may see — its own and those nested below it; all of them for a platform administrator — and asks
the repository only for rows inside that set. An object outside it is reported as *not found*, so
one organisation cannot even learn whether another's objects exist. Every change is written to
the audit log in the same transaction as the change itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import anyio
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.audit.schemas import ANONYMOUS, Actor, AuditEvent, Outcome
from soberana.audit.service import AuditLog
from soberana.auth import passwords, repo
from soberana.auth.keys import KEY_PREFIX, generate_key, key_digest, parse_prefix
from soberana.auth.models import ApiKey, Organisation, ServiceAccount, User
from soberana.auth.principal import ROLE_SCOPES, Principal, Role, Scope
from soberana.auth.schemas import (
    ApiKeyCreate,
    ApiKeyOut,
    OrganisationCreate,
    OrganisationUpdate,
    ServiceAccountCreate,
    ServiceAccountUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from soberana.core.clock import utcnow
from soberana.core.crypto import constant_time_equal
from soberana.core.ids import new_id
from soberana.errors import (
    AuthenticationFailed,
    Conflict,
    ExpiredApiKey,
    InvalidApiKey,
    InvalidCredentials,
    InvalidRequest,
    MissingCredentials,
    NotFound,
    PermissionDenied,
    RevokedApiKey,
    require_id,
)
from soberana.settings import Settings
from soberana.storage.db import Database

MAX_ORG_DEPTH = 8
FILTER_ID_PREFIXES = {
    "org_id": ("org", "organisation"),
    "parent_id": ("org", "organisation"),
    "user_id": ("usr", "user"),
    "service_account_id": ("svc", "service account"),
}
ID_PREFIXES = {
    Organisation: ("org", "organisation"),
    User: ("usr", "user"),
    ServiceAccount: ("svc", "service account"),
    ApiKey: ("key", "API key"),
}


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit log."""

    ip: str | None = None
    request_id: str | None = None


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


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        org_id=user.org_id,
        email=user.email,
        display_name=user.display_name,
        role=Role(user.role),
        is_active=user.is_active,
        has_password=user.password_hash is not None,
        last_sign_in_at=user.last_sign_in_at,
        created_at=user.created_at,
    )


def _changes(obj: Any, updates: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply ``updates`` to ``obj``; return ``{field: {"from", "to"}}`` for the fields that changed."""
    changed = {}
    for name, value in updates.items():
        value = str(value) if isinstance(value, Role) else value
        if getattr(obj, name) != value:
            changed[name] = {"from": getattr(obj, name), "to": value}
            setattr(obj, name, value)
    return changed


class AdminService:
    """Organisations, users, service accounts and API keys, always within the caller's scope."""

    def __init__(self, audit: AuditLog, *, secret: bytes, key_default_ttl_days: int, key_max_ttl_days: int) -> None:
        self.audit = audit
        self._secret = secret
        self._default_ttl = key_default_ttl_days
        self._max_ttl = key_max_ttl_days
        #: Called after any change that can affect who may authenticate (see Authenticator.forget).
        self.on_change: list[Callable[[], None]] = []

    @classmethod
    def from_settings(cls, settings: Settings, audit: AuditLog) -> AdminService:
        return cls(
            audit,
            secret=settings.secret_key_bytes,
            key_default_ttl_days=settings.api_key_default_ttl_days,
            key_max_ttl_days=settings.api_key_max_ttl_days,
        )

    # -- scope helpers ------------------------------------------------------------------------------

    @staticmethod
    def require(principal: Principal, scope: Scope) -> None:
        if not principal.can(scope):
            needs = {Scope.ADMIN: "an administrator", Scope.AUDIT: "an auditor or administrator"}.get(scope, "")
            raise PermissionDenied(
                f"This needs the '{scope}' scope on a key of {needs or 'a permitted principal'}.",
                code="insufficient_scope",
            )

    async def visible_org_ids(self, session: AsyncSession, principal: Principal) -> frozenset[str] | None:
        """Organisations ``principal`` may see: ``None`` means all of them."""
        if principal.is_platform_admin:
            return None
        assert principal.org_id is not None
        return await repo.subtree_ids(session, principal.org_id)

    async def _get(
        self, session: AsyncSession, principal: Principal, model: type[repo.M], obj_id: str, *, param: str | None = None
    ) -> repo.M:
        prefix, noun = ID_PREFIXES[model]
        require_id(obj_id, prefix, noun, param=param)
        obj = await repo.get_scoped(session, model, obj_id, await self.visible_org_ids(session, principal))
        if obj is None:
            raise NotFound(f"No {noun} with id {obj_id!r}.", param=param)
        return obj

    async def _page(
        self,
        session: AsyncSession,
        principal: Principal,
        model: type[repo.M],
        *,
        limit: int,
        after: str | None,
        **filters: Any,
    ) -> tuple[list[repo.M], bool]:
        prefix, noun = ID_PREFIXES[model]
        if after:
            require_id(after, prefix, noun, param="after")
        for name, value in filters.items():
            if value:
                require_id(value, *FILTER_ID_PREFIXES[name], param=name)
        org_ids = await self.visible_org_ids(session, principal)
        return await repo.list_scoped(session, model, org_ids, limit=limit, after=after, filters=filters)

    async def record_change(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        *,
        action: str,
        object_type: str | None,
        object_id: str | None,
        org_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record a change ``principal`` made in the audit log, in the transaction that makes it."""
        await self.audit.append(
            session,
            AuditEvent(
                action=action,
                actor=principal.actor(),
                org_id=org_id,
                object_type=object_type,
                object_id=object_id,
                details=details or {},
                ip=origin.ip,
                request_id=origin.request_id,
            ),
        )

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        action: str,
        obj: Any,
        details: dict[str, Any] | None = None,
    ) -> None:
        object_type = type(obj).__tablename__.removesuffix("s") if hasattr(obj, "__tablename__") else None
        await self.audit.append(
            session,
            AuditEvent(
                action=action,
                actor=principal.actor(),
                org_id=obj.id if isinstance(obj, Organisation) else obj.org_id,
                object_type=object_type,
                object_id=obj.id,
                details=details or {},
                ip=origin.ip,
                request_id=origin.request_id,
            ),
        )

    async def _commit(self, session: AsyncSession, conflict_message: str = "Conflicting change.") -> None:
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise Conflict(conflict_message) from None
        for listener in self.on_change:
            listener()

    # -- organisations ------------------------------------------------------------------------------

    async def list_organisations(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        parent_id: str | None = None,
    ) -> tuple[list[Organisation], bool]:
        self.require(principal, Scope.ADMIN)
        return await self._page(session, principal, Organisation, limit=limit, after=after, parent_id=parent_id)

    async def get_organisation(self, session: AsyncSession, principal: Principal, org_id: str) -> Organisation:
        self.require(principal, Scope.ADMIN)
        return await self._get(session, principal, Organisation, org_id)

    async def organisation_by_slug(self, session: AsyncSession, principal: Principal, slug: str) -> Organisation:
        self.require(principal, Scope.ADMIN)
        org = await repo.org_by_slug(session, slug)
        visible = await self.visible_org_ids(session, principal)
        if org is None or (visible is not None and org.id not in visible):
            raise NotFound(f"No organisation with slug {slug!r}.")
        return org

    async def public_organisation(
        self, session: AsyncSession, *, org_id: str | None = None, slug: str | None = None
    ) -> Organisation | None:
        """An active organisation by id or slug, with no authorisation: only for what is public anyway
        (the name and slug of the organisation behind a public assistant)."""
        org = await repo.org_by_slug(session, slug) if slug else await session.get(Organisation, org_id or "")
        return org if org is not None and org.is_active else None

    async def create_organisation(
        self, session: AsyncSession, principal: Principal, data: OrganisationCreate, origin: Origin = Origin()
    ) -> Organisation:
        self.require(principal, Scope.ADMIN)
        if data.parent_id is None:
            if not principal.is_platform_admin:
                raise PermissionDenied(
                    "Only platform administrators create top-level organisations; "
                    "give a parent_id within your organisation."
                )
        else:
            await self._get(session, principal, Organisation, data.parent_id, param="parent_id")
            if len(await repo.ancestors(session, data.parent_id)) >= MAX_ORG_DEPTH:
                raise InvalidRequest(f"Organisations nest at most {MAX_ORG_DEPTH} levels deep.", param="parent_id")
        if await repo.org_by_slug(session, data.slug) is not None:
            raise Conflict(f"An organisation with slug {data.slug!r} already exists.", param="slug")
        org = Organisation(
            id=new_id("org"), slug=data.slug, name=data.name, kind=data.kind, parent_id=data.parent_id, is_active=True
        )
        session.add(org)
        await session.flush()
        await self._record(
            session,
            principal,
            origin,
            "organisation.create",
            org,
            {"slug": org.slug, "name": org.name, "kind": org.kind, "parent_id": org.parent_id},
        )
        await self._commit(session, f"An organisation with slug {data.slug!r} already exists.")
        return org

    async def update_organisation(
        self,
        session: AsyncSession,
        principal: Principal,
        org_id: str,
        data: OrganisationUpdate,
        origin: Origin = Origin(),
    ) -> Organisation:
        self.require(principal, Scope.ADMIN)
        org = await self._get(session, principal, Organisation, org_id)
        if data.is_active is False and org.id == principal.org_id:
            raise PermissionDenied("You cannot deactivate your own organisation.")
        changed = _changes(org, data.model_dump(exclude_none=True))
        if changed:
            await self._record(session, principal, origin, "organisation.update", org, {"changes": changed})
            await self._commit(session)
        return org

    # -- users --------------------------------------------------------------------------------------

    async def list_users(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        org_id: str | None = None,
    ) -> tuple[list[User], bool]:
        self.require(principal, Scope.ADMIN)
        return await self._page(session, principal, User, limit=limit, after=after, org_id=org_id)

    async def get_user(self, session: AsyncSession, principal: Principal, user_id: str) -> User:
        self.require(principal, Scope.ADMIN)
        return await self._get(session, principal, User, user_id)

    async def user_by_email(self, session: AsyncSession, principal: Principal, email: str) -> User:
        self.require(principal, Scope.ADMIN)
        user = await repo.user_by_email(session, email)
        visible = await self.visible_org_ids(session, principal)
        if user is None or (visible is not None and user.org_id not in visible):
            raise NotFound(f"No user with e-mail {email!r}.")
        return user

    def _check_role_grant(self, principal: Principal, role: Role | str) -> None:
        if Role(role) is Role.PLATFORM_ADMIN and not principal.is_platform_admin:
            raise PermissionDenied("Only platform administrators can grant the platform_admin role.", param="role")

    async def create_user(
        self, session: AsyncSession, principal: Principal, data: UserCreate, origin: Origin = Origin()
    ) -> User:
        self.require(principal, Scope.ADMIN)
        await self._get(session, principal, Organisation, data.org_id, param="org_id")
        self._check_role_grant(principal, data.role)
        email = data.email.lower()
        if await repo.user_by_email(session, email) is not None:
            raise Conflict(f"A user with e-mail {email!r} already exists.", param="email")
        password_hash = (
            await anyio.to_thread.run_sync(passwords.hash_password, data.password) if data.password else None
        )
        user = User(
            id=new_id("usr"),
            org_id=data.org_id,
            email=email,
            display_name=data.display_name,
            role=str(data.role),
            is_active=True,
            password_hash=password_hash,
        )
        session.add(user)
        await session.flush()
        await self._record(
            session,
            principal,
            origin,
            "user.create",
            user,
            {"email": email, "role": user.role, "password_set": password_hash is not None},
        )
        await self._commit(session, f"A user with e-mail {email!r} already exists.")
        return user

    async def update_user(
        self, session: AsyncSession, principal: Principal, user_id: str, data: UserUpdate, origin: Origin = Origin()
    ) -> User:
        self.require(principal, Scope.ADMIN)
        user = await self._get(session, principal, User, user_id)
        if Role(user.role) is Role.PLATFORM_ADMIN and not principal.is_platform_admin:
            raise PermissionDenied("Only platform administrators can change a platform administrator.")
        if user.id == principal.id and (data.role is not None or data.is_active is False):
            raise PermissionDenied("You cannot change your own role or deactivate yourself.")
        if data.role is not None:
            self._check_role_grant(principal, data.role)
        updates = data.model_dump(exclude_none=True, exclude={"password"})
        changed = _changes(user, updates)
        if data.password is not None:
            user.password_hash = await anyio.to_thread.run_sync(passwords.hash_password, data.password)
            changed["password"] = {"from": "****", "to": "****"}
        if changed:
            await self._record(session, principal, origin, "user.update", user, {"changes": changed})
            await self._commit(session)
        return user

    # -- service accounts ---------------------------------------------------------------------------

    async def list_service_accounts(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        org_id: str | None = None,
    ) -> tuple[list[ServiceAccount], bool]:
        self.require(principal, Scope.ADMIN)
        return await self._page(session, principal, ServiceAccount, limit=limit, after=after, org_id=org_id)

    async def get_service_account(self, session: AsyncSession, principal: Principal, sa_id: str) -> ServiceAccount:
        self.require(principal, Scope.ADMIN)
        return await self._get(session, principal, ServiceAccount, sa_id)

    async def service_account_by_name(
        self, session: AsyncSession, principal: Principal, org_id: str, name: str
    ) -> ServiceAccount | None:
        self.require(principal, Scope.ADMIN)
        await self._get(session, principal, Organisation, org_id)
        return await repo.service_account_by_name(session, org_id, name)

    async def create_service_account(
        self, session: AsyncSession, principal: Principal, data: ServiceAccountCreate, origin: Origin = Origin()
    ) -> ServiceAccount:
        self.require(principal, Scope.ADMIN)
        await self._get(session, principal, Organisation, data.org_id, param="org_id")
        message = f"The organisation already has a service account named {data.name!r}."
        if await repo.service_account_by_name(session, data.org_id, data.name) is not None:
            raise Conflict(message, param="name")
        account = ServiceAccount(
            id=new_id("svc"),
            org_id=data.org_id,
            name=data.name,
            description=data.description,
            role=str(data.role),
            is_active=True,
        )
        session.add(account)
        await session.flush()
        await self._record(
            session, principal, origin, "service_account.create", account, {"name": account.name, "role": account.role}
        )
        await self._commit(session, message)
        return account

    async def update_service_account(
        self,
        session: AsyncSession,
        principal: Principal,
        sa_id: str,
        data: ServiceAccountUpdate,
        origin: Origin = Origin(),
    ) -> ServiceAccount:
        self.require(principal, Scope.ADMIN)
        account = await self._get(session, principal, ServiceAccount, sa_id)
        changed = _changes(account, data.model_dump(exclude_none=True))
        if changed:
            await self._record(session, principal, origin, "service_account.update", account, {"changes": changed})
            await self._commit(session)
        return account

    # -- API keys -----------------------------------------------------------------------------------

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
        self.require(principal, Scope.ADMIN)
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

    async def subject_org(self, session: AsyncSession, principal: Principal, subject_type: str, subject_id: str) -> str:
        """The organisation of an organisation (``subject_type="organisation"``) or API key the caller
        administers — what per-organisation or per-key settings (quotas, policies) are filed under."""
        self.require(principal, Scope.ADMIN)
        if subject_type == "organisation":
            return (await self.get_organisation(session, principal, subject_id)).id
        return (await self.get_key(session, principal, subject_id)).org_id

    async def get_key(self, session: AsyncSession, principal: Principal, key_id: str) -> ApiKey:
        self.require(principal, Scope.ADMIN)
        return await self._get(session, principal, ApiKey, key_id)

    async def find_key(self, session: AsyncSession, principal: Principal, ref: str) -> ApiKey:
        """A key by id (``key_…``) or by its public prefix (``sob_3KQ7M2X9PA4T``, with or without ``sob_``)."""
        if ref.startswith("key_"):
            return await self.get_key(session, principal, ref)
        self.require(principal, Scope.ADMIN)
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

    async def create_key(
        self, session: AsyncSession, principal: Principal, data: ApiKeyCreate, origin: Origin = Origin()
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with its plaintext, which exists nowhere else afterwards."""
        self.require(principal, Scope.ADMIN)
        if (data.user_id is None) == (data.service_account_id is None):
            raise InvalidRequest("Give exactly one owner: user_id or service_account_id.", param="user_id")
        owner: User | ServiceAccount
        if data.user_id is not None:
            owner = await self._get(session, principal, User, data.user_id, param="user_id")
        else:
            assert data.service_account_id is not None
            owner = await self._get(
                session, principal, ServiceAccount, data.service_account_id, param="service_account_id"
            )
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
        session.add(key)
        await session.flush()
        await self._record(
            session,
            principal,
            origin,
            "api_key.create",
            key,
            {
                "name": key.name,
                "prefix": key.prefix,
                "scopes": key.scopes,
                "owner_id": owner.id,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            },
        )
        await self._commit(session, "Key collision; try again.")
        return key, new.plaintext

    async def revoke_key(
        self, session: AsyncSession, principal: Principal, key_id: str, origin: Origin = Origin()
    ) -> ApiKey:
        """Revoke a key for good. Revoking a revoked key changes nothing."""
        self.require(principal, Scope.ADMIN)
        key = await self._get(session, principal, ApiKey, key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            await self._record(session, principal, origin, "api_key.revoke", key, {"prefix": key.prefix})
            await self._commit(session)
        return key


def _key_problem(
    key: ApiKey, owner: User | ServiceAccount, chain: list[Organisation], now: datetime
) -> AuthenticationFailed | None:
    """Why a key whose secret matched must still be refused, or ``None``."""
    if key.revoked_at is not None:
        return RevokedApiKey(
            f"This API key was revoked on {key.revoked_at:%Y-%m-%d}. Ask your administrator for a new one."
        )
    if key.expires_at is not None and key.expires_at <= now:
        return ExpiredApiKey(
            f"This API key expired on {key.expires_at:%Y-%m-%d}. Ask your administrator for a new one."
        )
    if not owner.is_active or not all(org.is_active for org in chain):
        return AuthenticationFailed(
            "The account or organisation this key belongs to is deactivated.", code="account_disabled"
        )
    return None


class Authenticator:
    """Turns credentials into a :class:`Principal`, recording refusals in the audit log."""

    MAX_CACHED_KEYS = 10_000

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        secret: bytes,
        last_used_resolution_seconds: int,
        record_refusals: bool,
        cache_seconds: float = 0.0,
        default_priority: str = "interactive",
    ) -> None:
        self._db = db
        self._audit = audit
        self._secret = secret
        self._resolution = timedelta(seconds=last_used_resolution_seconds)
        self._record_refusals = record_refusals
        self._cache_seconds = cache_seconds
        self._default_priority = default_priority
        # HMAC digest of a key -> (principal, remembered until [monotonic], key expiry)
        self._cache: dict[str, tuple[Principal, float, datetime | None]] = {}

    def forget(self) -> None:
        """Drop every remembered key (called after any change to keys, users or organisations)."""
        self._cache.clear()

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, audit: AuditLog) -> Authenticator:
        return cls(
            db,
            audit,
            secret=settings.secret_key_bytes,
            last_used_resolution_seconds=settings.api_key_last_used_resolution_seconds,
            record_refusals=settings.audit_refused_authentication,
            cache_seconds=settings.auth_cache_seconds,
            default_priority=settings.default_priority,
        )

    async def _refuse(
        self,
        error: AuthenticationFailed,
        origin: Origin,
        *,
        method: str,
        actor: Actor = ANONYMOUS,
        org_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuthenticationFailed:
        if self._record_refusals:
            await self._audit.record(
                self._db,
                AuditEvent(
                    action="auth.refused" if method == "api_key" else "auth.sign_in",
                    actor=actor,
                    outcome=Outcome.DENIED,
                    org_id=org_id,
                    object_type=None,
                    object_id=None,
                    details={"method": method, "reason": error.code, **(details or {})},
                    ip=origin.ip,
                    request_id=origin.request_id,
                ),
            )
        return error

    async def authenticate_key(self, plaintext: str | None, origin: Origin = Origin()) -> Principal:
        """The principal behind an API key, or an :class:`AuthenticationFailed` subclass."""
        if not plaintext:
            raise await self._refuse(
                MissingCredentials("No API key provided. Send it in the header 'Authorization: Bearer <key>'."),
                origin,
                method="api_key",
            )
        digest = key_digest(self._secret, plaintext)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > time.monotonic() and (cached[2] is None or cached[2] > utcnow()):
            return cached[0]
        prefix = parse_prefix(plaintext)
        invalid = InvalidApiKey("Invalid API key. Check the key, or ask your administrator for a new one.")
        if prefix is None:
            raise await self._refuse(invalid, origin, method="api_key", details={"malformed": True})
        async with self._db.session() as session:
            key = await repo.key_by_prefix(session, prefix)
            if key is None or not constant_time_equal(key.digest, digest):
                raise await self._refuse(invalid, origin, method="api_key", details={"key_prefix": prefix})
            owner: User | ServiceAccount = key.user if key.user is not None else key.service_account  # type: ignore[assignment]
            kind: Literal["user", "service_account"] = "user" if isinstance(owner, User) else "service_account"
            label = owner.email if isinstance(owner, User) else owner.name
            now = utcnow()
            problem = _key_problem(key, owner, await repo.ancestors(session, key.org_id), now)
            if problem is not None:
                raise await self._refuse(
                    problem,
                    origin,
                    method="api_key",
                    actor=Actor(type=kind, id=owner.id, label=label),
                    org_id=key.org_id,
                    details={"key_prefix": prefix, "key_id": key.id},
                )
            role = Role(owner.role)
            principal = Principal(
                kind=kind,
                id=owner.id,
                label=label,
                org_id=key.org_id,
                role=role,
                scopes=frozenset(Scope(s) for s in key.scopes) & ROLE_SCOPES[role],
                key_id=key.id,
                priority=key.priority or self._default_priority,
                org_slug=key.organisation.slug,
            )
            stale = key.last_used_at is None or now - key.last_used_at >= self._resolution
        if self._cache_seconds:
            if len(self._cache) >= self.MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[digest] = (principal, time.monotonic() + self._cache_seconds, key.expires_at)
        if stale:  # one UPDATE, no read first: never a read-then-write race on SQLite
            async with self._db.session() as session:
                await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
                await session.commit()
        return principal

    async def sign_in_external(self, email: str, org_id: str, method: str, origin: Origin = Origin()) -> Principal:
        """Sign in a user whose identity an organisation's identity provider vouched for (``method``:
        ``oidc``). The account must exist, be active, and belong to that organisation or one below it."""
        async with self._db.session() as session:
            user = await repo.user_by_email(session, email.lower())
            chain = await repo.ancestors(session, user.org_id) if user else []
            belongs = user is not None and org_id in {org.id for org in chain}
            # the refusal is recorded under the provider's organisation: name no account of another one
            actor = Actor(type="user", id=user.id if user and belongs else None, label=email.lower())
            if user is None or not belongs:
                raise await self._refuse(
                    InvalidCredentials("There is no account for this address in the organisation that signed you in."),
                    origin,
                    method=method,
                    actor=actor,
                    org_id=org_id,
                )
            if not user.is_active or not all(org.is_active for org in chain):
                raise await self._refuse(
                    AuthenticationFailed("This account or its organisation is deactivated.", code="account_disabled"),
                    origin,
                    method=method,
                    actor=actor,
                    org_id=user.org_id,
                )
            if user.role == Role.PLATFORM_ADMIN:  # the installation's operators sign in with their password
                raise await self._refuse(
                    AuthenticationFailed(
                        "Platform administrators sign in with their password, not an identity provider.",
                        code="sso_not_for_platform_admins",
                    ),
                    origin,
                    method=method,
                    actor=actor,
                    org_id=user.org_id,
                )
        return await self._signed_in(user, actor, method, origin)

    async def _signed_in(
        self, user: User, actor: Actor, method: str, origin: Origin, password: str | None = None
    ) -> Principal:
        """Record a successful sign-in (and upgrade an outdated password hash)."""
        async with self._db.write_session() as session:
            stored = await session.get(User, user.id)
            assert stored is not None
            stored.last_sign_in_at = utcnow()
            if password and stored.password_hash and passwords.needs_rehash(stored.password_hash):
                stored.password_hash = await anyio.to_thread.run_sync(passwords.hash_password, password)
            await self._audit.append(
                session,
                AuditEvent(
                    action="auth.sign_in",
                    actor=actor,
                    org_id=user.org_id,
                    object_type="user",
                    object_id=user.id,
                    details={"method": method},
                    ip=origin.ip,
                    request_id=origin.request_id,
                ),
            )
            await session.commit()
        role = Role(user.role)
        return Principal(
            kind="user", id=user.id, label=user.email, org_id=user.org_id, role=role, scopes=ROLE_SCOPES[role]
        )

    async def sign_in(self, email: str, password: str, origin: Origin = Origin()) -> Principal:
        """Check a user's password (Argon2id); record the sign-in or its refusal."""
        async with self._db.session() as session:
            user = await repo.user_by_email(session, email.lower())
            ok = await anyio.to_thread.run_sync(
                passwords.verify_password, user.password_hash if user else None, password
            )
            actor = Actor(type="user", id=user.id if user else None, label=email.lower())
            if user is None or not ok:
                raise await self._refuse(
                    InvalidCredentials("Wrong e-mail address or password."),
                    origin,
                    method="password",
                    actor=actor,
                    org_id=user.org_id if user else None,
                )
            chain = await repo.ancestors(session, user.org_id)
            if not user.is_active or not all(org.is_active for org in chain):
                raise await self._refuse(
                    AuthenticationFailed("This account or its organisation is deactivated.", code="account_disabled"),
                    origin,
                    method="password",
                    actor=actor,
                    org_id=user.org_id,
                )
        return await self._signed_in(user, actor, "password", origin, password)
