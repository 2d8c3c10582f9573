"""What data protection needs from the rest of the platform, as small protocols.

* :class:`Purger`: a capability that keeps data with a retention period (citizen conversations, staff
  conversations, usage records) hands the purge job one of these.
* :data:`DetectLanguage`: finds a text's language, so that the name detectors of that language run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.privacy.schemas import PolicyDocument
from soberana.settings import Settings

DetectLanguage = Callable[[str], str | None]


class Purger(Protocol):
    """Deletes one kind of data past its retention period (provided by the capability that owns it)."""

    kind: str

    def default_days(self, settings: Settings) -> float | None:
        """The installation's retention period in days (``None``: kept for ever)."""

    def org_days(self, document: PolicyDocument) -> float | None:
        """The period one policy sets in days, if it sets one."""

    async def purge(
        self, session: AsyncSession, default_cutoff: datetime | None, cutoffs: dict[str, datetime]
    ) -> dict[str, int]:
        """Delete what is older than its organisation's cutoff (``default_cutoff`` for the others);
        returns how many rows were deleted per organisation."""
