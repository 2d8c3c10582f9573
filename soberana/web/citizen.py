"""The citizen assistant: ``/ask/{organisation}/{collection}`` (or ``/ask/{collection}``), a page that
works with or without JavaScript.

Without JavaScript the question is a form post and the page comes back with the answer. With it, the
answer streams in (``…/stream``, Server-Sent Events) as it is written out. A conversation lives in a
cookie scoped to the assistant's path (``id.token``); the citizen can end and erase it at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse

from soberana.auth.deps import get_origin
from soberana.core import sse
from soberana.core.aio import closing_stream
from soberana.errors import AuthenticationFailed, InvalidRequest, NotFound, SoberanaError
from soberana.knowledge.citizens import Answered, CitizenAssistant
from soberana.knowledge.schemas import FeedbackIn, HandoffIn
from soberana.web.i18n import LANGUAGES, N_, Translator
from soberana.web.security import partition_last_cookie, secure_cookies
from soberana.web.ui import Page, PageContext, get_services

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)
CONVERSATION_COOKIE = "soberana_conversation"


class Current(NamedTuple):
    """The visitor's conversation with an assistant: its id, its token, and how long it is kept."""

    conversation_id: str
    token: str
    max_age: int


Slug = Annotated[str, "path"]


def _citizens(request: Request) -> CitizenAssistant:
    return get_services(request).citizens


def _path(org: str, name: str) -> str:
    return f"/ask/{org}/{name}"


def _allow_framing(request: Request, collection: Any) -> None:
    """Inside the widget, this page (and its error pages) may be framed by the collection's sites."""
    page: PageContext | None = getattr(request.state, "page", None)
    if page is not None and page.embedded:
        page.frame_ancestors = list(collection.widget_origins)


def _embedded(request: Request) -> bool:
    return request.query_params.get("embed") == "1"


def _back(request: Request, org: str, name: str, query: str = "", fragment: str = "") -> str:
    """Where a form post returns to: the assistant's page (still embedded, if it was)."""
    embedded = f"embed=1&lang={request.query_params.get('lang', '')}" if _embedded(request) else ""
    params = [p for p in (embedded, query) if p]
    return _path(org, name) + ("?" + "&".join(params) if params else "") + (f"#{fragment}" if fragment else "")


def _conversation(request: Request) -> tuple[str, str] | None:
    value = request.cookies.get(CONVERSATION_COOKIE, "")
    conversation_id, _, token = value.partition(".")
    return (conversation_id, token) if conversation_id.startswith("conv_") and token else None


def _remember(response: Response, page: PageContext, org: str, name: str, current: Current) -> None:
    """The conversation's cookie, kept as long as the organisation keeps the conversation."""
    conversation_id, token, max_age = current
    response.set_cookie(
        CONVERSATION_COOKIE,
        f"{conversation_id}.{token}",
        path=_path(org, name),
        httponly=True,
        samesite=page.cookie_samesite,
        secure=secure_cookies(page.settings),
        max_age=max_age,
    )
    if page.cookie_samesite == "none":
        partition_last_cookie(response)  # inside the widget: kept even where third-party cookies are blocked


def _labels(page: PageContext) -> dict[str, str]:
    _ = page.t.gettext
    return {
        "you": _("You"),
        "assistant": _("Assistant"),
        "staff": _("Staff member"),
        "sources": _("Sources"),
        "searching": _("Searching the official pages…"),
        "answered": _("The answer is ready."),
        "failed": _("The answer could not be loaded. Send the question again, or reload the page."),
        "new_tab": _("(opens in a new tab)"),
    }


def _mode_label(page: PageContext, mode: str | None) -> str | None:
    _ = page.t.gettext
    # extractive answers say themselves that they are excerpts; abstentions need no label
    return _("Answer written by an AI model from the official pages:") if mode == "generated" else None


async def _state(request: Request, page: PageContext, org: str, name: str) -> dict[str, Any]:
    citizens = _citizens(request)
    collection, org_name = await citizens.public_assistant(f"{org}/{name}")
    messages: list[Any] = []
    case = None
    rated: set[str] = set()
    remembered = _conversation(request)
    if remembered is not None:
        try:
            conversation, messages, case = await citizens.transcript(*remembered, get_origin(request))
            rated = await citizens.rated(*remembered)
            if conversation.collection_id != collection.id:
                messages, case, rated = [], None, set()
        except (NotFound, AuthenticationFailed, InvalidRequest):  # expired, or a cookie that is not ours
            messages, case = [], None
    return {
        "collection": collection,
        "org_name": org_name,
        "messages": messages,
        "rated": rated,
        "case": case,
        "follow_seconds": page.settings.web_handoff_poll_seconds,
        "path": _path(org, name),
        "labels": _labels(page),
        "mode_label": lambda mode: _mode_label(page, mode),
    }


@router.get("/ask/{org}/{name}")
async def ask_page(org: str, name: str, request: Request, page: Page) -> Response:
    state = await _state(request, page, org, name)
    _allow_framing(request, state["collection"])  # inside the widget: only on the sites the collection names
    return page.render("ask.html", section="ask", **state)


@router.get("/ask/{collection}")
async def ask_by_collection(collection: str, request: Request, page: Page) -> Response:
    """``/ask/{collection}``: a public assistant by its collection's id, or by its name alone.

    One match goes to the assistant's page (``/ask/{organisation}/{collection}``, the address that
    stays unique when several organisations share an installation), keeping the query (language,
    ``embed``). Where organisations publish collections of the same name, the visitor chooses.
    """
    found = [
        (published, slug, org_name)
        for published, slug, org_name in await _citizens(request).public_assistants()
        if collection in (published.id, published.name)
    ]
    if not found:
        raise NotFound(
            page.t.gettext("No public assistant is called %(name)s.") % {"name": collection}, param="collection"
        )
    if len(found) == 1:
        published, slug, _ = found[0]
        query = request.url.query
        return page.redirect(_path(slug, published.name) + (f"?{query}" if query else ""))
    return page.render("ask_choose.html", section="ask", assistants=found)


WIDGET_LABELS = (N_("Ask the assistant"), N_("Close the assistant"))


@cache
def widget_script() -> bytes:
    """``static/widget.js`` with its labels in every interface language, from the message catalogues."""
    source = (Path(__file__).parent / "static" / "widget.js").read_text(encoding="utf-8")
    labels = {code: [Translator(code).gettext(label) for label in WIDGET_LABELS] for code in LANGUAGES}
    stored = 'var labels = {"en": ["Ask the assistant", "Close the assistant"]};'
    if stored not in source:  # the script and this function are changed together
        raise RuntimeError("static/widget.js no longer holds the labels where they are filled in")
    return source.replace(stored, f"var labels = {orjson.dumps(labels).decode()};").encode()


@router.get("/widget.js")
async def widget() -> Response:
    """The script an agency adds to its own site to embed a public assistant (see docs/web.md)."""
    return Response(
        widget_script(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )


async def _current(request: Request, org: str, name: str) -> Current:
    """The visitor's conversation with this assistant, opened now if there is none (or it expired)."""
    citizens = _citizens(request)
    remembered = _conversation(request)
    collection, _ = await citizens.public_assistant(f"{org}/{name}")
    _allow_framing(request, collection)
    if remembered is not None:
        try:
            conversation, _, _ = await citizens.transcript(*remembered, get_origin(request))
            if conversation.collection_id != collection.id:
                remembered = None
        except (NotFound, AuthenticationFailed, InvalidRequest):
            remembered = None
    if remembered is None:
        conversation, token = await citizens.open_conversation(collection.id, get_origin(request))
        remembered = (conversation.id, token)
    max_age = int(citizens.conversation_retention(collection.org_id).total_seconds())
    return Current(*remembered, max_age)


def _question(value: str, page: PageContext) -> str:
    text = value.strip()
    if not text:
        raise InvalidRequest(page.t.gettext("Write a question first."), param="question")
    return text[:2000]


@router.post("/ask/{org}/{name}")
async def ask(
    org: str,
    name: str,
    request: Request,
    page: Page,
    question: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The question as a plain form post: the page comes back with the answer."""
    page.check_form(csrf_token)
    text = _question(question, page)
    current = await _current(request, org, name)
    answered = await _citizens(request).ask(current.conversation_id, current.token, text, get_origin(request))
    response = page.redirect(_back(request, org, name, fragment=f"msg-{answered.message.id}"))
    _remember(response, page, org, name, current)
    return response


@router.post("/ask/{org}/{name}/stream")
async def ask_stream(
    org: str,
    name: str,
    request: Request,
    page: Page,
    question: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The question from the page's script: the answer as Server-Sent Events (``mode``, ``language``,
    ``delta``…, ``replace``, ``citations``, ``done`` or ``error``). A generated answer streams token by
    token as the model writes it; ``replace`` carries the checked answer when it differs from the
    pieces sent."""
    page.check_form(csrf_token)
    text = _question(question, page)
    citizens = _citizens(request)
    current = await _current(request, org, name)

    async def events() -> AsyncIterator[bytes]:
        def event(name_: str, data: dict[str, Any]) -> bytes:
            return sse.frame(data, name_)

        streamed: list[str] = []
        done: Answered | None = None
        try:
            asking = citizens.ask_stream(current.conversation_id, current.token, text, get_origin(request))
            async with closing_stream(asking) as items:
                async for item in items:
                    if isinstance(item, Answered):
                        done = item
                        break
                    if not streamed:  # the model has begun to write: token by token from here
                        yield event("mode", {"label": _mode_label(page, "generated")})
                        if item.language:
                            yield event("language", {"language": item.language})
                    streamed.append(item.text)
                    yield event("delta", {"text": item.text})
        except SoberanaError as error:  # e.g. too many questions: the reason helps (the service says nothing internal)
            yield event("error", {"message": error.message if error.status_code < 500 else _labels(page)["failed"]})
            return
        except Exception:  # never leave the page waiting: it says the answer failed
            logger.exception("answering a citizen failed")
            yield event("error", {"message": _labels(page)["failed"]})
            return
        assert done is not None
        message, answer = done.message, done.answer
        if streamed:
            if answer.mode != "generated":  # the model declined after all: no "written by AI" label
                yield event("mode", {"label": ""})
            if "".join(streamed) != answer.text:  # the checked answer differs (spacing, an abstention)
                yield event("replace", {"text": answer.text})
        else:  # excerpts or an abstention, ready at once: written out a few words at a time
            label = _mode_label(page, answer.mode)
            if label:
                yield event("mode", {"label": label})
            if answer.language:
                yield event("language", {"language": answer.language})
            words = answer.text.split(" ")
            for start in range(0, len(words), 4):
                piece = " ".join(words[start : start + 4])
                yield event("delta", {"text": piece if start == 0 else " " + piece})
                await asyncio.sleep(0.01)
        yield event("citations", {"items": answer.citations})
        rendered = page.render("partials/feedback.html", path=_path(org, name), message_id=message.id)
        feedback = bytes(rendered.body).decode()
        yield event("done", {"id": message.id, "feedback": feedback})

    response = StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy buffering of the stream
    )
    _remember(response, page, org, name, current)
    return response


@router.post("/ask/{org}/{name}/feedback")
async def feedback(
    org: str,
    name: str,
    request: Request,
    page: Page,
    message_id: Annotated[str, Form(max_length=64)],
    helpful: Annotated[bool, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    page.check_form(csrf_token)
    remembered = _conversation(request)
    if remembered is None:
        raise NotFound(page.t.gettext("This conversation has ended."))
    answer = FeedbackIn(message_id=message_id, helpful=helpful)
    await _citizens(request).feedback(*remembered, answer, get_origin(request))
    return page.redirect(_back(request, org, name, "thanks=1", f"msg-{message_id}"))


@router.post("/ask/{org}/{name}/handoff")
async def handoff(
    org: str,
    name: str,
    request: Request,
    page: Page,
    reason: Annotated[str, Form(max_length=2000)] = "",
    contact: Annotated[str, Form(max_length=320)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """ "Talk to a person": opens a case in the staff queue with the conversation's transcript."""
    page.check_form(csrf_token)
    current = await _current(request, org, name)  # a person may be asked for at once
    body = HandoffIn(reason=reason.strip() or None, contact=contact.strip() or None)
    await _citizens(request).request_handoff(current.conversation_id, current.token, body, get_origin(request))
    response = page.redirect(_back(request, org, name, fragment="handoff"))
    _remember(response, page, org, name, current)
    return response


@router.post("/ask/{org}/{name}/problem")
async def report_problem(
    org: str,
    name: str,
    request: Request,
    page: Page,
    description: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """ "Report a problem": an incident for the staff responsible for the assistant's use case."""
    page.check_form(csrf_token)
    remembered = _conversation(request)
    if remembered is None:
        raise NotFound(page.t.gettext("This conversation has ended."))
    await _citizens(request).report_problem(*remembered, description, get_origin(request))
    return page.redirect(_back(request, org, name, "reported=1", "problem"))


@router.post("/ask/{org}/{name}/erase")
async def erase(org: str, name: str, request: Request, page: Page, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the conversation and erase it (messages, feedback, hand-off case, placeholders)."""
    page.check_form(csrf_token)
    remembered = _conversation(request)
    if remembered is not None:
        with contextlib.suppress(NotFound, AuthenticationFailed):  # already gone: nothing to erase
            await _citizens(request).erase_conversation(*remembered, get_origin(request))
    response = page.redirect(_back(request, org, name, "erased=1"))
    response.delete_cookie(
        CONVERSATION_COOKIE,
        path=_path(org, name),
        samesite=page.cookie_samesite,
        secure=page.cookie_samesite == "none",
    )
    if page.cookie_samesite == "none":
        partition_last_cookie(response)  # the partitioned cookie is removed from the same jar
    return response
