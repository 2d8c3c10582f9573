"""The staff workspace's chat: the models the organisation may use, where each runs, and what data
protection did to every message ("personal data protected").

The conversation is kept in the page itself (a hidden field sent back with each message), not on
the server: nothing a civil servant types is stored by the chat. Placeholders of personal data stay
stable for the whole conversation (``X-Soberana-Conversation``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from soberana.errors import SoberanaError
from soberana.gateway.service import GatewayService
from soberana.web.ui import Page, PageContext

router = APIRouter(include_in_schema=False)
MAX_TURNS = 40


def _models(request: Request) -> list[dict[str, Any]]:
    gateway: GatewayService = request.app.state.gateway
    return [
        {"alias": e.alias, "sovereignty": sorted({d.config.sovereignty for d in e.deployments}), "label": e.description}
        for e in gateway.catalog.entries()
        if e.serves("chat")
    ]


def _sovereignty_label(page: PageContext, value: str) -> str:
    _ = page.t.gettext
    return {
        "on_premises": _("on the administration's own servers"),
        "national_cloud": _("in a national cloud"),
        "foreign_cloud": _("in a foreign cloud"),
    }.get(value, value)


def _render(request: Request, page: PageContext, **context: Any) -> Response:
    privacy = request.app.state.privacy
    levels = privacy.book.levels
    return page.render(
        "staff_chat.html",
        section="chat",
        models=_models(request),
        levels=levels,
        default_level=privacy.resolve(page.principal).classification,
        sovereignty_label=lambda value: _sovereignty_label(page, value),
        protected_counts=protected_counts,
        **context,
    )


@router.get("/staff/chat")
async def chat_page(request: Request, page: Page) -> Response:
    page.principal  # noqa: B018 - signed-in staff only
    return _render(request, page, turns=[], conversation=f"chat-{secrets.token_urlsafe(12)}", model=None, level=None)


@router.post("/staff/chat")
async def chat(
    request: Request,
    page: Page,
    message: Annotated[str, Form(max_length=20_000)] = "",
    model: Annotated[str, Form(max_length=200)] = "",
    classification: Annotated[str, Form(max_length=40)] = "",
    history: Annotated[str, Form(max_length=400_000)] = "[]",
    conversation: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page.check_form(csrf_token)
    principal = page.principal
    try:
        sent = orjson.loads(history)
    except orjson.JSONDecodeError:
        sent = []
    turns = [
        {k: str(t.get(k, "")) for k in ("role", "content", "pii", "deployment")}
        for t in (sent if isinstance(sent, list) else [])
        if isinstance(t, dict) and t.get("role") in ("user", "assistant")  # never a system or tool message
    ][-MAX_TURNS:]
    if not conversation.startswith("chat-"):
        conversation = f"chat-{secrets.token_urlsafe(12)}"
    error = None
    if not message.strip():
        error = page.t.gettext("Write a message first.")
    else:
        turns.append({"role": "user", "content": message.strip(), "pii": "", "deployment": ""})
        body = {"model": model, "messages": [{"role": t["role"], "content": t["content"]} for t in turns]}
        gateway: GatewayService = request.app.state.gateway
        try:
            result, headers = await gateway.complete(
                principal,
                body,
                endpoint="chat",
                request_id=getattr(request.state, "request_id", None),
                classification=classification or None,
                conversation=conversation,
            )
        except SoberanaError as failure:
            error = failure.message
            turns.pop()
        else:
            choice = (orjson.loads(result.body).get("choices") or [{}])[0]
            answer = str((choice.get("message") or {}).get("content") or "")
            pii = headers.get("x-soberana-pii", "")
            if turns:
                turns[-1]["pii"] = pii  # what was done to the personal data of this message
            turns.append(
                {"role": "assistant", "content": answer, "pii": "", "deployment": headers["x-soberana-deployment"]}
            )
    return _render(
        request,
        page,
        turns=turns,
        history=orjson.dumps(turns).decode(),
        conversation=conversation,
        model=model,
        level=classification or None,
        error=error,
    )


def protected_counts(pii: str) -> list[tuple[str, str]]:
    """``pseudonymised; PERSON=2,ID_NUMBER=1`` → ``[("PERSON", "2"), ("ID_NUMBER", "1")]``."""
    _, _, counts = pii.partition("; ")
    return [tuple(c.split("=", 1)) for c in counts.split(",") if "=" in c]  # type: ignore[misc]
