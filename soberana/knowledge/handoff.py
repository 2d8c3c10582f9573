"""The staff hand-off queue: citizens who asked to talk to a person, and the staff's replies.

Staff with the ``knowledge`` scope see the cases of their organisations (and those below), a page at
a time, and reply; a reply appears in the citizen's conversation.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import Conflict, NotFound, require_id
from soberana.knowledge import repo
from soberana.knowledge.models import Conversation, HandoffCase, Message
from soberana.knowledge.schemas import StaffReplyIn
from soberana.storage.db import commit_or_conflict

QUEUE = "The hand-off queue"


class HandoffQueue:
    def __init__(self, admin: AdminService) -> None:
        self.admin = admin

    async def list_cases(
        self,
        session: AsyncSession,
        principal: Principal,
        status: str | None,
        *,
        limit: int = 50,
        after: str | None = None,
    ) -> tuple[list[HandoffCase], bool]:
        """A page of the cases of the caller's organisations, oldest first, and whether more follow."""
        principal.require(Scope.KNOWLEDGE, QUEUE)
        if after:
            require_id(after, "case", "hand-off case", param="after")
        visible = await self.admin.visible_org_ids(session, principal)
        return await repo.handoff_cases(session, visible, status, limit=limit, after=after)

    async def get_case(
        self, session: AsyncSession, principal: Principal, case_id: str
    ) -> tuple[HandoffCase, Conversation, list[Message]]:
        principal.require(Scope.KNOWLEDGE, QUEUE)
        require_id(case_id, "case", "hand-off case")
        case = await session.get(HandoffCase, case_id)
        visible = await self.admin.visible_org_ids(session, principal)
        if case is None or (visible is not None and case.org_id not in visible):
            raise NotFound(f"No hand-off case {case_id!r}.")
        conversation = await session.get(Conversation, case.conversation_id)
        assert conversation is not None
        return case, conversation, await repo.messages(session, conversation.id)

    async def reply(
        self, session: AsyncSession, principal: Principal, case_id: str, body: StaffReplyIn, origin: Origin
    ) -> tuple[HandoffCase, Message]:
        """A staff member's reply: it appears in the citizen's conversation."""
        case, conversation, _ = await self.get_case(session, principal, case_id)
        if case.status == "closed":
            raise Conflict("This case is closed.")
        message = Message(
            id=new_id("msg"), conversation_id=conversation.id, role="staff", content=body.message, created_at=utcnow()
        )
        session.add(message)
        case.assignee_id = principal.id
        case.status = "closed" if body.close else "assigned"
        conversation.last_activity_at = utcnow()
        await self.admin.record_change(
            session,
            principal,
            origin,
            action="knowledge.handoff.replied",
            org_id=case.org_id,
            object_type="case",
            object_id=case.id,
            details={"closed": body.close},
        )
        await commit_or_conflict(session)
        return case, message
