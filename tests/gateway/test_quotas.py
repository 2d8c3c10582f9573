"""Quota counters, in memory and in the real Redis at 127.0.0.1:6379, and shared across processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from soberana.auth.principal import Origin
from soberana.gateway.schemas import QuotaValues
from soberana.settings import Settings
from soberana.storage.counters import DAY, MINUTE, Counters, Limit, MemoryCounters, RedisCounters
from soberana.web.app import create_app
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, make_tenant
from tests.gateway.conftest import free_port

REDIS_URL = os.environ.get("SOBERANA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    prefix = f"soberana-test:{uuid.uuid4().hex}:"
    backend = RedisCounters(REDIS_URL, prefix=prefix)
    yield backend
    client = aioredis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await backend.close()


def rpm(counter: str, limit: float, amount: float = 1) -> Limit:
    return Limit(counter, limit, amount, MINUTE, f"test {counter}")


async def test_limit_is_enforced_with_retry_after(counters: Counters) -> None:
    for _ in range(3):
        admission, refused, _ = await counters.admit([rpm("k:rpm", 3)], [])
        assert admission is not None and refused is None
    admission, refused, wait = await counters.admit([rpm("k:rpm", 3)], [])
    assert admission is None
    assert refused is not None and refused.counter == "k:rpm"
    assert 1 <= wait <= 2 * MINUTE


async def test_all_limits_or_none_are_counted(counters: Counters) -> None:
    admission, _, _ = await counters.admit([rpm("a", 10), rpm("b", 1)], [])
    assert admission is not None
    refused_admission, refused, _ = await counters.admit([rpm("a", 10), rpm("b", 1)], [])
    assert refused_admission is None and refused is not None and refused.counter == "b"
    # "a" was not counted for the refused request: nine more fit.
    for _ in range(9):
        ok, _, _ = await counters.admit([rpm("a", 10)], [])
        assert ok is not None
    assert (await counters.admit([rpm("a", 10)], []))[0] is None


async def test_settlement_replaces_the_estimate_with_real_usage(counters: Counters) -> None:
    tokens = Limit("t:tpm", 100, 80, MINUTE, "tokens")
    admission, _, _ = await counters.admit([tokens], [])
    assert admission is not None
    assert (await counters.admit([tokens], []))[0] is None  # 80 + 80 > 100
    await counters.settle(admission, {"t:tpm": -70})  # really used 10
    assert (await counters.admit([tokens], []))[0] is not None  # 10 + 80 ≤ 100


async def test_concurrency_slots(counters: Counters) -> None:
    first, _, _ = await counters.admit([], [("c:concurrent", 1)])
    assert first is not None
    second, refused, _ = await counters.admit([], [("c:concurrent", 1)])
    assert second is None and refused is not None
    await counters.settle(first, {})
    assert (await counters.admit([], [("c:concurrent", 1)]))[0] is not None


async def test_budget_waits_for_next_month_and_seed_keeps_live_values(counters: Counters) -> None:
    budget = Limit("o:budget", 1.0, 0.6, 0, "budget")
    await counters.seed("o:budget", 0, 0.5)
    await counters.seed("o:budget", 0, 0.0)  # a second seed must not reset what is counted
    admission, refused, wait = await counters.admit([budget], [])
    assert admission is None and refused is budget
    assert 0 < wait <= 31 * DAY


async def test_two_gateway_processes_share_one_limit_through_redis(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[MOCK_DEPLOYMENT],
        redis_url=REDIS_URL,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        tenant = await make_tenant(app, "agency-a")
        from soberana.auth.principal import cli_principal

        async with app.state.platform.db.write_session() as session:
            await app.state.platform.gateway_admin.set_quota(
                session,
                cli_principal("pytest"),
                "api_key",
                tenant.staff_key_id,
                QuotaValues(requests_per_minute=3),
                Origin(),
            )
    ports = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")}
    env.update(
        {
            "SOBERANA_DATA_DIR": str(tmp_path / "data"),
            "SOBERANA_DATABASE_URL": db_url,
            "SOBERANA_SECRET_KEY": TEST_SECRET,
            "SOBERANA_REDIS_URL": REDIS_URL,
            "SOBERANA_DEMO_MODELS": "false",
            "SOBERANA_DEPLOYMENTS": '[{"alias": "mock-chat", "provider": "mock"}]',
        }
    )
    servers = [
        subprocess.Popen(  # noqa: ASYNC220 - starting servers, not waiting on them
            [sys.executable, "-m", "soberana", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            for port in ports:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "server did not start"
                    await asyncio.sleep(0.2)
            statuses = []
            for i in range(4):  # alternate between the two processes: A, B, A, B
                response = await http.post(
                    f"http://127.0.0.1:{ports[i % 2]}/v1/chat/completions",
                    headers=tenant.headers("staff"),
                    json={"model": "mock-chat", "messages": [{"role": "user", "content": "x"}]},
                )
                statuses.append(response.status_code)
            assert statuses == [200, 200, 200, 429]
            assert "retry-after" in response.headers
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(30)
        client = aioredis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(f"*{tenant.staff_key_id}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
