"""Authentication: API keys, passwords and identity providers turned into a :class:`Principal`.

Refusals are recorded in the audit log (``audit_refused_authentication``).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Literal

import anyio
from sqlalchemy import update

from soberana.audit.schemas import ANONYMOUS, Actor, AuditEvent
from soberana.audit.service import AuditLog
from soberana.auth import passwords, repo
from soberana.auth.keys import key_digest, parse_prefix
from soberana.auth.models import ApiKey, Organisation, ServiceAccount, User
from soberana.auth.principal import ROLE_SCOPES, Origin, Principal, Role, Scope
from soberana.auth.refusals import RefusalGroup, RefusalLog
from soberana.core.clock import utcnow
from soberana.core.crypto import constant_time_equal
from soberana.errors import (
    AuthenticationFailed,
    ExpiredApiKey,
    InvalidApiKey,
    InvalidCredentials,
    MissingCredentials,
    RateLimited,
    RevokedApiKey,
    SoberanaError,
)
from soberana.settings import Settings
from soberana.storage.counters import Counters
from soberana.storage.db import Database
from soberana.storage.limits import RateLimiter


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
    """Turns credentials into a :class:`Principal`; refusals go to the audit log, aggregated
    (:class:`~soberana.auth.refusals.RefusalLog`), and are limited per client address."""

    MAX_CACHED_KEYS = 10_000

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        counters: Counters,
        *,
        secret: bytes,
        last_used_resolution_seconds: int,
        record_refusals: bool,
        refusals_per_minute: int,
        sign_in_attempts_per_minute: int,
        cache_seconds: float = 0.0,
        default_priority: str = "interactive",
    ) -> None:
        self._db = db
        self._audit = audit
        self._secret = secret
        self._resolution = timedelta(seconds=last_used_resolution_seconds)
        self._cache_seconds = cache_seconds
        self._default_priority = default_priority
        # HMAC digest of a key -> (principal, remembered until [monotonic], key expiry)
        self._cache: dict[str, tuple[Principal, float, datetime | None]] = {}
        self.refusals = RefusalLog(db, audit, enabled=record_refusals)
        self._refusal_limit = RateLimiter(
            counters,
            "auth-refusals",
            refusals_per_minute,
            "Too many refused authentications from this address; wait a minute before trying again.",
        )
        self._sign_in_limit = RateLimiter(
            counters, "sign-in", sign_in_attempts_per_minute, "Too many sign-in attempts. Wait a minute and try again."
        )

    def forget(self) -> None:
        """Drop every remembered key (called after any change to keys, users or organisations)."""
        self._cache.clear()

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, audit: AuditLog, counters: Counters) -> Authenticator:
        return cls(
            db,
            audit,
            counters,
            secret=settings.secret_key_bytes,
            last_used_resolution_seconds=settings.api_key_last_used_resolution_seconds,
            record_refusals=settings.audit_refused_authentication,
            refusals_per_minute=settings.auth_refusals_per_minute,
            sign_in_attempts_per_minute=settings.sign_in_attempts_per_minute,
            cache_seconds=settings.auth_cache_seconds,
            default_priority=settings.default_priority,
        )

    async def start(self) -> None:
        await self.refusals.start()

    async def stop(self) -> None:
        await self.refusals.stop()

    async def _refuse(
        self,
        error: AuthenticationFailed,
        origin: Origin,
        *,
        method: str,
        actor: Actor = ANONYMOUS,
        org_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> SoberanaError:
        """What to raise for a refused authentication: ``error``, or 429 once the client's address has
        been refused too often this minute. Either way the refusal is counted in the audit log."""
        details = details or {}
        group = RefusalGroup(
            action="auth.refused" if method == "api_key" else "auth.sign_in",
            method=method,
            reason=error.code,
            ip=origin.ip,
            subject=details.get("key_prefix") or actor.label,
            org_id=org_id,
            actor=actor,
        )
        try:
            await self._refusal_limit.hit(origin.ip)
        except RateLimited as limited:
            await self.refusals.record(group, details, origin.request_id, write_now=False)
            return limited
        await self.refusals.record(group, details, origin.request_id)
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
        """Check a user's password (Argon2id); record the sign-in or its refusal. At most
        ``sign_in_attempts_per_minute`` attempts per client address and per account name."""
        await self._sign_in_limit.hit(f"ip:{origin.ip}", f"account:{email.strip().lower()}")
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
