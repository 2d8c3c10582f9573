"""What knowledge needs from the model gateway, as small protocols.

The composition roots (``soberana.web.app``, the CLI) pass
:class:`soberana.gateway.clients.GatewayClient`, which satisfies both; tests may pass fakes. Keeping
knowledge on these protocols keeps it independent of the gateway package.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol

from soberana.auth.principal import Principal


class Embedder(Protocol):
    async def embed(
        self,
        principal: Principal,
        model: str,
        texts: Sequence[str],
        *,
        kind: Literal["query", "passage"],
        classifications: Sequence[str] = (),
    ) -> Any:
        """Unit vectors (float32 array, one row per text) from the embeddings model ``model``, sent as
        data of at least ``classifications`` (the collections the texts belong to)."""


class ChatModel(Protocol):
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
        """The text of one chat completion, handled at least at ``classifications`` (data protection),
        with personal data kept under stable placeholders for the whole ``conversation``."""

    def chat_stream(
        self,
        principal: Principal,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        classifications: Sequence[str] = (),
        conversation: str | None = None,
    ) -> AsyncIterator[str]:
        """As :meth:`chat`, the text arriving piece by piece as the model writes it."""


class Reranker(Protocol):
    async def rerank(
        self,
        principal: Principal,
        model: str,
        query: str,
        documents: Sequence[str],
        *,
        classifications: Sequence[str] = (),
    ) -> list[float]:
        """Relevance of each document to the query (higher is better), in the documents' order."""


class Models(Embedder, ChatModel, Reranker, Protocol):
    """All three: what :class:`soberana.knowledge.service.KnowledgeService` is given."""


class AssistantGuard(Protocol):
    async def admit_assistant(self, collection_id: str, org_id: str) -> dict[str, str]:
        """Whether the register of AI use cases lets the public assistant of ``collection_id`` answer:
        raises (a ``use_case_*`` code) when it does not and enforcement is on."""


class ProblemDesk(Protocol):
    async def from_citizen(self, collection_id: str, org_id: str, conversation_id: str, description: str) -> str | None:
        """Record a problem a citizen reports on a public assistant (with the use case it is bound to); the
        reference given to the citizen, or ``None`` when the assistant takes no reports."""
