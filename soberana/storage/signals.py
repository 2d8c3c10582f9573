"""Signals between server processes: "something changed, look again".

A signal carries no data: a process that hears one reads the change from the database, which stays the
one source of truth. A missed signal is therefore harmless as long as the listener also checks by
itself now and then (e.g. the register's enforcement checks a version number every second).

:class:`LocalSignals` is for one process (the embedded default): nothing to send. :class:`RedisSignals`
uses Redis publish/subscribe, so that every process behind a load balancer hears a change within
milliseconds; a lost connection is retried with a growing wait, and the listener is told when it is
back (it may have missed signals meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

PREFIX = "soberana:signal:"


class Signals(ABC):
    @abstractmethod
    async def publish(self, channel: str) -> None:
        """Tell every other process listening on ``channel`` to look again."""

    @abstractmethod
    def listen(self, channel: str, heard: Callable[[], None]) -> None:
        """Call ``heard`` (in this event loop) when ``channel`` is signalled, or when the connection came
        back after a loss. Needs a running event loop; :meth:`close` stops listening."""

    @abstractmethod
    async def close(self) -> None: ...


class LocalSignals(Signals):
    """One process: the one that makes a change knows it already; there is no one else to tell."""

    async def publish(self, channel: str) -> None:
        return None

    def listen(self, channel: str, heard: Callable[[], None]) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisSignals(Signals):
    def __init__(self, url: str, *, retry_seconds: float = 0.5, max_retry_seconds: float = 10.0) -> None:
        import redis.asyncio as aioredis

        self._client: Any = aioredis.from_url(url)
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._tasks: list[asyncio.Task[None]] = []

    async def publish(self, channel: str) -> None:
        try:
            await self._client.publish(PREFIX + channel, b"1")
        except Exception as exc:  # noqa: BLE001 - the others see the change by their own check: never fail it
            logger.warning("could not signal %s through Redis: %s", channel, type(exc).__name__)

    def listen(self, channel: str, heard: Callable[[], None]) -> None:
        self._tasks.append(asyncio.create_task(self._listen(PREFIX + channel, heard), name=f"soberana-{channel}"))

    async def _listen(self, channel: str, heard: Callable[[], None]) -> None:
        wait = self._retry
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel)
                    heard()  # (re)connected: what was sent while away is looked at now
                    wait = self._retry
                    async for _ in pubsub.listen():
                        heard()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any loss of Redis: wait, then listen again
                logger.warning("listening for %s on Redis failed (%s); retrying in %.1f s", channel, exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self._max_retry)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._client.aclose()
