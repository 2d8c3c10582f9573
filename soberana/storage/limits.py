"""Rate limits: at most so many events per subject (a client address, an account) per sliding minute.

One implementation for every limit of the platform — sign-in attempts, citizens' questions, opening
conversations and hand-offs, refused authentications. Counts live in :class:`~soberana.storage.counters.Counters`:
in this process by default, in Redis when ``redis_url`` is set, so that every server process behind
a load balancer shares one limit.
"""

from __future__ import annotations

from soberana.errors import RateLimited
from soberana.storage.counters import MINUTE, Counters, Limit

MAX_SUBJECT_CHARS = 200  # a subject is a client address or an account name: longer ones are cut


class RateLimiter:
    """``per_minute`` events per subject in a sliding minute; over it, :class:`RateLimited` (429) with
    ``Retry-After`` and ``message``."""

    def __init__(self, counters: Counters, name: str, per_minute: int, message: str) -> None:
        self.counters = counters
        self.name = name
        self.per_minute = per_minute
        self.message = message

    def _limit(self, subject: str) -> Limit:
        return Limit(f"rate:{self.name}:{subject[:MAX_SUBJECT_CHARS]}", self.per_minute, 1, MINUTE, self.name)

    async def hit(self, *subjects: str | None) -> None:
        """Count one event for each subject (``None``: an unknown client, counted together), or refuse
        without counting any when one of them is over its limit."""
        limits = [self._limit(subject or "?") for subject in dict.fromkeys(subjects)]
        admission, _, wait = await self.counters.admit(limits, [])
        if admission is None:
            raise RateLimited(self.message, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
