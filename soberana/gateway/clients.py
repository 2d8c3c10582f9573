"""The gateway as other capabilities use it in-process: embeddings as arrays, chat answers as text.

Calls go through :class:`GatewayService` like any API call, so they are routed, limited by
quotas, metered and attributed to the principal they are made for. Capabilities depend on the
small protocols they declare (e.g. ``soberana.knowledge.ports``); the composition roots (web, CLI)
hand them this client.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from soberana.auth.principal import Principal
from soberana.core.aio import closing_stream
from soberana.errors import UpstreamFailed
from soberana.gateway.service import GatewayService


@dataclass(frozen=True, slots=True)
class ChatReply:
    """A chat answer with what happened on the way: the deployment that wrote it, and what data
    protection did to the request (the ``x-soberana-pii`` header, e.g. ``pseudonymised; PERSON=2``)."""

    text: str
    deployment: str
    pii: str
    classification: str | None = None  # the data classification the call was handled at


class GatewayClient:
    def __init__(self, service: GatewayService) -> None:
        self.service = service

    async def embed(
        self,
        principal: Principal,
        model: str,
        texts: Sequence[str],
        *,
        kind: Literal["query", "passage"],
        classifications: Sequence[str] = (),
    ) -> Any:
        """Unit vectors of ``texts`` as a float32 array of shape (len(texts), dimensions).

        ``classifications``: the data classifications of the collections the texts come from; the call
        is handled at the highest of them (which deployments may see it, what is pseudonymised)."""
        import numpy as np

        body = {"model": model, "input": list(texts), "input_type": kind, "encoding_format": "base64"}
        result, _ = await self.service.complete(
            principal, body, endpoint="embeddings", request_id=None, floors=classifications
        )
        data = sorted(orjson.loads(result.body)["data"], key=lambda d: d["index"])
        rows = [
            np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
            if isinstance(d["embedding"], str)
            else np.asarray(d["embedding"], dtype=np.float32)
            for d in data
        ]
        if len(rows) != len(texts):
            raise UpstreamFailed(f"The embeddings model '{model}' returned {len(rows)} vectors for {len(texts)} texts.")
        matrix = np.vstack(rows).astype(np.float32, copy=False)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)

    async def rerank(
        self,
        principal: Principal,
        model: str,
        query: str,
        documents: Sequence[str],
        *,
        classifications: Sequence[str] = (),
    ) -> list[float]:
        """Relevance of each of ``documents`` to ``query``, in the documents' order."""
        body = {"model": model, "query": query, "documents": list(documents)}
        result, _ = await self.service.complete(
            principal, body, endpoint="rerank", request_id=None, floors=classifications
        )
        scores = [0.0] * len(documents)
        for item in orjson.loads(result.body).get("results") or []:
            index = int(item["index"])
            if 0 <= index < len(scores):
                scores[index] = float(item.get("relevance_score", item.get("score", 0.0)))
        return scores

    async def chat(
        self,
        principal: Principal,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        classifications: Sequence[str] = (),
        conversation: str | None = None,
    ) -> str:
        """The text of one non-streamed chat completion. ``classifications``: levels the call is handled
        at or above (e.g. its collections'); ``conversation``: keeps
        placeholders of personal data stable across the calls of one conversation."""
        result, _ = await self.service.complete(
            principal,
            _chat_body(model, messages, max_tokens),
            endpoint="chat",
            request_id=None,
            conversation=conversation,
            floors=classifications,
        )
        return _answer_text(result.body)

    async def converse(
        self,
        principal: Principal,
        model: str,
        messages: list[dict[str, str]],
        *,
        classification: str | None = None,
        conversation: str | None = None,
        request_id: str | None = None,
        floors: Sequence[str] = (),
    ) -> ChatReply:
        """One chat completion at the data ``classification`` the caller states (at least ``floors``),
        with what happened."""
        result, headers = await self.service.complete(
            principal,
            {"model": model, "messages": messages},
            endpoint="chat",
            request_id=request_id,
            classification=classification,
            conversation=conversation,
            floors=floors,
        )
        return ChatReply(
            _answer_text(result.body),
            headers.get("x-soberana-deployment", ""),
            headers.get("x-soberana-pii", ""),
            headers.get("x-soberana-classification"),
        )

    async def chat_stream(
        self,
        principal: Principal,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        classifications: Sequence[str] = (),
        conversation: str | None = None,
    ) -> AsyncIterator[str]:
        """The text of one chat completion as the model writes it, piece by piece (a streamed call:
        routed, limited, metered and protected like :meth:`chat`). A failure before the first piece
        raises at once; one in the middle raises :class:`UpstreamFailed` where it happened."""
        body = {**_chat_body(model, messages, max_tokens), "stream": True}
        stream, _ = await self.service.stream(
            principal, body, request_id=None, conversation=conversation, floors=classifications
        )
        buffer = b""
        async with closing_stream(stream) as chunks:
            async for chunk in chunks:
                buffer += chunk
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    for piece in _pieces(event, model):
                        yield piece


def _chat_body(model: str, messages: list[dict[str, str]], max_tokens: int | None) -> dict[str, Any]:
    """A deterministic chat request (temperature 0), as capabilities make them."""
    body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0}
    if max_tokens:
        body["max_tokens"] = max_tokens
    return body


def _answer_text(body: bytes) -> str:
    """The text of a (non-streamed) chat completion's first choice."""
    choices = orjson.loads(body).get("choices") or [{}]
    return str((choices[0].get("message") or {}).get("content") or "")


def _pieces(event: bytes, model: str) -> list[str]:
    """The text pieces of one server-sent event of a streamed chat completion."""
    pieces: list[str] = []
    for line in event.split(b"\n"):
        data = line.removeprefix(b"data:").strip() if line.startswith(b"data:") else b""
        if not data or data == b"[DONE]":
            continue
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamFailed(f"The model '{model}' sent a stream that could not be read.") from None
        if not isinstance(parsed, dict):
            continue
        if "error" in parsed:
            raise UpstreamFailed(str((parsed["error"] or {}).get("message") or "The model failed."))
        for choice in parsed.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                pieces.append(str(piece))
    return pieces
