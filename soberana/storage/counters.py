"""Counters for quotas and rate limits: per minute, per day, per calendar month, and concurrency.

The model gateway's quotas (requests and tokens per minute, tokens per day, monthly budget,
concurrent requests) and the rate limits of :mod:`soberana.storage.limits` count here.

Minute and day limits use a sliding window (the previous fixed window, weighted by how much of it
still overlaps, plus the current one) — exact enough, two numbers per counter. Budgets count the
calendar month (UTC). Each request is *admitted* with estimates (all limits checked and counted
atomically, or none), then *settled* with the provider's real usage.

:class:`MemoryCounters` keeps counters in this process; :class:`RedisCounters` keeps them in Redis
(one Lua script per admission), so several server processes share one limit.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MINUTE, DAY = 60, 86_400


@dataclass(frozen=True)
class Limit:
    """One limit to check for a request: ``amount`` more of ``kind`` must stay within ``limit``."""

    counter: str  # e.g. "org:org_…:tpm"
    limit: float
    amount: float
    window: int  # seconds; 0 for the calendar month
    label: str  # for the error message, e.g. "tokens per minute for your organisation"


@dataclass
class Admission:
    """What was counted for a request, so that settlement adjusts the same buckets."""

    buckets: dict[str, str]  # counter -> bucket key that was incremented
    concurrency: list[str]


def _bucket(counter: str, window: int, now: float) -> tuple[str, str, float]:
    """(current bucket, previous bucket, fraction of the current window elapsed)."""
    if window == 0:
        month = datetime.fromtimestamp(now, UTC).strftime("%Y-%m")
        return f"{counter}:{month}", "", 0.0
    index = int(now // window)
    return f"{counter}:{index}", f"{counter}:{index - 1}", (now % window) / window


def retry_after(limit: Limit, current: float, previous: float, elapsed: float, now: float) -> float:
    """Seconds until ``limit.amount`` more fits."""
    if limit.window == 0:
        today = datetime.fromtimestamp(now, UTC)
        first_next = datetime(today.year + (today.month == 12), today.month % 12 + 1, 1, tzinfo=UTC)
        return first_next.timestamp() - now
    window = limit.window
    room_needed = limit.limit - limit.amount
    rest_of_window = window * (1 - elapsed)
    if current <= 0:
        return max(1.0, rest_of_window)
    # In the next window the current count decays linearly: current × (1 − e) ≤ room_needed.
    fraction = 1 - room_needed / current if room_needed > 0 else 1.0
    return max(1.0, rest_of_window + window * min(max(fraction, 0.0), 1.0))


class Counters(ABC):
    """Where counts live."""

    @abstractmethod
    async def admit(
        self, limits: list[Limit], concurrency: list[tuple[str, int]]
    ) -> tuple[Admission | None, Limit | None, float]:
        """Count every limit and take a concurrency slot for each ``(counter, max)``, or none of them.

        Returns ``(admission, None, 0)`` when admitted, else ``(None, the limit that refused, retry_after)``.
        """

    @abstractmethod
    async def settle(self, admission: Admission, adjustments: dict[str, float]) -> None:
        """Add ``adjustments[counter]`` (actual minus estimate) and free the concurrency slots."""

    @abstractmethod
    async def seed(self, counter: str, window: int, value: float) -> None:
        """Set a counter's current bucket if it does not exist yet (budgets spent before a restart)."""

    async def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


class MemoryCounters(Counters):
    """Counters in this process: exact and fast, for a single server process."""

    def __init__(self) -> None:
        self._values: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._expiry: dict[str, float] = {}

    def _get(self, key: str) -> float:
        return self._values.get(key, 0.0) if key else 0.0

    def _gc(self, now: float) -> None:
        if len(self._expiry) > 100_000:
            for key in [k for k, until in self._expiry.items() if until < now]:
                self._values.pop(key, None)
                self._expiry.pop(key, None)

    async def admit(
        self, limits: list[Limit], concurrency: list[tuple[str, int]]
    ) -> tuple[Admission | None, Limit | None, float]:
        now = time.time()
        buckets: dict[str, str] = {}
        for limit in limits:
            current_key, previous_key, elapsed = _bucket(limit.counter, limit.window, now)
            current, previous = self._get(current_key), self._get(previous_key)
            used = current + previous * (1 - elapsed)
            if used + limit.amount > limit.limit:
                return None, limit, retry_after(limit, current, previous, elapsed, now)
            buckets[limit.counter] = current_key
        for counter, maximum in concurrency:
            if self._in_flight.get(counter, 0) >= maximum:
                return None, Limit(counter, maximum, 1, 0, "concurrent requests"), 1.0
        for limit in limits:
            key = buckets[limit.counter]
            self._values[key] = self._values.get(key, 0.0) + limit.amount
            self._expiry[key] = now + 2 * (limit.window or 31 * DAY)
        for counter, _ in concurrency:
            self._in_flight[counter] = self._in_flight.get(counter, 0) + 1
        self._gc(now)
        return Admission(buckets, [c for c, _ in concurrency]), None, 0.0

    async def settle(self, admission: Admission, adjustments: dict[str, float]) -> None:
        for counter, delta in adjustments.items():
            key = admission.buckets.get(counter)
            if key and delta:
                self._values[key] = max(0.0, self._values.get(key, 0.0) + delta)
        for counter in admission.concurrency:
            self._in_flight[counter] = max(0, self._in_flight.get(counter, 0) - 1)

    async def seed(self, counter: str, window: int, value: float) -> None:
        key, _, _ = _bucket(counter, window, time.time())
        self._values.setdefault(key, value)
        self._expiry.setdefault(key, time.time() + 2 * (window or 31 * DAY))


# KEYS: for each limit, current and previous bucket; then one key per concurrency counter.
# ARGV: n_limits, then per limit (limit, amount, elapsed, ttl), then n_conc, then per counter (max, ttl).
_ADMIT = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local base = 1 + (i - 1) * 4
  local limit, amount, elapsed = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = 0
  if KEYS[2 * i] ~= KEYS[2 * i - 1] then previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0') end
  if current + previous * (1 - elapsed) + amount > limit then
    return {i, tostring(current), tostring(previous)}
  end
end
local m = tonumber(ARGV[2 + n * 4])
for j = 1, m do
  local maximum = tonumber(ARGV[2 + n * 4 + (j - 1) * 2 + 1])
  if tonumber(redis.call('GET', KEYS[2 * n + j]) or '0') >= maximum then return {n + j, '0', '0'} end
end
for i = 1, n do
  local base = 1 + (i - 1) * 4
  redis.call('INCRBYFLOAT', KEYS[2 * i - 1], ARGV[base + 2])
  redis.call('EXPIRE', KEYS[2 * i - 1], tonumber(ARGV[base + 4]))
end
for j = 1, m do
  redis.call('INCR', KEYS[2 * n + j])
  redis.call('EXPIRE', KEYS[2 * n + j], tonumber(ARGV[2 + n * 4 + (j - 1) * 2 + 2]))
end
return {0, '0', '0'}
"""

_SETTLE = """
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBYFLOAT', KEYS[i], ARGV[1 + i]) end
end
for j = n + 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[j]) or '0') > 0 then redis.call('DECR', KEYS[j]) end
end
return 0
"""


class RedisCounters(Counters):
    """Counters in Redis, shared by every server process that uses the same ``redis_url``."""

    CONCURRENCY_TTL = 600  # a crashed process's slots free themselves after this long

    def __init__(self, url: str, prefix: str = "soberana:quota:") -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._admit = self._redis.register_script(_ADMIT)
        self._settle = self._redis.register_script(_SETTLE)

    async def admit(
        self, limits: list[Limit], concurrency: list[tuple[str, int]]
    ) -> tuple[Admission | None, Limit | None, float]:
        now = time.time()
        keys: list[str] = []
        args: list[Any] = [len(limits)]
        buckets: dict[str, str] = {}
        elapsed_of: list[float] = []
        for limit in limits:
            current_key, previous_key, elapsed = _bucket(limit.counter, limit.window, now)
            keys += [self._prefix + current_key, self._prefix + (previous_key or current_key)]
            args += [limit.limit, limit.amount, elapsed, int(2 * (limit.window or 31 * DAY))]
            buckets[limit.counter] = current_key
            elapsed_of.append(elapsed)
        args.append(len(concurrency))
        for counter, maximum in concurrency:
            keys.append(self._prefix + "conc:" + counter)
            args += [maximum, self.CONCURRENCY_TTL]
        refused, current, previous = await self._admit(keys=keys, args=args)
        refused = int(refused)
        if refused == 0:
            return Admission(buckets, [c for c, _ in concurrency]), None, 0.0
        if refused <= len(limits):
            limit = limits[refused - 1]
            return None, limit, retry_after(limit, float(current), float(previous), elapsed_of[refused - 1], now)
        counter, maximum = concurrency[refused - len(limits) - 1]
        return None, Limit(counter, maximum, 1, 0, "concurrent requests"), 1.0

    async def settle(self, admission: Admission, adjustments: dict[str, float]) -> None:
        changes = [(admission.buckets[c], d) for c, d in adjustments.items() if d and c in admission.buckets]
        if not changes and not admission.concurrency:
            return
        keys = [self._prefix + k for k, _ in changes] + [self._prefix + "conc:" + c for c in admission.concurrency]
        await self._settle(keys=keys, args=[len(changes), *[d for _, d in changes]])

    async def seed(self, counter: str, window: int, value: float) -> None:
        key, _, _ = _bucket(counter, window, time.time())
        await self._redis.set(self._prefix + key, value, nx=True, ex=int(2 * (window or 31 * DAY)))

    async def close(self) -> None:
        await self._redis.aclose()
