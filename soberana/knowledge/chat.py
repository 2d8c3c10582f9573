"""The ``knowledge`` option of chat completions: answer from collections, with checked citations.

``{"model": …, "messages": […], "knowledge": {"collections": ["city-services"], "top_k": 5}}``
retrieves passages for the last user message, puts them before the conversation as a numbered
system message with the grounding rules, and sends the request on to the model. The response
gains ``citations`` (the passages the answer cites, checked: a number that points to no retrieved
passage is removed from a non-streamed answer) and ``soberana_flags``. A streamed answer gets a
last chunk, before ``[DONE]``, with the citations checked against the whole streamed text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from soberana.auth.principal import Principal
from soberana.errors import InvalidRequest, ValidationFailed, describe_validation_errors
from soberana.knowledge.answers import check_citations, citation, grounding_rules, numbered_passages
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
    pieces: list[str] = field(default_factory=list)
    classifications: list[str] = field(default_factory=list)


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
        rules = grounding_rules(retrieval.query_language)
        system = {"role": "system", "content": f"{rules}\n\nPassages:\n\n{numbered_passages(retrieval.hits)}"}
        new_body = {k: v for k, v in body.items() if k != self.field}
        new_body["messages"] = [system, *messages]
        return new_body, Grounding(retrieval.hits, classifications=retrieval.classifications)

    def classifications(self, state: Grounding) -> list[str]:
        """The passages come from these collections: the model call is handled at their level."""
        return state.classifications

    def _citations(self, state: Grounding, text: str) -> tuple[str, list[dict[str, Any]], list[str]]:
        cleaned, used, removed = check_citations(text, len(state.hits))
        flags = ["invalid_citation_removed"] if removed else []
        if not used:
            flags.append("uncited")
        return cleaned, [citation(n, state.hits[n - 1]) for n in used], flags

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
            if event.startswith(b"data: [DONE]"):
                _, cites, flags = self._citations(state, "".join(state.pieces))
                if "invalid_citation_removed" in flags:
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
                yield b"data: " + orjson.dumps(final) + b"\n\n"
            elif event.startswith(b"data: {"):
                chunk = orjson.loads(event[6:])
                last = chunk
                for choice in chunk.get("choices") or []:
                    state.pieces.append((choice.get("delta") or {}).get("content") or "")
            yield event
