"""The staff workspace's chat: the models the organisation may use, where each runs, what data
protection did to every message ("personal data protected"), and the staff member's saved
conversations (reopen, delete).

Conversations are kept by :class:`soberana.workspace.service.WorkspaceService`, seen only by the
person who had them, and deleted on request or after the retention period. Placeholders of personal
data stay stable for a whole conversation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from soberana.auth.deps import get_origin
from soberana.auth.principal import Principal
from soberana.errors import InvalidRequest, SoberanaError, TrainingRequired
from soberana.web.training import required_course
from soberana.web.ui import Page, PageContext, get_services
from soberana.workspace.models import WorkspaceConversation
from soberana.workspace.service import WorkspaceService

router = APIRouter(include_in_schema=False)


def _workspace(request: Request) -> WorkspaceService:
    return get_services(request).workspace


def _models(request: Request, principal: Principal) -> list[dict[str, Any]]:
    """The chat models this person's organisation allows, with where each may run for them.

    A conversation is never below the organisation's default classification, so a model none of whose
    deployments may receive data of that level is left out; of the others, only the places that may
    receive it are shown (the gateway routes to those alone)."""
    gateway = get_services(request).gateway_service
    allowed = get_services(request).privacy.resolve(principal)
    models = []
    for entry in gateway.catalog.entries():
        places = sorted({d.config.sovereignty for d in entry.deployments if allowed.allows(d.config.sovereignty)})
        if entry.serves("chat") and places:
            models.append({"alias": entry.alias, "sovereignty": places, "label": entry.description})
    return models


def sovereignty_label(page: PageContext, value: str) -> str:
    _ = page.t.gettext
    return {
        "on_premises": _("on the administration's own servers"),
        "national_cloud": _("in a national cloud"),
        "foreign_cloud": _("in a foreign cloud"),
    }.get(value, value)


async def _render(
    request: Request,
    page: PageContext,
    current: WorkspaceConversation | None,
    *,
    model: str | None = None,
    level: str | None = None,
    draft: str = "",
    error: str | None = None,
    training: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    privacy = get_services(request).privacy
    principal = page.principal
    if training is None and error is None:  # say so before anything is typed
        training = await _training_required(request, page)
    return page.render(
        "staff_chat.html",
        status_code=status_code,
        section="chat",
        models=_models(request, principal),
        levels=privacy.book.levels,
        default_level=privacy.resolve(principal).classification,
        sovereignty_label=lambda value: sovereignty_label(page, value),
        protected_counts=protected_counts,
        history=await _workspace(request).list(principal),
        current=current,
        turns=current.turns if current else [],
        model=model or (current.model if current else None),
        level=level or (current.classification if current else None),
        draft=draft,
        error=error,
        training=training,
        retention_days=privacy.retention_days(principal.org_id or "", "workspace_conversations"),
    )


@router.get("/staff/chat")
async def chat_page(request: Request, page: Page, c: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """A new conversation, or a saved one (``?c=wsc_…``)."""
    current = await _workspace(request).get(page.principal, c) if c else None
    return await _render(request, page, current)


@router.post("/staff/chat")
async def chat(
    request: Request,
    page: Page,
    message: Annotated[str, Form(max_length=20_000)] = "",
    model: Annotated[str, Form(max_length=200)] = "",
    classification: Annotated[str, Form(max_length=40)] = "",
    conversation: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page.check_form(csrf_token)
    workspace = _workspace(request)
    try:
        if not message.strip():
            raise InvalidRequest(page.t.gettext("Write a message first."), param="message")
        saved = await workspace.send(
            page.principal,
            conversation or None,
            message,
            model,
            classification or None,
            getattr(request.state, "request_id", None),
        )
    except SoberanaError as failure:  # nothing is saved; the message stays in the box
        current = await workspace.get(page.principal, conversation) if conversation else None
        required = failure.code == "training_required"
        return await _render(
            request,
            page,
            current,
            model=model,
            level=classification or None,
            draft=message,
            error=None if required else failure.message,
            training=required_course(page, get_services(request).training, failure) if required else None,
            status_code=failure.status_code,
        )
    return page.redirect(f"/staff/chat?c={saved.id}#latest")


@router.post("/staff/chat/delete")
async def delete(
    request: Request,
    page: Page,
    conversation: Annotated[list[str] | None, Form()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Delete saved conversations (and their placeholders of personal data)."""
    page.check_form(csrf_token)
    deleted = await _workspace(request).delete(page.principal, (conversation or [])[:200], get_origin(request))
    return page.redirect(f"/staff/chat?deleted={deleted}")


async def _training_required(request: Request, page: PageContext) -> dict[str, str] | None:
    """The course the gateway would ask this person to complete before a model call (None: none)."""
    training = get_services(request).training
    try:
        await training.check(page.principal)
    except TrainingRequired as refusal:
        return required_course(page, training, refusal)
    return None


def protected_counts(pii: str) -> list[tuple[str, str]]:
    """``pseudonymised; PERSON=2,ID_NUMBER=1`` → ``[("PERSON", "2"), ("ID_NUMBER", "1")]``."""
    _, _, counts = pii.partition("; ")
    return [tuple(c.split("=", 1)) for c in counts.split(",") if "=" in c]  # type: ignore[misc]
