"""Routing a public model alias to its deployments.

- :class:`PriorityGate` caps one deployment's requests in flight. When it is full, waiting requests
  are served highest priority class first (``critical`` > ``interactive`` > ``batch``), each for a
  bounded time; when too many wait, the lowest class is shed first.
- A :class:`Strategy` orders an alias's deployments for each request: ``priority`` (lowest
  ``order`` first, the rest as fallbacks), ``round_robin`` (by weight) or ``least_busy``.
- :class:`Deployment` tracks consecutive failures; after ``cooldown_failures`` of them it is left out
  for ``cooldown_seconds`` and health-checked before it comes back.
- :meth:`Router.run` tries deployments in order, retrying connection errors, 429 and 5xx with
  exponential backoff.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from soberana.errors import InvalidRequest as ClientError
from soberana.errors import Overloaded, RateLimited, SoberanaError, UpstreamFailed, UpstreamTimeout, UpstreamUnavailable
from soberana.providers.base import Provider, ProviderConnectionError, ProviderError, ProviderHTTPError, ProviderTimeout
from soberana.settings import DeploymentConfig

T = TypeVar("T")
PRIORITY_RANK = {"critical": 0, "interactive": 1, "batch": 2}


class PriorityGate:
    """At most ``capacity`` holders at once; waiters are admitted by priority class, then arrival."""

    def __init__(self, capacity: int, queue_limit: int) -> None:
        self.capacity = capacity
        self.queue_limit = queue_limit
        self.in_flight = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, future in self._waiters if not future.done())

    async def acquire(self, priority: str, wait_seconds: float) -> None:
        if self.in_flight < self.capacity and not self.waiting:
            self.in_flight += 1
            return
        rank = PRIORITY_RANK[priority]
        if self.waiting >= self.queue_limit:
            live = [w for w in self._waiters if not w[2].done()]
            worst = max(live, key=lambda w: (w[0], w[1]))
            if worst[0] <= rank:
                raise Overloaded(f"The model is at capacity; a {priority} request was shed. Try again shortly.")
            worst[2].set_exception(
                Overloaded(
                    "The model is at capacity and this request gave way to a higher priority one. Try again shortly."
                )
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (rank, next(self._seq), future)
        heapq.heappush(self._waiters, entry)
        try:
            async with asyncio.timeout(wait_seconds):
                await future
        except TimeoutError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release()  # the slot arrived as the wait ran out: hand it on
            else:
                future.cancel()
            raise Overloaded(
                f"The model stayed at capacity for {wait_seconds:g} s. Try again shortly.", retry_after=wait_seconds
            ) from None
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release()
            else:
                future.cancel()
            raise

    def release(self) -> None:
        """Free a slot, handing it straight to the best waiter if there is one."""
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self.in_flight -= 1


@dataclass(eq=False)
class Deployment:
    """A provider instance serving an alias, with its health and its concurrency gate."""

    config: DeploymentConfig
    provider: Provider
    gate: PriorityGate
    failures: int = 0
    cooldown_until: float = 0.0
    needs_check: bool = False  # cooled down: stays out until a health check passes
    label: str = field(init=False)

    def __post_init__(self) -> None:
        self.label = self.config.name or f"{self.config.alias}@{self.config.provider}"

    @property
    def name(self) -> str:
        return self.label

    def cooled(self, now: float) -> bool:
        return self.needs_check or self.cooldown_until > now


class Strategy(ABC):
    name: ClassVar[str]

    @abstractmethod
    def order(self, deployments: list[Deployment]) -> list[Deployment]:
        """The order in which to try ``deployments`` for one request."""


class PriorityOrder(Strategy):
    name = "priority"

    def order(self, deployments: list[Deployment]) -> list[Deployment]:
        return sorted(deployments, key=lambda d: d.config.order)


class RoundRobin(Strategy):
    name = "round_robin"

    def __init__(self) -> None:
        self._counter = itertools.count()

    def order(self, deployments: list[Deployment]) -> list[Deployment]:
        wheel = [d for d in deployments for _ in range(d.config.weight)]
        start = next(self._counter) % len(wheel)
        ordered: list[Deployment] = []
        for d in wheel[start:] + wheel[:start]:
            if d not in ordered:
                ordered.append(d)
        return ordered


class LeastBusy(Strategy):
    name = "least_busy"

    def order(self, deployments: list[Deployment]) -> list[Deployment]:
        return sorted(deployments, key=lambda d: (d.gate.in_flight + d.gate.waiting) / d.gate.capacity)


STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (PriorityOrder, RoundRobin, LeastBusy)}


def _client_message(error: ProviderError) -> str:
    import orjson

    try:
        detail = orjson.loads(error.body or b"{}").get("error", {}).get("message")
    except (orjson.JSONDecodeError, AttributeError):
        detail = None
    return f"The model rejected the request: {detail}" if detail else error.message


def to_client_error(error: ProviderError, deployment: Deployment) -> SoberanaError:
    """What the client is told when ``deployment`` failed last."""
    name = deployment.name
    if isinstance(error, ProviderTimeout):
        return UpstreamTimeout(f"Deployment '{name}' did not answer in time.")
    if isinstance(error, ProviderConnectionError):
        return UpstreamUnavailable(f"Deployment '{name}' is unreachable.")
    if isinstance(error, ProviderHTTPError) and error.status == 429:
        return RateLimited(
            f"Deployment '{name}' is rate-limited by its provider. Try again shortly.",
            code="upstream_rate_limited",
            headers={"Retry-After": str(int(error.retry_after or 1))},
        )
    if error.status is not None and 400 <= error.status < 500:
        return ClientError(_client_message(error), code="upstream_rejected")
    return UpstreamFailed(f"Deployment '{name}' failed: {error.message}.")


@dataclass
class RoutePolicy:
    retries: int
    backoff_seconds: float
    cooldown_failures: int
    cooldown_seconds: float
    wait_seconds: float


class Router:
    """Runs one request against an alias's deployments, with retries, backoff, fallback and cooldown."""

    def __init__(self, policy: RoutePolicy) -> None:
        self.policy = policy

    def candidates(self, deployments: list[Deployment], strategy: Strategy) -> list[Deployment]:
        now = time.monotonic()
        ready = [d for d in deployments if not d.cooled(now)]
        cooled = sorted((d for d in deployments if d.cooled(now)), key=lambda d: d.cooldown_until)
        return strategy.order(ready) + cooled  # cooled ones only as a last resort

    def _failed(self, deployment: Deployment, error: ProviderError) -> None:
        if not error.retryable and not isinstance(error, ProviderTimeout):
            return
        deployment.failures += 1
        if deployment.failures >= self.policy.cooldown_failures:
            deployment.cooldown_until = time.monotonic() + self.policy.cooldown_seconds
            deployment.needs_check = True

    async def run(
        self,
        deployments: list[Deployment],
        strategy: Strategy,
        priority: str,
        call: Callable[[Deployment], Awaitable[T]],
        *,
        hold: bool = False,
    ) -> tuple[T, Deployment, int]:
        """Call ``call(deployment)`` until one succeeds; returns ``(result, deployment, attempts)``.

        With ``hold``, the winning deployment's concurrency slot stays taken: the caller releases it
        (``deployment.gate.release()``) when it has finished streaming.
        """
        order = self.candidates(deployments, strategy)
        last: tuple[ProviderError, Deployment] | None = None
        for attempt in range(self.policy.retries + 1):
            deployment = order[attempt % len(order)]
            if attempt:
                delay = self.policy.backoff_seconds * 2 ** (attempt - 1)
                if last and last[0].retry_after:
                    delay = max(delay, min(last[0].retry_after, 10.0))
                await asyncio.sleep(delay)
            await deployment.gate.acquire(priority, self.policy.wait_seconds)
            try:
                result = await call(deployment)
            except ProviderError as error:
                deployment.gate.release()
                self._failed(deployment, error)
                last = (error, deployment)
                if not error.retryable:
                    break
                continue
            except BaseException:
                deployment.gate.release()
                raise
            deployment.failures, deployment.needs_check = 0, False
            if not hold:
                deployment.gate.release()
            return result, deployment, attempt + 1
        assert last is not None
        raise to_client_error(*last)

    async def health_check(self, deployments: list[Deployment]) -> None:
        """Bring back cooled-down deployments whose cooldown is over and that answer a health check."""
        now = time.monotonic()
        for deployment in deployments:
            if deployment.needs_check and deployment.cooldown_until <= now:
                if await deployment.provider.health():
                    deployment.cooldown_until, deployment.failures, deployment.needs_check = 0.0, 0, False
                else:
                    deployment.cooldown_until = now + self.policy.cooldown_seconds
