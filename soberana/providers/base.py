"""The provider interface, its declared capabilities and its errors."""

from __future__ import annotations

import hashlib
import threading
from abc import ABC
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from soberana.settings import DeploymentConfig, Settings, Sovereignty


@dataclass(frozen=True)
class Capabilities:
    """What a deployment can do and where its data goes."""

    chat: bool
    embeddings: bool
    streaming: bool
    rerank: bool
    tools: bool
    context_length: int
    sovereignty: Sovereignty


@dataclass
class Usage:
    """Token counts as the provider reported them (``estimated`` when it did not)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: dict[str, Any] | None) -> Usage | None:
        if not usage:
            return None
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


@dataclass
class Completion:
    """A finished (non-streamed) answer: the OpenAI-format body to send back, and its usage."""

    body: bytes
    usage: Usage


class ProviderError(Exception):
    """An upstream failure. ``retryable`` ones (connection, 429, 5xx) make the router try again."""

    retryable: bool = False

    def __init__(
        self, message: str, *, status: int | None = None, body: bytes | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.retry_after = retry_after


class ProviderConnectionError(ProviderError):
    retryable = True


class ProviderTimeout(ProviderError):
    pass


class ProviderHTTPError(ProviderError):
    """The upstream answered with an HTTP error status; 429 and 5xx are worth retrying."""

    def __init__(
        self, message: str, *, status: int, body: bytes | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, body=body, retry_after=retry_after)
        self.retryable = status == 429 or status >= 500


@dataclass
class ProviderContext:
    """What every provider instance shares: the settings and the pooled HTTP client."""

    settings: Settings
    resources: dict[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """One configured deployment's way of producing answers. Subclasses declare ``kind``."""

    kind: ClassVar[str]

    def __init__(self, config: DeploymentConfig, context: ProviderContext) -> None:
        self.config = config
        self.context = context

    @property
    def capabilities(self) -> Capabilities:
        c = self.config
        return Capabilities(
            chat="chat" in c.capabilities,
            embeddings="embeddings" in c.capabilities,
            streaming=c.streaming,
            rerank="rerank" in c.capabilities,
            tools=c.tools,
            context_length=c.context_length,
            sovereignty=c.sovereignty,
        )

    @classmethod
    def serves(cls) -> frozenset[str]:
        """The capabilities this kind implements: the calls (``chat``, ``embeddings``, ``rerank``) its class
        defines. A deployment may not declare one it lacks (its requests would all fail upstream)."""
        return frozenset(
            name for name in ("chat", "embeddings", "rerank") if getattr(cls, name) is not getattr(Provider, name)
        )

    @classmethod
    def available(cls) -> str | None:
        """``None`` when the provider can run here, else why not (a missing optional package)."""
        return None

    async def chat(self, body: dict[str, Any]) -> Completion:
        raise ProviderError(f"{self.kind} does not serve chat completions")

    def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """Yield each chunk's JSON (the text after ``data: ``), a final usage chunk included.

        Errors that happen before the first chunk are raised by the first ``__anext__``, so the
        router can still fall back to another deployment.
        """
        raise ProviderError(f"{self.kind} does not stream")

    async def embeddings(self, body: dict[str, Any]) -> Completion:
        raise ProviderError(f"{self.kind} does not serve embeddings")

    async def rerank(self, body: dict[str, Any]) -> Completion:
        """Relevance of ``documents`` to ``query``: ``{"results": [{"index", "relevance_score"}, …]}``
        (the rerank API of vLLM, TEI, Jina and Cohere)."""
        raise ProviderError(f"{self.kind} does not rerank")

    async def health(self) -> bool:
        """A cheap check that the deployment answers (used to bring a cooled-down one back)."""
        return True

    def weights(self) -> list[Path]:
        """The files of model weights this deployment loads into the server (embedded models); none for a
        model served elsewhere. The model record shows their SHA-256 (:func:`weights_sha256`)."""
        return []

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds."""


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for budgeting before the real count."""
    return len(text) // 4 + 1


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    total = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += estimate_tokens(content) + 4
        elif isinstance(content, list):
            total += sum(estimate_tokens(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    for text in [body.get("query"), *(body.get("documents") or ())]:  # rerank
        if isinstance(text, str):
            total += estimate_tokens(text)
    inputs = body.get("input")
    if isinstance(inputs, str):
        total += estimate_tokens(inputs)
    elif isinstance(inputs, list):  # texts, token ids, or lists of token ids
        for item in inputs:
            total += estimate_tokens(item) if isinstance(item, str) else len(item) if isinstance(item, list) else 1
    return max(total, 1)


_DIGESTS: dict[tuple[str, int, int], str] = {}
_HASHING: dict[str, threading.Lock] = {}


def weights_sha256(paths: list[Path]) -> str | None:
    """The SHA-256 of the weight files (of their digests, in order, when there are several), read in 1 MiB
    blocks and remembered by path, size and modification time; ``None`` without files. Blocking: run it in
    a worker thread."""
    if not paths:
        return None
    digests = []
    for path in paths:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with _HASHING.setdefault(key[0], threading.Lock()):  # one thread hashes a file; the others wait for it
            _hash_once(path, key)
        digests.append(_DIGESTS[key])
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def _hash_once(path: Path, key: tuple[str, int, int]) -> None:
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
