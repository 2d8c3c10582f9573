"""Data-protection fixtures: Soberana over HTTP in front of a real OpenAI-compatible upstream, with
deployments of every sovereignty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from soberana.settings import Settings
from tests.conftest import TEST_SECRET, Tenant, make_tenant
from tests.gateway.conftest import LiveServer, Upstream, serve, upstream

__all__ = ["upstream"]  # the session-wide upstream server, shared with the gateway tests


def privacy_deployments(url: str) -> list[dict[str, object]]:
    abroad = {"provider": "openai_compat", "base_url": url, "sovereignty": "foreign_cloud"}
    return [
        {**abroad, "alias": "abroad", "model": "echo"},
        {**abroad, "alias": "abroad-chunks", "model": "chunks-3"},
        {**abroad, "alias": "mixed", "name": "mixed@abroad", "model": "echo", "order": 0},
        {
            "alias": "mixed",
            "name": "mixed@home",
            "provider": "openai_compat",
            "base_url": url,
            "model": "echo",
            "sovereignty": "on_premises",
            "order": 1,
        },
        {**abroad, "alias": "embed-abroad", "model": "echo", "capabilities": ["embeddings"]},
    ]


@pytest.fixture
def privacy_settings(db_url: str, tmp_path: Path, upstream: Upstream) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=privacy_deployments(upstream.url),
        upstream_retries=0,
        usage_flush_seconds=0.1,
    )


@pytest.fixture
async def live(privacy_settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(privacy_settings) as server:
        yield server


@pytest.fixture
async def tenant(live: LiveServer) -> Tenant:
    return await make_tenant(live.app, "agency-a")


@pytest.fixture
async def other_tenant(live: LiveServer) -> Tenant:
    return await make_tenant(live.app, "agency-b")
