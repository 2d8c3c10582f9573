"""Signed-in browser sessions: a random token in an HttpOnly cookie, its SHA-256 in ``web_sessions``.

Each session carries its own CSRF token (forms send it back in a hidden field, scripts in the
``X-CSRF-Token`` header). Signing out deletes the row, so a copied cookie stops working at once;
deactivating the user or their organisation ends every session at the next request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from soberana.auth import repo
from soberana.auth.models import User, WebSession
from soberana.auth.principal import ROLE_SCOPES, Principal, Role
from soberana.core.clock import utcnow
from soberana.core.crypto import sha256_hex
from soberana.storage.db import Database


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    csrf_token: str
    display_name: str


class SessionStore:
    def __init__(self, db: Database, lifetime: timedelta) -> None:
        self.db = db
        self.lifetime = lifetime

    async def create(self, principal: Principal, ip: str | None) -> tuple[str, str]:
        """A new session for a signed-in user: ``(cookie token, CSRF token)``."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.write_session() as session:
            await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(
                WebSession(
                    id=sha256_hex(token),
                    user_id=principal.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + self.lifetime,
                    ip=ip,
                )
            )
            await session.commit()
        return token, csrf

    async def resolve(self, token: str | None) -> SignedIn | None:
        """Who a session cookie belongs to, if it is valid and its user may still sign in."""
        if not token or len(token) > 128:
            return None
        async with self.db.session() as session:
            row = await session.get(WebSession, sha256_hex(token))
            if row is None or row.expires_at <= utcnow():
                return None
            user = await session.get(User, row.user_id)
            if user is None or not user.is_active:
                return None
            chain = await repo.ancestors(session, user.org_id)
            if not all(org.is_active for org in chain):
                return None
            slug = next((org.slug for org in chain if org.id == user.org_id), None)
        role = Role(user.role)
        principal = Principal(
            kind="user",
            id=user.id,
            label=user.email,
            org_id=user.org_id,
            role=role,
            scopes=ROLE_SCOPES[role],
            org_slug=slug,
        )
        return SignedIn(principal, row.csrf_token, user.display_name)

    async def end(self, token: str | None) -> None:
        if token:
            async with self.db.write_session() as session:
                await session.execute(delete(WebSession).where(WebSession.id == sha256_hex(token)))
                await session.commit()
