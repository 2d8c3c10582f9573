"""What the workspace needs from the model gateway, as a small protocol (the composition roots pass
:class:`soberana.gateway.clients.GatewayClient`)."""

from __future__ import annotations

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
    ) -> Reply:
        """One chat completion for ``principal``, at data ``classification``, with personal data kept under
        stable placeholders for the whole ``conversation``."""
