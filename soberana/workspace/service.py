"""Saved staff conversations: each belongs to the staff member who had it and is seen by no one else
(not by administrators either); deleted on request (with its placeholders of personal data) or when
the retention period has passed since it last changed.

A message is sent through the gateway like any model call (routed, limited, metered, protected); the
conversation is saved only when the model has answered, so a failed call changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound, PermissionDenied, require_id
from soberana.privacy.retention import delete_in_batches
from soberana.privacy.schemas import PolicyDocument
from soberana.privacy.service import PrivacyService
from soberana.settings import Settings
from soberana.storage.db import Database
from soberana.workspace import repo
from soberana.workspace.models import WorkspaceConversation
from soberana.workspace.ports import Conversing

MAX_CONTEXT_TURNS = 40  # the latest turns sent to the model with a new message
MAX_SAVED_TURNS = 400
TITLE_CHARS = 80


def title_of(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


class WorkspaceService:
    def __init__(self, db: Database, admin: AdminService, models: Conversing, privacy: PrivacyService) -> None:
        self.db = db
        self.admin = admin
        self.models = models
        self.privacy = privacy

    @staticmethod
    def _owner(principal: Principal) -> str:
        if principal.kind != "user" or principal.org_id is None:
            raise PermissionDenied("Saved conversations belong to signed-in staff members.")
        principal.require(Scope.INFERENCE, "Conversations with models")
        return principal.id

    async def _own(self, session: AsyncSession, principal: Principal, conversation_id: str) -> WorkspaceConversation:
        owner = self._owner(principal)
        require_id(conversation_id, "wsc", "conversation")
        found = await session.get(WorkspaceConversation, conversation_id)
        if found is None or found.user_id != owner:  # another person's conversation does not exist for you
            raise NotFound(f"No conversation {conversation_id!r}.")
        return found

    async def list(self, principal: Principal, limit: int = 50) -> list[WorkspaceConversation]:
        owner = self._owner(principal)
        async with self.db.session() as session:
            return await repo.conversations(session, owner, limit)

    async def get(self, principal: Principal, conversation_id: str) -> WorkspaceConversation:
        async with self.db.session() as session:
            return await self._own(session, principal, conversation_id)

    async def send(
        self,
        principal: Principal,
        conversation_id: str | None,
        message: str,
        model: str,
        classification: str | None,
        request_id: str | None = None,
    ) -> WorkspaceConversation:
        """Send ``message`` in a conversation (a new one when ``conversation_id`` is None) and save the
        answer. Raises the gateway's error (quota, classification not permitted…) without saving."""
        owner = self._owner(principal)
        text = message.strip()
        if not text:
            raise InvalidRequest("Write a message first.", param="message")
        floors: list[str] = []
        if conversation_id:
            current = await self.get(principal, conversation_id)
            turns, cid = list(current.turns), current.id
            if current.classification:
                # the earlier turns go with the message: never to a model below their classification
                floors.append(current.classification)
        else:
            turns, cid = [], new_id("wsc")
        if len(turns) >= MAX_SAVED_TURNS:
            raise InvalidRequest("This conversation is full; start a new one.", param="message")
        context = [{"role": t["role"], "content": t["content"]} for t in turns[-MAX_CONTEXT_TURNS:]]
        reply = await self.models.converse(
            principal,
            model,
            [*context, {"role": "user", "content": text}],
            classification=classification,
            conversation=cid,
            request_id=request_id,
            floors=floors,
        )
        added = [
            {"role": "user", "content": text, "pii": reply.pii, "deployment": ""},
            {"role": "assistant", "content": reply.text, "pii": "", "deployment": reply.deployment},
        ]
        async with self.db.write_session() as session:
            # Read again under a lock: another tab may have added turns meanwhile (they are kept), and
            # a conversation deleted during the call stays deleted.
            row = await session.get(WorkspaceConversation, cid, with_for_update=True, populate_existing=True)
            if row is None and conversation_id:
                raise NotFound(f"No conversation {cid!r}; it was deleted meanwhile.")
            if row is None:
                assert principal.org_id is not None
                row = WorkspaceConversation(
                    id=cid, org_id=principal.org_id, user_id=owner, title=title_of(text), turns=[]
                )
                session.add(row)
            elif row.user_id != owner:
                raise NotFound(f"No conversation {cid!r}.")
            row.turns = [*row.turns, *added]
            row.model, row.updated_at = model, utcnow()
            row.classification = reply.classification or classification or row.classification
            await session.commit()
            return row

    async def delete(self, principal: Principal, conversation_ids: Sequence[str], origin: Origin) -> int:
        """Delete your conversations and forget their placeholders of personal data (audit-logged,
        without their content)."""
        async with self.db.write_session() as session:
            rows = [await self._own(session, principal, cid) for cid in dict.fromkeys(conversation_ids)]
            if not rows:
                return 0
            await repo.delete_conversations(session, [r.id for r in rows])
            for row in rows:
                await self.privacy.erase_conversation(session, row.org_id, row.user_id, row.id)
                await self.admin.record_change(
                    session,
                    principal,
                    origin,
                    action="workspace.conversation.deleted",
                    org_id=row.org_id,
                    object_type="workspace_conversation",
                    object_id=row.id,
                )
            await session.commit()
        return len(rows)


class WorkspaceRetention:
    """Deletes staff conversations the retention period after they last changed; registered with
    :class:`~soberana.privacy.service.PrivacyService`'s purge job."""

    kind = "workspace_conversations"

    def default_days(self, settings: Settings) -> float | None:
        return settings.workspace_retention_days

    def org_days(self, document: PolicyDocument) -> float | None:
        return document.retention.workspace_days

    async def purge(
        self, session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
    ) -> dict[str, int]:
        rows = await repo.before(session, default_cutoff, cutoffs)
        return await delete_in_batches(rows, lambda ids: repo.delete_conversations(session, ids))
