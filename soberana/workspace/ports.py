"""What the workspace needs from the model gateway, as a small protocol (the composition roots pass
:class:`soberana.gateway.clients.GatewayClient`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from soberana.auth.principal import Principal


class Reply(Protocol):
    """A model's answer and what happened on the way: the deployment that wrote it and what data
    protection did to the request (``x-soberana-pii``, e.g. ``pseudonymised; PERSON=2``)."""

    @property
    def text(self) -> str: ...

    @property
    def deployment(self) -> str: ...

    @property
    def pii(self) -> str: ...

    @property
    def classification(self) -> str | None:
        """The data classification the call was handled at (None without data protection)."""


class Conversing(Protocol):
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
    ) -> Reply:
        """One chat completion for ``principal``, at data ``classification`` (and at least ``floors``), with
        personal data kept under stable placeholders for the whole ``conversation``."""
