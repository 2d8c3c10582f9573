"""The pseudonym vault: each conversation's placeholders and their values, encrypted, with a time to live.

Values are sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the server secret; the
associated data binds each value to its conversation scope and placeholder, so a row copied to
another conversation does not decrypt. A scope is a digest of (organisation, owner, conversation id):
nobody else's request can reach a conversation's values, even with the same conversation id.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.core.clock import utcnow
from soberana.core.crypto import sha256_hex
from soberana.core.ids import new_id
from soberana.privacy.models import VaultEntry
from soberana.privacy.pseudonyms import PseudonymMap

NONCE_BYTES = 12
logger = logging.getLogger("soberana.privacy")


def scope_of(org_id: str, owner: str, conversation: str) -> str:
    return sha256_hex(f"{org_id}\x1f{owner}\x1f{conversation}")


class Vault:
    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"soberana pseudonym vault v1").derive(secret)
        self._aead = AESGCM(key)

    def _seal(self, scope: str, placeholder: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode("utf-8"), f"{scope}|{placeholder}".encode())

    def _open(self, scope: str, placeholder: str, sealed: bytes) -> str:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        return self._aead.decrypt(nonce, body, f"{scope}|{placeholder}".encode()).decode("utf-8")

    async def load(self, session: AsyncSession, scope: str, now: datetime | None = None) -> PseudonymMap:
        """A conversation's mapping (empty when it expired: its numbering then starts again).

        Expired rows are deleted here rather than left for the purge job, so that new placeholders never
        collide with old ones; rows sealed under another server secret are forgotten the same way.
        """
        await session.execute(
            delete(VaultEntry).where(VaultEntry.scope == scope, VaultEntry.expires_at <= (now or utcnow()))
        )
        rows = (await session.scalars(select(VaultEntry).where(VaultEntry.scope == scope))).all()
        try:
            entries = [(r.placeholder, r.label, self._open(scope, r.placeholder, r.ciphertext)) for r in rows]
        except InvalidTag:
            logger.warning("a conversation's placeholders were sealed under another secret key: starting afresh")
            await session.execute(delete(VaultEntry).where(VaultEntry.scope == scope))
            entries = []
        return PseudonymMap.from_entries(entries)

    async def save(self, session: AsyncSession, org_id: str, scope: str, mapping: PseudonymMap, ttl: timedelta) -> None:
        """Store the placeholders new in ``mapping`` and extend the conversation's time to live."""
        now = utcnow()
        for placeholder, label, value in mapping.added:
            session.add(
                VaultEntry(
                    id=new_id("vlt"),
                    org_id=org_id,
                    scope=scope,
                    placeholder=placeholder,
                    label=label,
                    ciphertext=self._seal(scope, placeholder, value),
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        await session.flush()
        for row in (await session.scalars(select(VaultEntry).where(VaultEntry.scope == scope))).all():
            row.expires_at = now + ttl
        mapping.added.clear()

    @staticmethod
    async def erase(session: AsyncSession, scope: str) -> int:
        result = await session.execute(delete(VaultEntry).where(VaultEntry.scope == scope))
        return int(getattr(result, "rowcount", 0) or 0)

    @staticmethod
    async def purge(session: AsyncSession, now: datetime) -> dict[str, int]:
        """Delete every entry past its time to live (set from its organisation's vault period).

        Returns how many were deleted per organisation.
        """
        expired = (
            await session.execute(select(VaultEntry.id, VaultEntry.org_id).where(VaultEntry.expires_at <= now))
        ).all()
        deleted: dict[str, int] = {}
        for _, org_id in expired:
            deleted[org_id] = deleted.get(org_id, 0) + 1
        ids = [row_id for row_id, _ in expired]
        for start in range(0, len(ids), 500):
            await session.execute(delete(VaultEntry).where(VaultEntry.id.in_(ids[start : start + 500])))
        return deleted
