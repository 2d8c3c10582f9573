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
from soberana.core import sse
from soberana.errors import ClassificationNotPermitted, InvalidRequest, PersonalDataRefused
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


def _text_slots(endpoint: str, body: dict[str, Any]) -> tuple[list[tuple[Any, Any]], list[str]]:
    """(container, key) of every text the request sends, in order, and what it sends that cannot be
    checked for personal data (images, audio, token ids)."""
    slots: list[tuple[Any, Any]] = []
    unscannable: list[str] = []
    if endpoint == "chat":
        for message in body.get("messages") or []:
            content = message.get("content")
            if isinstance(content, str):
                slots.append((message, "content"))
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        slots.append((part, "text"))
                    elif isinstance(part, dict):
                        unscannable.append(str(part.get("type") or "a non-text part"))
            # earlier tool calls carry the arguments the model wrote (restored values, in JSON)
            calls = [c.get("function") for c in message.get("tool_calls") or [] if isinstance(c, dict)]
            calls.append(message.get("function_call"))
            slots += [(f, "arguments") for f in calls if isinstance(f, dict) and isinstance(f.get("arguments"), str)]
    elif endpoint == "embeddings":
        value = body.get("input")
        if isinstance(value, str):
            slots.append((body, "input"))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    slots.append((value, i))
                else:
                    unscannable.append("token ids")
                    break
    elif endpoint == "rerank":
        slots.append((body, "query"))
        slots += [(body["documents"], i) for i in range(len(body.get("documents") or []))]
    return slots, unscannable


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
    blocked: bool = False  # personal data the mode refuses: only deployments it does not apply to remain
    _restorers: dict[tuple[int, int], StreamRestorer] = field(default_factory=dict)

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

    async def prepare(self, deployments: list[Deployment]) -> list[Deployment]:
        """Check and transform the texts once, if any deployment in ``deployments`` needs it; returns
        the deployments that may still serve the request (``block``: only those the mode spares)."""
        if not any(self.resolved.applies_to(d.config.sovereignty) for d in deployments):
            return deployments
        body = copy.deepcopy(self.body)
        slots, unscannable = _text_slots(self.endpoint, body)
        spared = [d for d in deployments if not self.resolved.applies_to(d.config.sovereignty)]
        if unscannable and self.resolved.rule.mode not in ("off", "detect"):
            if spared:
                return spared
            raise InvalidRequest(
                f"This request holds {', '.join(sorted(set(unscannable)))}, which cannot be checked for personal "
                f"data, and the policy for '{self.resolved.classification}' data asks for it to be checked before "
                "it leaves for this model. Send text, or use a model that runs on premises.",
                code="unscannable_content",
            )
        try:
            protected = await self.privacy.protect(
                self.principal, self.resolved, [c[k] for c, k in slots], conversation=self.conversation
            )
        except PersonalDataRefused:
            if spared:  # an on-premises deployment may take the request unchanged
                self.blocked = True
                return spared
            raise
        for (container, key), text in zip(slots, protected.texts, strict=True):
            container[key] = text
        if self.endpoint == "chat" and protected.originals:
            body["messages"] = [{"role": "system", "content": PLACEHOLDER_NOTE}, *body["messages"]]
        self.protected, self._protected_body = protected, body
        return deployments

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
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # not an OpenAI answer: passed on as it came (nothing to restore in it)
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
        """Restore an SSE stream of chat chunks — text and tool-call arguments; a placeholder split
        across chunks is held back until it is whole, and anything still held is sent before the
        stream ends (``[DONE]``) or breaks off (an error event)."""
        originals = self._originals
        try:
            if originals is None:
                async for event in events:
                    yield event
                return
            escaped = {k: orjson.dumps(v).decode()[1:-1] for k, v in originals.items()}
            last: dict[str, Any] | None = None
            async for event in events:
                if not event.startswith(b"data: {") or b'"choices"' not in event:
                    if last is not None and (event.startswith(b"data: [DONE]") or b'"error"' in event):
                        tail = self._flush_all()
                        if tail:
                            yield sse.frame(self._tail_chunk(last, tail))
                    yield event
                    continue
                chunk = orjson.loads(event[6:])
                last = chunk
                for choice in chunk.get("choices") or []:
                    index = int(choice.get("index", 0))
                    delta = choice.get("delta") or {}
                    finishing = bool(choice.get("finish_reason"))
                    restorer = self._restorers.setdefault((index, -1), StreamRestorer(originals))
                    if isinstance(delta.get("content"), str) or finishing:
                        text = restorer.feed(delta.get("content") or "") + (restorer.flush() if finishing else "")
                        if isinstance(delta.get("content"), str) or text:
                            delta["content"] = text
                    for call in delta.get("tool_calls") or []:
                        function = call.get("function") or {}
                        if isinstance(function.get("arguments"), str):
                            key = (index, int(call.get("index", 0)))
                            args = self._restorers.setdefault(key, StreamRestorer(escaped))
                            function["arguments"] = args.feed(function["arguments"])
                    if finishing:
                        held = {k: r.flush() for k, r in self._restorers.items() if k[0] == index and k[1] >= 0}
                        calls = [{"index": k[1], "function": {"arguments": v}} for k, v in held.items() if v]
                        if calls:
                            delta["tool_calls"] = [*(delta.get("tool_calls") or []), *calls]
                    choice["delta"] = delta
                yield sse.frame(chunk)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()  # the upstream stream, its concurrency slot and its usage record

    def _flush_all(self) -> dict[tuple[int, int], str]:
        return {k: text for k, r in self._restorers.items() if (text := r.flush())}

    @staticmethod
    def _tail_chunk(last: dict[str, Any], tail: dict[tuple[int, int], str]) -> dict[str, Any]:
        chunk = {k: v for k, v in last.items() if k not in ("choices", "usage")}
        choices: dict[int, dict[str, Any]] = {}
        for (index, call), text in sorted(tail.items()):
            delta = choices.setdefault(index, {"index": index, "delta": {}, "finish_reason": None})["delta"]
            if call < 0:
                delta["content"] = text
            else:
                delta.setdefault("tool_calls", []).append({"index": call, "function": {"arguments": text}})
        chunk["choices"] = list(choices.values())
        return chunk
