"""HTTP routes of the workspace API: your saved conversations (list, read, delete). Sending messages is
done in the web workspace; these let a staff member's own tools find and erase what was kept."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.core.components import provider
from soberana.workspace.schemas import ConversationOut, ConversationSummary
from soberana.workspace.service import WorkspaceService

get_workspace = provider(WorkspaceService)


Workspace = Annotated[WorkspaceService, Depends(get_workspace)]
router = APIRouter(prefix="/v1/workspace", tags=["workspace"])


@router.get("/conversations", summary="Your saved conversations, latest first")
async def list_conversations(
    principal: CurrentPrincipal, workspace: Workspace, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> dict[str, object]:
    found = await workspace.list(principal, limit)
    return {"object": "list", "data": [ConversationSummary.model_validate(c) for c in found]}


@router.get("/conversations/{conversation_id}", summary="One of your conversations, with its messages")
async def get_conversation(conversation_id: str, principal: CurrentPrincipal, workspace: Workspace) -> ConversationOut:
    return ConversationOut.model_validate(await workspace.get(principal, conversation_id))


@router.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete one of your conversations (and its placeholders of personal data)",
)
async def delete_conversation(
    conversation_id: str, principal: CurrentPrincipal, workspace: Workspace, origin: OriginDep
) -> Response:
    await workspace.delete(principal, [conversation_id], origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
