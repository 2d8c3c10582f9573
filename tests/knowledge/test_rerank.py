"""An optional rerank model re-orders the best fused passages (here the gateway's mock reranker,
which scores a passage by the share of the question's words it contains)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from soberana.providers.mock import overlap_rerank
from soberana.settings import DeploymentConfig, Settings
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection, upload, wait_for_vectors
from tests.knowledge.test_service import all_files


@pytest.fixture
def settings(settings: Settings) -> Settings:
    reranker = DeploymentConfig(alias="mock-rerank", provider="mock", capabilities=["rerank"])
    return settings.model_copy(
        update={"deployments": [*settings.deployments, reranker], "knowledge_rerank_model": "mock-rerank"}
    )


async def test_search_results_follow_the_rerank_model(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    collection = await make_collection(client, tenant_a, "reranked")
    await upload(client, tenant_a, collection["id"], all_files())
    await wait_for_vectors(client, tenant_a, collection["id"])
    query = "the price of a second car parking permit"
    response = await client.post(
        "/v1/search",
        headers=tenant_a.headers("staff"),
        json={"query": query, "collections": [collection["id"]], "limit": 8},
    )
    hits: list[dict[str, Any]] = response.json()["data"]
    documents = [" › ".join([h["title"], *h["heading_path"]]) + "\n" + h["text"] for h in hits]
    scores = {r["index"]: r["relevance_score"] for r in overlap_rerank(query, documents, "x")["results"]}
    assert [scores[i] for i in range(len(hits))] == sorted(scores.values(), reverse=True)
    assert scores[0] > scores[len(hits) - 1]
    models: set[str] = set()
    for _ in range(100):  # usage records are written in batches, about every second
        usage = await client.get("/v1/usage", headers=tenant_a.headers("staff"), params={"group_by": "model"})
        models = {row["group"] for row in usage.json()["data"]}
        if "mock-rerank" in models:
            break
        await asyncio.sleep(0.05)
    assert "mock-rerank" in models  # the rerank calls are metered like any model call
