"""What evaluations need from the rest of the platform, as small protocols; the composition root
(:mod:`soberana.wiring`) adapts the gateway, knowledge and governance services to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from soberana.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class Passage:
    """A passage retrieved for an answer."""

    chunk_id: str
    document_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Citation:
    index: int
    chunk_id: str
    quote: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What the target answered to one input."""

    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What a run evaluates: a collection's assistant (with the model that writes its answers; none: the
    extractive assistant) or a model alone, with its system prompt."""

    kind: Literal["assistant", "model"]
    org_id: str
    collection_id: str | None = None
    model: str | None = None
    system_prompt: str | None = None

    def describe(self) -> str:
        if self.kind == "assistant":
            return f"assistant of {self.collection_id} ({self.model or 'extractive'})"
        return f"model {self.model}"


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a collection, as text."""

    key: str
    title: str
    text: str


class Answering(Protocol):
    async def ask(
        self,
        principal: Principal,
        target: Target,
        question: str,
        *,
        instructions: str,
        conversation: str,
        history: Sequence[str],
    ) -> Reply:
        """The target's answer to ``question`` (through the gateway, as ``principal``); ``instructions``: text
        added to the system prompt (the planted canary); ``history``: the conversation's earlier questions."""

    def system_prompt(self, target: Target) -> str:
        """The system prompt the target answers under (what a run pins by its hash)."""


class Pages(Protocol):
    async def collection(self, principal: Principal, ref: str, org_id: str) -> tuple[str, str]:
        """The id and organisation of a collection of an organisation ``principal`` sees (by id, or by name
        in ``org_id``)."""

    async def pages(self, principal: Principal, collection_id: str, question: str, limit: int) -> list[Page]:
        """The whole text of the pages whose passages are retrieved first for ``question``."""

    async def contacts_text(self, collection_id: str) -> str:
        """Every passage of the collection, joined (the trusted pages' contact details are read from it)."""

    async def content_hash(self, collection_id: str) -> str:
        """A hash of the collection's content (its documents' content hashes)."""

    async def create_shadow(self, principal: Principal, source_id: str, name: str, pages: Sequence[Page]) -> str:
        """A hidden copy of collection ``source_id``'s settings holding ``pages`` (indexed); its id. Named
        ``name`` in the source's organisation; replaced if it exists."""

    async def drop_shadow(self, collection_id: str) -> None:
        """Delete a shadow collection and its passages."""


class Outbound(Protocol):
    """What the gateway sent to deployments outside the installation's jurisdiction, per principal."""

    def watch(self, principal_id: str) -> None: ...

    def sent(self, principal_id: str) -> list[str]:
        """The texts sent abroad for ``principal_id`` since :meth:`watch` (and forget them)."""

    def unwatch(self, principal_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Spending:
    calls: int
    tokens: int
    cost: float


class Metering(Protocol):
    async def spent(self, org_id: str, principal_id: str) -> Spending:
        """What ``principal_id``'s calls cost (usage is written in batches: flushed first)."""

    def price(self, model: str | None, prompt_tokens: int, completion_tokens: int) -> float:
        """What a call of that many tokens to ``model`` costs at its first deployment's prices."""


@dataclass(frozen=True, slots=True)
class UseCaseFacts:
    """What evaluations read of a use case in the register."""

    id: str
    org_id: str
    name: str
    status: str
    risk_group: str
    aia_level: int
    version: int
    approved_version: int | None
    submitted_version: int | None
    models: tuple[str, ...]
    collections: tuple[str, ...]  # ids: the register's and the bound public assistants'


class Register(Protocol):
    async def use_case(self, principal: Principal, use_case_id: str) -> UseCaseFacts:
        """The use case as ``principal`` may see it (NotFound otherwise)."""

    async def use_case_by_id(self, use_case_id: str) -> UseCaseFacts | None:
        """The use case, whoever asks (the gate and re-runs)."""

    async def report_regression(self, use_case_id: str, summary: str, details: str) -> str | None:
        """Open an incident on the use case for a regression; its id."""


class Pins(Protocol):
    async def models(self, aliases: Sequence[str]) -> list[str]:
        """``alias/deployment/model/weights`` of every deployment behind ``aliases`` (pinned by a run)."""

    def policy(self, org_id: str) -> str:
        """The organisation's effective data-protection policy, canonical (a run pins its hash)."""
