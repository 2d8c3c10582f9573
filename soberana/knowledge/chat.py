"""The ``knowledge`` option of chat completions: answer from collections, with checked citations.

``{"model": …, "messages": […], "knowledge": {"collections": ["city-services"], "top_k": 5}}``
retrieves passages for the last user message, puts them before the conversation as a system message
with the grounding rules and the passages framed as quoted data (as for ``/v1/answers``: see
:mod:`soberana.knowledge.answers`), and sends the request on to the model. The response gains
``citations`` (the passages the answer cites, checked: a number that points to no retrieved passage
is removed from a non-streamed answer) and ``soberana_flags``. A link, telephone number or e-mail
address that no retrieved passage holds is replaced by a note (``unsupported_contact``), in a
streamed answer too: each choice's text is held back while it may still be growing into one. A
streamed answer gets a last chunk, before ``[DONE]``, with the citations and flags checked against
the whole streamed text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soberana.auth.principal import Principal
from soberana.core import sse
from soberana.errors import InvalidRequest, ValidationFailed, describe_validation_errors
from soberana.knowledge.answers import check_citations, citation, grounded_system
from soberana.knowledge.contacts import ContactGuard, Sources, check_contacts
from soberana.knowledge.schemas import SearchRequest
from soberana.knowledge.search import Hit
from soberana.knowledge.service import KnowledgeService


class KnowledgeOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collections: list[str] = Field(min_length=1, max_length=20)
    top_k: int = Field(5, ge=1, le=20)


@dataclass
class Grounding:
    hits: list[Hit]
    sources: Sources  # what a contact detail in the answer may come from
    language: str | None = None
    classifications: list[str] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)  # as the model wrote them
    shown: list[str] = field(default_factory=list)  # as passed on, contact details checked
    guards: dict[int, ContactGuard] = field(default_factory=dict)  # per choice


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise InvalidRequest("The knowledge option needs a user message to search for.", param="messages")


class KnowledgeChat:
    """A :class:`soberana.gateway.service.ChatAugmenter` backed by :class:`KnowledgeService`."""

    field = "knowledge"

    def __init__(self, knowledge: KnowledgeService) -> None:
        self.knowledge = knowledge

    async def prepare(self, principal: Principal, body: dict[str, Any]) -> tuple[dict[str, Any], Grounding]:
        try:
            option = KnowledgeOption.model_validate(body.get(self.field))
        except ValidationError as exc:
            message, param, details = describe_validation_errors(exc.errors())  # type: ignore[arg-type]
            raise ValidationFailed(
                message, param=f"knowledge.{param}" if param else "knowledge", details=details
            ) from None
        messages = list(body.get("messages") or [])
        question = _last_user_text(messages)
        retrieval = await self.knowledge.search(
            principal, SearchRequest(query=question, collections=option.collections, limit=option.top_k)
        )
        system = {"role": "system", "content": grounded_system(retrieval.hits, retrieval.query_language)}
        new_body = {k: v for k, v in body.items() if k != self.field}
        new_body["messages"] = [system, *messages]
        hits = retrieval.hits
        return new_body, Grounding(hits, Sources.of(hits), retrieval.query_language, retrieval.classifications)

    def classifications(self, state: Grounding) -> list[str]:
        """The passages come from these collections: the model call is handled at their level."""
        return state.classifications

    def _citations(self, state: Grounding, text: str) -> tuple[str, list[dict[str, Any]], list[str]]:
        cleaned, used, removed = check_citations(text, len(state.hits))
        cleaned, unsupported = check_contacts(cleaned, state.sources, state.language)
        flags = ["invalid_citation_removed"] if removed else []
        if not used:
            flags.append("uncited")
        if unsupported:
            flags.append("unsupported_contact")
        return cleaned, [citation(n, state.hits[n - 1]) for n in used], flags

    def _guarded(self, state: Grounding, chunk: dict[str, Any]) -> None:
        """Pass a chunk's text through its choice's :class:`ContactGuard` (flushed at the choice's end)."""
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            index = int(choice.get("index") or 0)
            if (guard := state.guards.get(index)) is None:
                guard = state.guards[index] = ContactGuard(state.sources, state.language)
            state.pieces.append(content)
            shown = guard.feed(content) + (guard.close() if choice.get("finish_reason") else "")
            state.shown.append(shown)
            if content or shown:
                choice["delta"] = {**delta, "content": shown}

    def finish(self, state: Grounding, response: bytes) -> bytes:
        body = orjson.loads(response)
        choices = body.get("choices") or []
        message = choices[0].get("message", {}) if choices else {}
        text, cites, flags = self._citations(state, str(message.get("content") or ""))
        if choices:
            message["content"] = text
        body["citations"] = cites
        body["soberana_flags"] = flags
        return orjson.dumps(body)

    async def stream(self, state: Grounding, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        last: dict[str, Any] = {}
        async for event in events:
            if event.startswith(sse.DONE.rstrip()):
                for index, guard in state.guards.items():  # a choice that ended without a finish_reason
                    if rest := guard.close():
                        state.shown.append(rest)
                        choice = {"index": index, "delta": {"content": rest}, "finish_reason": None}
                        chunk = {k: last.get(k) for k in ("id", "object", "created", "model")}
                        yield sse.frame({**chunk, "choices": [choice]})
                raw = "".join(state.pieces)
                _, cites, flags = self._citations(state, raw)
                contacts = check_contacts(raw, state.sources, state.language)[0]
                if "invalid_citation_removed" in flags or contacts != "".join(state.shown):
                    flags = [*flags, "streamed_text_not_corrected"]
                final = {
                    "id": last.get("id"),
                    "object": "chat.completion.chunk",
                    "created": last.get("created"),
                    "model": last.get("model"),
                    "choices": [],
                    "citations": cites,
                    "soberana_flags": flags,
                }
                yield sse.frame(final)
            elif event.startswith(b"data: {"):
                chunk = orjson.loads(event[6:])
                last = chunk
                self._guarded(state, chunk)
                event = sse.frame(chunk)
            yield event
