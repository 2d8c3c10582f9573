"""Embedding pending passages: what the ingestor sends to the embeddings model."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pytest

from soberana.auth.principal import Principal, cli_principal
from soberana.knowledge.ingest import Ingestor
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection, page


class RecordingEmbedder:
    """Unit vectors for any text; remembers the texts of each request."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    async def embed(
        self,
        principal: Principal,
        model: str,
        texts: Sequence[str],
        *,
        kind: Literal["query", "passage"],
        classifications: Sequence[str] = (),
    ) -> Any:
        self.requests.append(list(texts))
        vectors = np.random.default_rng(len(self.requests)).standard_normal((len(texts), 384)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_passages_of_similar_length_are_embedded_together(app: Any, client: Any, tenant_a: Tenant) -> None:
    """An encoder pads a batch to its longest text: short and long passages stored in turn still go
    out in requests of short ones and requests of long ones."""
    collection = await make_collection(client, tenant_a, "mixed")
    stored, _ = await app.state.platform.knowledge.engine.ready()
    short, long = "Opening hours.", " ".join(["The library lends books, films and music to every resident."] * 8)
    await stored.store(collection["id"], [page(i, f"{long if i % 2 else short} ({i})") for i in range(16)])
    embedder = RecordingEmbedder()
    ingestor = Ingestor(app.state.platform.db, stored.indexes, embedder, batch=4, concurrency=2)

    embedded = await ingestor.embed_pending(collection["id"], cli_principal("test"), "any-model")

    assert embedded == 16 and await ingestor.pending(collection["id"]) == 0
    assert sorted(len(texts) for texts in embedder.requests) == [4, 4, 4, 4]
    lengths = sorted([len(text) for text in texts] for texts in embedder.requests)
    for shorter, longer in itertools.pairwise(lengths):
        assert max(shorter) <= min(longer)  # no request mixes short and long passages
