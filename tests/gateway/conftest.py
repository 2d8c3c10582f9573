"""Gateway fixtures: a real OpenAI-compatible upstream and a real Soberana server, both over HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web

from soberana.devtools.upstream import make_app as make_upstream
from soberana.settings import Settings
from soberana.web.app import create_app
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, Tenant, make_tenant


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Upstream:
    url: str  # ends in /v1

    def log(self) -> list[str]:
        return list(httpx.get(self.url.removesuffix("/v1") + "/_log").json())

    def requests(self) -> list[dict[str, Any]]:
        """Every chat request the upstream received, whole."""
        return list(httpx.get(self.url.removesuffix("/v1") + "/_requests").json())


@contextmanager
def aiohttp_server(app: web.Application) -> Iterator[int]:
    """Serve an aiohttp application in a thread of its own, on a free port (yielded)."""
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The minimal OpenAI-compatible server of soberana.devtools, in a thread of its own."""
    with aiohttp_server(make_upstream()) as port:
        yield Upstream(f"http://127.0.0.1:{port}/v1")


def gateway_deployments(upstream: Upstream, dead_url: str) -> list[dict[str, Any]]:
    return [
        MOCK_DEPLOYMENT,
        {
            "alias": "chat",
            "provider": "openai_compat",
            "model": "echo",
            "base_url": upstream.url,
            "sovereignty": "national_cloud",
            "price_input_per_mtok": 1000.0,
            "price_output_per_mtok": 2000.0,
            "params_billion": 8,
        },
        {"alias": "slow-stream", "provider": "openai_compat", "model": "delay-0.15", "base_url": upstream.url},
        {"alias": "too-slow", "provider": "openai_compat", "model": "slow-5", "base_url": upstream.url},
        {
            "alias": "broken",
            "name": "broken@dead-host",
            "provider": "openai_compat",
            "model": "echo",
            "base_url": dead_url,
        },
        {
            "alias": "failing",
            "name": "failing@upstream",
            "provider": "openai_compat",
            "model": "fail-500",
            "base_url": upstream.url,
        },
        {
            "alias": "resilient",
            "name": "resilient@primary",
            "provider": "openai_compat",
            "model": "echo",
            "base_url": dead_url,
            "order": 0,
        },
        {
            "alias": "resilient",
            "name": "resilient@fallback",
            "provider": "openai_compat",
            "model": "echo",
            "base_url": upstream.url,
            "order": 1,
        },
        {
            "alias": "narrow",
            "provider": "openai_compat",
            "model": "delay-0.8",
            "base_url": upstream.url,
            "max_concurrency": 1,
        },
        {
            "alias": "embed",
            "provider": "openai_compat",
            "model": "echo",
            "base_url": upstream.url,
            "capabilities": ["embeddings"],
        },
        {
            "alias": "reranker",
            "provider": "openai_compat",
            "model": "overlap",
            "base_url": upstream.url,
            "capabilities": ["rerank"],
        },
    ]


@pytest.fixture
def gateway_settings(db_url: str, tmp_path: Path, upstream: Upstream) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=gateway_deployments(upstream, f"http://127.0.0.1:{free_port()}/v1"),
        upstream_read_timeout_seconds=1.0,
        upstream_retries=1,
        upstream_backoff_seconds=0.01,
        usage_flush_seconds=0.2,
        priority_wait_seconds=5.0,
    )


@dataclass
class LiveServer:
    url: str
    app: Any
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """A clean shutdown, as on SIGTERM: the lifespan's shutdown runs."""
        if not self.task.done():
            self.server.should_exit = True
            await self.task


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveServer]:
    """Soberana served by uvicorn on a free port, inside the running event loop."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    live = LiveServer(f"http://127.0.0.1:{port}", app, server, task)
    try:
        yield live
    finally:
        await live.stop()


@pytest.fixture
async def live(gateway_settings: Settings) -> AsyncIterator[LiveServer]:
    """Soberana served by uvicorn on a free port, inside the test's event loop."""
    async with serve(gateway_settings) as server:
        yield server


@pytest.fixture
async def tenant(live: LiveServer) -> Tenant:
    return await make_tenant(live.app, "agency-a")
