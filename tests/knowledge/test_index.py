"""The SQLite lexical index leaves very common question terms out once the index is large."""

from __future__ import annotations

from typing import Any

import pytest

from soberana.knowledge.index import Fts5Index
from soberana.knowledge.ingest import PreparedChunk, PreparedDocument, sha256
from soberana.knowledge.text import terms_text
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection


def page(number: int, text: str) -> PreparedDocument:
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_common_terms_are_left_out_of_large_indexes(app: Any, client: Any, tenant_a: Tenant) -> None:
    collection = await make_collection(client, tenant_a, "big")
    knowledge = app.state.knowledge
    ingestor, _ = await knowledge._ready()
    pages = [page(i, f"Every council permit needs form {i}.") for i in range(30)]
    pages.append(page(99, "A resident parking permit costs 45 euros."))
    await ingestor.store(collection["id"], pages)
    terms = terms_text(["council parking permit"], "en").split()  # "council" and "permit": in 30+ passages
    async with app.state.db.session() as session:
        full = await Fts5Index().search(session, [collection["id"]], terms, 50)
        pruned = await Fts5Index(prune_from=10, common_share=0.5).search(session, [collection["id"]], terms, 50)
        common = await Fts5Index(prune_from=10, common_share=0.5).search(
            session, [collection["id"]], ["council", "permit"], 50
        )
    assert len(full) == 31  # every passage holds a term of the question
    assert [chunk_id for chunk_id, _ in pruned] == [full[0][0]]  # only "parking" is searched: the same best passage
    assert len(common) == 30  # all terms common: the rarer one ("council") is kept
