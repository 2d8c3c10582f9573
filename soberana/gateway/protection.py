"""Data protection on the model API: which deployments may see a request, and what they are sent.

A :class:`Shield` is made for each request from the caller's data-protection policy. It filters the
model's deployments by the sovereignty the request's classification allows, and gives each
deployment the body it may receive: unchanged for an on-premises deployment (the data does not leave
the administration), pseudonymised, redacted or refused for the others. Answers are restored —
whole, or chunk by chunk when streamed.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from soberana.auth.principal import Principal
from soberana.errors import ClassificationNotPermitted
from soberana.privacy.policy import Resolved
from soberana.privacy.pseudonyms import StreamRestorer, restore
from soberana.privacy.service import PrivacyService, Protected
from soberana.providers.routing import Deployment

PLACEHOLDER_NOTE = (
    "Some personal data in this conversation has been replaced by placeholders such as <PERSON_1> or "
    "<ID_NUMBER_1>. Keep every placeholder exactly as written wherever you refer to it; do not guess what it "
    "stands for."
)


def restore_json(text: str, originals: dict[str, str]) -> str:
    """Placeholders restored inside JSON text (tool-call arguments), each value escaped for JSON."""
    escaped = {k: orjson.dumps(v).decode()[1:-1] for k, v in originals.items()}
    return restore(text, escaped)


def _text_slots(endpoint: str, body: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) of every text the request sends, in order."""
    slots: list[tuple[Any, Any]] = []
    if endpoint == "chat":
        for message in body.get("messages") or []:
            content = message.get("content")
            if isinstance(content, str):
                slots.append((message, "content"))
            elif isinstance(content, list):
                slots += [
                    (part, "text") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
                ]
    elif endpoint == "embeddings":
        value = body.get("input")
        if isinstance(value, str):
            slots.append((body, "input"))
        elif isinstance(value, list):
            slots += [(value, i) for i, item in enumerate(value) if isinstance(item, str)]
    elif endpoint == "rerank":
        slots.append((body, "query"))
        slots += [(body["documents"], i) for i in range(len(body.get("documents") or []))]
    return slots


@dataclass
class Shield:
    privacy: PrivacyService
    principal: Principal
    resolved: Resolved
    endpoint: str
    body: dict[str, Any]
    conversation: str | None = None
    protected: Protected | None = None
    _protected_body: dict[str, Any] | None = None
    used: bool = False  # the deployment that answered got the protected body
    _restorers: dict[int, StreamRestorer] = field(default_factory=dict)

    def permitted(self, deployments: list[Deployment], alias: str) -> list[Deployment]:
        allowed = [d for d in deployments if self.resolved.allows(d.config.sovereignty)]
        if not allowed:
            places = ", ".join(sorted({d.config.sovereignty for d in deployments}))
            raise ClassificationNotPermitted(
                f"No deployment of '{alias}' may receive '{self.resolved.classification}' data: the policy allows "
                f"{', '.join(self.resolved.rule.sovereignty) or 'none'}, and this model runs on {places}.",
                param="model",
            )
        return allowed

    async def prepare(self, deployments: list[Deployment]) -> None:
        """Check and transform the texts once, if any deployment in ``deployments`` needs it."""
        if not any(self.resolved.applies_to(d.config.sovereignty) for d in deployments):
            return
        body = copy.deepcopy(self.body)
        slots = _text_slots(self.endpoint, body)
        protected = await self.privacy.protect(
            self.principal, self.resolved, [c[k] for c, k in slots], conversation=self.conversation
        )
        for (container, key), text in zip(slots, protected.texts, strict=True):
            container[key] = text
        if self.endpoint == "chat" and protected.originals:
            body["messages"] = [{"role": "system", "content": PLACEHOLDER_NOTE}, *body["messages"]]
        self.protected, self._protected_body = protected, body

    def body_for(self, deployment: Deployment) -> dict[str, Any]:
        if self._protected_body is not None and self.resolved.applies_to(deployment.config.sovereignty):
            self.used = True
            return self._protected_body
        self.used = False
        return self.body

    # -- what was done -------------------------------------------------------------------------------

    def header(self) -> str | None:
        """``x-soberana-pii``: what was done to the data the answering deployment received."""
        if not self.used or self.protected is None:
            return None
        return self.protected.header()

    def record(self) -> dict[str, Any]:
        if self.used and self.protected is not None:
            return self.protected.record(self.resolved.classification)
        return {"classification": self.resolved.classification, "action": "none", "counts": {}}

    # -- restoring answers ---------------------------------------------------------------------------

    @property
    def _originals(self) -> dict[str, str] | None:
        if self.used and self.protected is not None and self.protected.originals:
            return self.protected.originals
        return None

    def restore_body(self, raw: bytes) -> bytes:
        originals = self._originals
        if originals is None or self.endpoint != "chat":
            return raw
        parsed = orjson.loads(raw)
        for choice in parsed.get("choices") or []:
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                message["content"] = restore(message["content"], originals)
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                if isinstance(function.get("arguments"), str):  # JSON text: values restored JSON-escaped
                    function["arguments"] = restore_json(function["arguments"], originals)
        return orjson.dumps(parsed)

    def restore_text(self, text: str) -> str:
        originals = self._originals
        return restore(text, originals) if originals else text

    async def restore_stream(self, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Restore an SSE stream of chat chunks; a placeholder split across chunks is held until whole."""
        originals = self._originals
        if originals is None:
            async for event in events:
                yield event
            return
        last: dict[str, Any] | None = None
        async for event in events:
            if not event.startswith(b"data: {") or b'"choices"' not in event:
                if event.startswith(b"data: [DONE]"):
                    tail = self._flush_all()
                    if tail and last is not None:
                        yield b"data: " + orjson.dumps(self._tail_chunk(last, tail)) + b"\n\n"
                yield event
                continue
            chunk = orjson.loads(event[6:])
            last = chunk
            for choice in chunk.get("choices") or []:
                restorer = self._restorers.setdefault(int(choice.get("index", 0)), StreamRestorer(originals))
                delta = choice.get("delta") or {}
                text = restorer.feed(delta["content"]) if isinstance(delta.get("content"), str) else ""
                if choice.get("finish_reason"):
                    text += restorer.flush()
                if isinstance(delta.get("content"), str) or text:
                    delta["content"] = text
                    choice["delta"] = delta
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _flush_all(self) -> dict[int, str]:
        return {i: text for i, r in self._restorers.items() if (text := r.flush())}

    @staticmethod
    def _tail_chunk(last: dict[str, Any], tail: dict[int, str]) -> dict[str, Any]:
        chunk = {k: v for k, v in last.items() if k not in ("choices", "usage")}
        chunk["choices"] = [{"index": i, "delta": {"content": text}, "finish_reason": None} for i, text in tail.items()]
        return chunk
