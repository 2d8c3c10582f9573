"""What governance needs from other capabilities, as small protocols (the composition root passes the
services that satisfy them, e.g. :class:`soberana.knowledge.service.KnowledgeService`)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class OwnedCollection(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def org_id(self) -> str: ...


class Collections(Protocol):
    async def find_collection(self, session: AsyncSession, collection_id: str) -> OwnedCollection | None:
        """A collection by id, whoever asks (governance checks its organisation against the caller's)."""
