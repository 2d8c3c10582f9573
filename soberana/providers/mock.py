"""A mock model for tests and demos: it echoes the last user message, word by word when streaming.

Deterministic, instant, on the premises; usage is counted in words. Like ``llm``'s mock model, it
lets every part of the gateway be exercised without a real model.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from soberana.core.ids import new_ulid
from soberana.providers.base import Completion, Provider, Usage
from soberana.providers.embedding_format import embeddings_body


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return (
                content
                if isinstance(content, str)
                else " ".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))
            )
    return ""


def overlap_rerank(query: str, documents: list[str], model: str) -> dict[str, Any]:
    """A rerank response scoring each document by the share of the query's words it contains
    (deterministic, for tests and trials; the shape of vLLM's and Cohere's rerank APIs)."""
    words = {w for w in query.lower().split() if len(w) > 2}
    scores = [len(words & set(d.lower().split())) / (len(words) or 1) for d in documents]
    order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
    tokens = len(query.split()) + sum(len(d.split()) for d in documents)
    return {
        "id": f"rerank-{new_ulid()}",
        "model": model,
        "results": [{"index": i, "relevance_score": scores[i]} for i in order],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class MockProvider(Provider):
    kind = "mock"

    def _answer(self, body: dict[str, Any]) -> tuple[str, Usage]:
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])
        text = f"Echo: {_last_user_text(body)}"
        return text, Usage(prompt_tokens=max(prompt_words, 1), completion_tokens=len(text.split()))

    async def chat(self, body: dict[str, Any]) -> Completion:
        text, usage = self._answer(body)
        response = {
            "id": f"chatcmpl-{new_ulid()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.config.alias),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }
        return Completion(body=orjson.dumps(response), usage=usage)

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        text, usage = self._answer(body)
        base = {
            "id": f"chatcmpl-{new_ulid()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", self.config.alias),
        }
        yield orjson.dumps(
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        )
        for i, word in enumerate(text.split(" ")):
            yield orjson.dumps(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}
                    ],
                }
            )
        yield orjson.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        yield orjson.dumps(
            {
                **base,
                "choices": [],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.total_tokens,
                },
            }
        )

    async def embeddings(self, body: dict[str, Any]) -> Completion:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        vectors = []
        for text in texts:
            seed = sum(ord(c) for c in str(text)) or 1
            vectors.append([((seed * (j + 7)) % 997) / 997.0 for j in range(8)])
        tokens = sum(len(str(t).split()) for t in texts)
        payload = embeddings_body(
            vectors,
            model=body.get("model", self.config.alias),
            prompt_tokens=tokens,
            encoding_format=body.get("encoding_format"),
        )
        return Completion(body=payload, usage=Usage(prompt_tokens=tokens))

    async def rerank(self, body: dict[str, Any]) -> Completion:
        answer = overlap_rerank(str(body.get("query", "")), list(body.get("documents") or []), self.config.alias)
        return Completion(body=orjson.dumps(answer), usage=Usage(prompt_tokens=answer["usage"]["prompt_tokens"]))
