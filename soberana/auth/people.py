"""Administration of people (users) and service accounts."""

from __future__ import annotations

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth import passwords, repo
from soberana.auth.models import Organisation, ServiceAccount, User
from soberana.auth.principal import Origin, Principal, Role, Scope
from soberana.auth.schemas import ServiceAccountCreate, ServiceAccountUpdate, UserCreate, UserOut, UserUpdate
from soberana.auth.tenancy import TenantScope, changes
from soberana.core.ids import new_id
from soberana.errors import Conflict, InvalidRequest, NotFound, PermissionDenied


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


class PeopleAdmin(TenantScope):
    """Users and service accounts within the caller's scope."""

    async def list_users(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        org_id: str | None = None,
    ) -> tuple[list[User], bool]:
        principal.require(Scope.ADMIN)
        return await self._page(session, principal, User, limit=limit, after=after, org_id=org_id)

    async def get_user(self, session: AsyncSession, principal: Principal, user_id: str) -> User:
        principal.require(Scope.ADMIN)
        return await self._get(session, principal, User, user_id)

    async def user_by_email(self, session: AsyncSession, principal: Principal, email: str) -> User:
        principal.require(Scope.ADMIN)
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
        principal.require(Scope.ADMIN)
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
        await self._add(session, user, f"A user with e-mail {email!r} already exists.")
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
        principal.require(Scope.ADMIN)
        user = await self._get(session, principal, User, user_id)
        if Role(user.role) is Role.PLATFORM_ADMIN and not principal.is_platform_admin:
            raise PermissionDenied("Only platform administrators can change a platform administrator.")
        if user.id == principal.id and (data.role is not None or data.is_active is False):
            raise PermissionDenied("You cannot change your own role or deactivate yourself.")
        if data.role is not None:
            self._check_role_grant(principal, data.role)
        if data.password is not None and user.password_hash is not None and not principal.is_platform_admin:
            # whoever sets a password can sign in as the person and read their saved conversations
            raise PermissionDenied(
                "A person's password is changed by that person (on their account page). An "
                "administrator sets one only for an account that has none; a platform administrator may "
                "reset it, which is recorded.",
                code="password_is_personal",
                param="password",
            )
        updates = data.model_dump(exclude_none=True, exclude={"password"})
        changed = changes(user, updates)
        details: dict[str, int] = {}
        if data.password is not None:
            user.password_hash = await anyio.to_thread.run_sync(passwords.hash_password, data.password)
            changed["password"] = {"from": "****", "to": "****"}
            # whoever knew the old password may be signed in with it: every browser signs in again
            details["sessions_ended"] = await repo.end_sessions(session, user.id)
        if changed:
            await self._record(session, principal, origin, "user.update", user, {"changes": changed, **details})
            await self._commit(session)
        return user

    async def change_own_password(
        self, session: AsyncSession, principal: Principal, current: str, new: str, origin: Origin = Origin()
    ) -> int:
        """A signed-in person changes their password (the current one proves it is them); their other
        sessions end. Returns how many ended."""
        if principal.kind != "user":
            raise PermissionDenied("Only people have a password.")
        user = await session.get(User, principal.id)
        if user is None or not await anyio.to_thread.run_sync(passwords.verify_password, user.password_hash, current):
            raise InvalidRequest("The current password is not right.", param="current_password", code="wrong_password")
        try:
            user.password_hash = await anyio.to_thread.run_sync(passwords.hash_password, new)
        except ValueError as exc:
            raise InvalidRequest(f"The new password is too short: {exc}.", param="new_password") from None
        ended = await repo.end_sessions(session, user.id)
        changed = {"password": {"from": "****", "to": "****"}}
        await self._record(session, principal, origin, "user.password_changed", user, {"changes": changed})
        await self._commit(session)
        return ended

    async def list_service_accounts(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int = 100,
        after: str | None = None,
        org_id: str | None = None,
    ) -> tuple[list[ServiceAccount], bool]:
        principal.require(Scope.ADMIN)
        return await self._page(session, principal, ServiceAccount, limit=limit, after=after, org_id=org_id)

    async def get_service_account(self, session: AsyncSession, principal: Principal, sa_id: str) -> ServiceAccount:
        principal.require(Scope.ADMIN)
        return await self._get(session, principal, ServiceAccount, sa_id)

    async def service_account_by_name(
        self, session: AsyncSession, principal: Principal, org_id: str, name: str
    ) -> ServiceAccount | None:
        principal.require(Scope.ADMIN)
        await self._get(session, principal, Organisation, org_id)
        return await repo.service_account_by_name(session, org_id, name)

    async def create_service_account(
        self, session: AsyncSession, principal: Principal, data: ServiceAccountCreate, origin: Origin = Origin()
    ) -> ServiceAccount:
        principal.require(Scope.ADMIN)
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
        await self._add(session, account, message)
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
        principal.require(Scope.ADMIN)
        account = await self._get(session, principal, ServiceAccount, sa_id)
        changed = changes(account, data.model_dump(exclude_none=True))
        if changed:
            await self._record(session, principal, origin, "service_account.update", account, {"changes": changed})
            await self._commit(session)
        return account
