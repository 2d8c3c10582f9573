"""What governance needs from other capabilities, as small protocols (the composition root passes the
services that satisfy them, e.g. :class:`soberana.knowledge.service.KnowledgeService`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class OwnedCollection(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def org_id(self) -> str: ...


class Collections(Protocol):
    async def find_collection(self, session: AsyncSession, collection_id: str) -> OwnedCollection | None:
        """A collection by id, whoever asks (governance checks its organisation against the caller's)."""


@dataclass(frozen=True)
class ModelFact:
    """One deployment of a model a use case runs on, as the gateway has it now."""

    alias: str
    deployment: str
    model: str  # the provider's model name (a file name for an embedded model)
    sovereignty: str
    supplier: str | None
    weights_sha256: str | None


@dataclass(frozen=True)
class Traffic:
    """What a use case's keys, assistants and workspace did over a period."""

    requests: int
    people: int  # distinct people or services (gateway) and conversations (assistants)
    conversations: int
    handoffs: int
    ratings: int
    helpful: int


class LiveFacts(Protocol):
    """What governance reads of the platform that runs: the models behind aliases, and the traffic of what
    is bound to a use case (the composition root adapts the gateway and knowledge services to it)."""

    async def models(self, aliases: Sequence[str], *, weights: bool = True) -> list[ModelFact]:
        """Every deployment of each alias (an unknown alias gives none); ``weights``: with the SHA-256 of
        an embedded model's weights (hashed once per file)."""

    async def traffic(self, org_id: str, bindings: Sequence[tuple[str, str]], since: datetime) -> Traffic:
        """The traffic since ``since`` of ``bindings`` (``(kind, subject id)``) of organisation ``org_id``."""

    async def all_models(self, *, weights: bool = True) -> list[ModelFact]:
        """Every deployment of every model the gateway serves."""

    def data_rules(self, org_id: str) -> list[DataRule]:
        """The data-protection rule of each classification level for ``org_id`` (its policies applied)."""

    async def audit_chain_verified(self) -> bool:
        """Whether the audit log's hash chain verifies now (every entry, every usage batch anchored)."""

    async def training_complete(self, org_id: str, *, oversight: bool) -> bool | None:
        """Whether every active person of ``org_id`` holds the baseline course now (and, ``oversight``, the
        course for operators of high-risk systems); ``None``: no one to check."""

    def retention_days(self, org_id: str) -> dict[str, float | None]:
        """How long ``org_id`` keeps each kind of data (``usage``, ``conversations``,
        ``workspace_conversations``, ``vault``), in days; ``None``: for ever."""


@dataclass(frozen=True)
class DataRule:
    """What one data classification allows: the personal-data mode and where its data may go."""

    classification: str
    mode: str
    sovereignty: tuple[str, ...]
    default: bool = False  # the classification a request gets when it states none


@dataclass(frozen=True)
class UnderReview:
    """What the evidence behind an approval is judged on: a version of a use case and what it runs."""

    use_case_id: str
    org_id: str
    name: str
    status: str
    risk_group: str
    aia_level: int
    version: int
    approved_version: int | None
    submitted_version: int | None
    models: tuple[str, ...]
    collections: tuple[str, ...]  # the register's entries (ids or names) and the bound public assistants' ids


class ApprovalEvidence(Protocol):
    """The evaluations an approval rests on (the composition root adapts the evaluations capability)."""

    @property
    def mode(self) -> str:
        """``off``, ``warn`` (gaps recorded with the approval) or ``enforce`` (no approval with a gap)."""

    async def gaps(self, review: UnderReview) -> list[str]:
        """What is missing for the approval of ``review.version`` (nothing: the evidence holds)."""

    def changed(self, use_case_id: str) -> None:
        """A use case changed (a new version): re-run its evaluations if it runs; a regression opens an
        incident."""
