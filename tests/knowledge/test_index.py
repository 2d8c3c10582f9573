"""The SQLite lexical index leaves very common question terms out once the index is large; large
vector matrices are searched through 8-bit codes with exact rescoring."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from soberana.knowledge.index import Fts5Index, _Matrix, _quantized, _top
from soberana.knowledge.text import terms_text
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection, page


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_common_terms_are_left_out_of_large_indexes(app: Any, client: Any, tenant_a: Tenant) -> None:
    collection = await make_collection(client, tenant_a, "big")
    knowledge = app.state.platform.knowledge
    ingestor, _ = await knowledge.engine.ready()
    pages = [page(i, f"Every council permit needs form {i}.") for i in range(30)]
    pages.append(page(99, "A resident parking permit costs 45 euros."))
    await ingestor.store(collection["id"], pages)
    terms = terms_text(["council parking permit"], "en").split()  # "council" and "permit": in 30+ passages
    async with app.state.platform.db.session() as session:
        full = await Fts5Index().search(session, [collection["id"]], terms, 50)
        pruned = await Fts5Index(prune_from=10, common_share=0.5).search(session, [collection["id"]], terms, 50)
        common = await Fts5Index(prune_from=10, common_share=0.5).search(
            session, [collection["id"]], ["council", "permit"], 50
        )
    assert len(full) == 31  # every passage holds a term of the question
    assert [chunk_id for chunk_id, _ in pruned] == [full[0][0]]  # only "parking" is searched: the same best passage
    assert len(common) == 30  # all terms common: the rarer one ("council") is kept


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_long_question_keeps_its_rarest_terms_in_large_indexes(app: Any, client: Any, tenant_a: Tenant) -> None:
    collection = await make_collection(client, tenant_a, "big")
    ingestor, _ = await app.state.platform.knowledge.engine.ready()
    pages = [page(i, f"Residents apply for a council permit with form {i}.") for i in range(12)]
    pages.append(page(99, "The harbour mooring licence is renewed each spring."))
    await ingestor.store(collection["id"], pages)
    terms = terms_text(["residents council harbour mooring permit"], "en").split()
    async with app.state.platform.db.session() as session:
        two = await Fts5Index(prune_from=10, common_share=1.0, max_terms=2).search(
            session, [collection["id"]], terms, 50
        )
    assert len(terms) == 5
    assert [chunk_id for chunk_id, _ in two] == [two[0][0]] and len(two) == 1  # only "harbour", "mooring"


def test_quantized_search_ranks_like_the_exact_search() -> None:
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1000, 4000, dtype=np.int64)
    exact = _Matrix(1, ids, vectors)
    codes = _quantized(vectors, quantize_from=1000)
    assert codes is not None and _quantized(vectors, quantize_from=5000) is None  # small matrices stay exact
    quantized = _Matrix(1, ids, vectors, codes)
    for query in vectors[:20] + 0.05 * rng.standard_normal((20, 64)).astype(np.float32):
        query /= np.linalg.norm(query)
        want = sorted(_top(exact, query, 10), key=lambda h: -h[1])
        got = _top(quantized, query, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)  # exact scores, not codes'
