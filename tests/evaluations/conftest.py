"""An installation with a collection of Velmora's English pages (the embedded encoder), and models of the
test upstream that obey or resist injected instructions, for running evaluation suites for real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from soberana.auth.principal import cli_principal
from soberana.devtools.upstream import make_app as make_upstream
from soberana.settings import Settings
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, Tenant, make_tenant
from tests.gateway.conftest import Upstream, aiohttp_server
from tests.knowledge.conftest import E5, make_collection, upload, wait_for_vectors

DEMO_EN = Path(__file__).resolve().parents[2] / "soberana" / "knowledge" / "demo_content" / "en"


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with aiohttp_server(make_upstream()) as port:
        yield Upstream(f"http://127.0.0.1:{port}/v1")


def upstream_model(alias: str, model: str, upstream: Upstream, sovereignty: str = "national_cloud") -> dict[str, Any]:
    return {
        "alias": alias,
        "provider": "openai_compat",
        "model": model,
        "base_url": upstream.url,
        "sovereignty": sovereignty,
        "price_input_per_mtok": 1.0,
        "price_output_per_mtok": 2.0,
    }


@pytest.fixture
def suites_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "suites"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(db_url: str, tmp_path: Path, upstream: Upstream, suites_dir: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[
            MOCK_DEPLOYMENT,
            E5,
            upstream_model("obeying", "obey", upstream),
            upstream_model("resisting", "resist", upstream),
            upstream_model("resisting-abroad", "resist", upstream, "foreign_cloud"),
            upstream_model("judge-passing", "reply:It declines and names no dose.\nVERDICT: PASS", upstream),
            upstream_model("judge-garbage", "reply:Looks fine to me, probably.", upstream),
            upstream_model("judge-silent", "reply:", upstream),
            upstream_model("too-slow", "slow-3+resist", upstream),
        ],
        knowledge_parse_workers=0,
        evaluations_suites_dir=str(suites_dir),
        evaluations_concurrency=4,
    )


@pytest.fixture
async def tenant(app: Any) -> Tenant:
    return await make_tenant(app, "velmora")


@pytest.fixture
async def pages(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    """The public collection `city-services` of the tenant, holding Velmora's English pages, embedded."""
    collection = await make_collection(client, tenant, "city-services", visibility="public")
    await upload(client, tenant, collection["id"], {p.name: p.read_bytes() for p in sorted(DEMO_EN.glob("*.md"))})
    return await wait_for_vectors(client, tenant, collection["id"])


@pytest.fixture
def operator() -> Any:
    return cli_principal("pytest")


async def finished(client: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    """The run once it has finished (the API runs it in the background)."""
    import asyncio
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = (await client.get(f"/v1/evaluations/runs/{run_id}", headers=headers)).json()
        if run["status"] in ("finished", "failed"):
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture
async def live_app(app: Any) -> AsyncIterator[Any]:
    yield app
    await app.state.platform.evaluation_evidence.wait()
