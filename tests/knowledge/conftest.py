"""Knowledge fixtures: a third storage backend (PostgreSQL with pgvector), the real embedded
embedding model, and a collection filled through the HTTP API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from soberana.core.crypto import sha256_hex as sha256
from soberana.knowledge.ingest import PreparedChunk, PreparedDocument
from soberana.knowledge.text import terms_text
from soberana.settings import Settings
from tests.conftest import BACKENDS, MOCK_DEPLOYMENT, TEST_SECRET, Tenant

# SQLite (FTS5 + in-process vectors), the system PostgreSQL (full text + in-process vectors, as
# where pgvector is not installed) and PostgreSQL 16 with pgvector from the pgserver wheel.
KNOWLEDGE_BACKENDS = [*BACKENDS, "pgvector"]

E5 = {"alias": "multilingual-e5-small", "provider": "local_embeddings", "capabilities": ["embeddings"]}


@pytest.fixture(params=KNOWLEDGE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[MOCK_DEPLOYMENT, E5],
        knowledge_parse_workers=1,  # uploads are read in a sandboxed worker, as in production (one is enough)
    )


async def wait_for_job(client: httpx.AsyncClient, tenant: Tenant, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await client.get(f"/v1/ingest-jobs/{job_id}", headers=tenant.headers("staff"))).json()
        if job["finished_at"] is not None:
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def wait_for_vectors(client: httpx.AsyncClient, tenant: Tenant, collection_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = (await client.get(f"/v1/collections/{collection_id}", headers=tenant.headers("staff"))).json()
        if body["chunks"] and body["chunks_embedded"] == body["chunks"]:
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"collection {collection_id} was not embedded in time")


async def upload(
    client: httpx.AsyncClient, tenant: Tenant, collection_id: str, files: dict[str, bytes]
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/collections/{collection_id}/documents",
        headers=tenant.headers("staff"),
        files=[("files", (name, data)) for name, data in files.items()],
    )
    assert response.status_code == 202, response.text
    return await wait_for_job(client, tenant, response.json()["id"])


async def make_collection(
    client: httpx.AsyncClient, tenant: Tenant, name: str, visibility: str = "internal", title: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/collections",
        headers=tenant.headers("staff"),
        json={"name": name, "title": title or name.title(), "visibility": visibility},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def page(number: int, text: str) -> PreparedDocument:
    """A prepared one-passage English page, to store through the ingestor directly."""
    chunk = PreparedChunk(0, text, (), None, len(text.split()), text, sha256(text), "", terms_text([text], "en"))
    return PreparedDocument(
        key=f"page-{number}",
        title=f"Page {number}",
        format="text",
        content_hash=sha256(f"{number}{text}"),
        file_hash=None,
        source_url=None,
        language="en",
        published=None,
        modified=None,
        page_count=None,
        meta={},
        chunks=[chunk],
    )


from tests.gateway.conftest import upstream  # noqa: E402, F401 - the OpenAI-compatible test upstream fixture
