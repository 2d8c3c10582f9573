"""Routing: the priority gate, strategies, retries with fallback, cooldown and health checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from soberana.errors import Overloaded, UpstreamUnavailable
from soberana.providers.base import (
    Completion,
    Provider,
    ProviderConnectionError,
    ProviderContext,
    ProviderHTTPError,
    Usage,
)
from soberana.providers.routing import (
    Deployment,
    LeastBusy,
    PriorityGate,
    PriorityOrder,
    RoundRobin,
    RoutePolicy,
    Router,
)
from soberana.settings import DeploymentConfig, Settings


async def test_gate_serves_waiters_by_priority_then_arrival() -> None:
    gate = PriorityGate(capacity=1, queue_limit=10)
    await gate.acquire("batch", 1)
    order: list[str] = []

    async def wait(name: str, priority: str) -> None:
        await gate.acquire(priority, 5)
        order.append(name)
        await asyncio.sleep(0)
        gate.release()

    tasks = []
    for name, priority in (("b1", "batch"), ("i1", "interactive"), ("c1", "critical"), ("i2", "interactive")):
        tasks.append(asyncio.create_task(wait(name, priority)))
        await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["c1", "i1", "i2", "b1"]
    assert gate.in_flight == 0


async def test_gate_sheds_batch_first_when_the_queue_is_full() -> None:
    gate = PriorityGate(capacity=1, queue_limit=2)
    await gate.acquire("interactive", 1)
    batch = asyncio.create_task(gate.acquire("batch", 5))
    interactive = asyncio.create_task(gate.acquire("interactive", 5))
    await asyncio.sleep(0)
    critical = asyncio.create_task(gate.acquire("critical", 5))  # queue full: the batch waiter gives way
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="gave way"):
        await batch
    with pytest.raises(Overloaded, match="batch request was shed"):
        await gate.acquire("batch", 5)  # a new batch request is shed at once
    gate.release()
    await critical
    gate.release()
    await interactive
    gate.release()
    assert gate.in_flight == 0


async def test_gate_wait_is_bounded() -> None:
    gate = PriorityGate(capacity=1, queue_limit=5)
    await gate.acquire("critical", 1)
    with pytest.raises(Overloaded, match="stayed at capacity"):
        await gate.acquire("critical", 0.05)
    assert gate.waiting == 0
    gate.release()
    assert gate.in_flight == 0


class Flaky(Provider):
    kind = "flaky"

    def __init__(self, config: DeploymentConfig, context: ProviderContext, failures: list[Exception]) -> None:
        super().__init__(config, context)
        self.failures = failures
        self.calls = 0
        self.healthy = True

    async def chat(self, body: dict[str, Any]) -> Completion:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return Completion(body=self.config.alias.encode(), usage=Usage(1, 1))

    async def health(self) -> bool:
        return self.healthy


def deployment(name: str, failures: list[Exception] | None = None, order: int = 0, weight: int = 1) -> Deployment:
    config = DeploymentConfig(alias=name, name=name, provider="flaky", order=order, weight=weight)
    provider = Flaky(config, ProviderContext(Settings()), failures or [])
    return Deployment(config=config, provider=provider, gate=PriorityGate(4, 10))


POLICY = RoutePolicy(retries=2, backoff_seconds=0.001, cooldown_failures=2, cooldown_seconds=60, wait_seconds=1)


async def test_retries_fall_back_and_cool_down() -> None:
    down = ProviderConnectionError("refused")
    primary, backup = deployment("primary", [down, down], order=0), deployment("backup", order=1)
    router = Router(POLICY)
    result, used, attempts = await router.run(
        [primary, backup], PriorityOrder(), "interactive", lambda d: d.provider.chat({})
    )
    assert (result.body, used.name, attempts) == (b"backup", "backup", 2)
    await router.run([primary, backup], PriorityOrder(), "interactive", lambda d: d.provider.chat({}))
    # Two consecutive failures: the primary is cooled down and no longer tried first.
    assert primary.needs_check and primary.failures == 2
    calls = primary.provider.calls  # type: ignore[attr-defined]
    _, used, attempts = await router.run(
        [primary, backup], PriorityOrder(), "interactive", lambda d: d.provider.chat({})
    )
    assert (used.name, attempts) == ("backup", 1)
    assert primary.provider.calls == calls  # type: ignore[attr-defined]
    # Once the cooldown is over, a passing health check brings it back.
    primary.cooldown_until = 0
    await router.health_check([primary])
    assert not primary.needs_check
    _, used, _ = await router.run([primary, backup], PriorityOrder(), "interactive", lambda d: d.provider.chat({}))
    assert used.name == "primary"


async def test_failing_health_check_keeps_it_out() -> None:
    sick = deployment("sick")
    sick.needs_check, sick.cooldown_until = True, 0
    sick.provider.healthy = False  # type: ignore[attr-defined]
    await Router(POLICY).health_check([sick])
    assert sick.needs_check and sick.cooldown_until > 0


async def test_client_errors_are_not_retried() -> None:
    bad = deployment("bad", [ProviderHTTPError("bad request", status=400, body=b'{"error": {"message": "no"}}')])
    other = deployment("other", order=1)
    from soberana.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="The model rejected the request: no"):
        await Router(POLICY).run([bad, other], PriorityOrder(), "interactive", lambda d: d.provider.chat({}))
    assert other.provider.calls == 0  # type: ignore[attr-defined]


async def test_all_down_names_the_last_deployment() -> None:
    down = [ProviderConnectionError("x") for _ in range(5)]
    a, b = deployment("a", down[:3]), deployment("b", down[3:], order=1)
    with pytest.raises(UpstreamUnavailable, match="Deployment 'a' is unreachable"):
        await Router(POLICY).run([a, b], PriorityOrder(), "batch", lambda d: d.provider.chat({}))


def test_strategies() -> None:
    a, b, c = deployment("a", order=2, weight=1), deployment("b", order=1, weight=2), deployment("c", order=3)
    assert [d.name for d in PriorityOrder().order([a, b, c])] == ["b", "a", "c"]
    rr = RoundRobin()
    firsts = [rr.order([a, b, c])[0].name for _ in range(8)]
    assert firsts.count("b") == 4 and firsts.count("a") == 2 and firsts.count("c") == 2  # weight 2 : 1 : 1
    a.gate.in_flight, b.gate.in_flight, c.gate.in_flight = 3, 0, 1
    assert [d.name for d in LeastBusy().order([a, b, c])] == ["b", "c", "a"]
