"""Collections end to end over HTTP, on SQLite, PostgreSQL and PostgreSQL + pgvector, with the real
embedded multilingual embedding model: ingestion of every file type, idempotent re-ingestion,
failures reported by file, cross-lingual hybrid search, extractive, generated and abstained
answers, tenant isolation, and the citizen conversation through hand-off to a staff reply."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from soberana.auth.principal import cli_principal
from soberana.auth.schemas import OrganisationUpdate
from soberana.knowledge import jobs as knowledge_jobs
from soberana.knowledge.ingest import Ingestor
from soberana.settings import DeploymentConfig
from tests.conftest import BACKENDS, Tenant
from tests.knowledge.conftest import make_collection, upload, wait_for_vectors
from tests.knowledge.test_parsing import make_pdf

PARKING_MD = b"""---
title: Resident parking permit
url: https://city.example/en/parking
---
# Resident parking permit

Residents of the Old Town can park in the green zone with a resident parking permit.

## Fees

| Permit | Price |
|---|---|
| First car | 45 euros per year |
| Second car | 90 euros per year |

## How to apply

1. Fill in form P-1 online.
2. Attach the vehicle registration certificate.

The permit is issued within five working days.
"""

WASTE_HTML = b"""<!doctype html><html lang="en"><head><title>Waste collection</title>
<link rel="canonical" href="https://city.example/en/waste"></head><body>
<nav>Home | Services | Contact</nav>
<main><h1>Waste collection</h1>
<h2>Collection days</h2><p>Organic waste in the brown bin is collected every Wednesday.</p>
<p>Mixed waste in the grey bin is collected on Mondays and Thursdays.</p>
<h2>Bulky waste</h2><ul><li>Book a pickup three working days ahead.</li>
<li>The first two pickups a year are free.</li></ul>
</main></body></html>"""

LIBRARY_TXT = (
    b"Library card\n\nAnyone who lives in the city can get a library card for free at any branch.\n\n"
    b"Bring an identity document. A lost card is replaced for 3 euros."
)

EVENTS_JSONL = (
    b'{"id": "concert", "title": "Summer concerts", "text": "Free concerts take place in the main square every '
    b'Friday evening in July and August.", "url": "https://city.example/en/concerts"}\n'
    b'{"id": "market", "title": "Farmers market", "text": "The farmers market opens every Saturday morning '
    b'from eight to two in the covered market hall."}\n'
)


def school_docx() -> bytes:
    from docx import Document

    document = Document()
    document.core_properties.title = "School enrolment"
    document.add_heading("School enrolment", level=1)
    document.add_heading("Dates", level=2)
    document.add_paragraph("Applications for a school place are made from 1 to 31 March.")
    document.add_paragraph("The final list of admitted pupils is published on 15 May.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def tax_pdf() -> bytes:
    return make_pdf(
        [["Property tax", "The property tax is paid in one instalment between 1 April and 30 June."]],
        {"Title": "Property tax"},
    )


def all_files() -> dict[str, bytes]:
    return {
        "parking.md": PARKING_MD,
        "waste.html": WASTE_HTML,
        "library.txt": LIBRARY_TXT,
        "events.jsonl": EVENTS_JSONL,
        "school.docx": school_docx(),
        "tax.pdf": tax_pdf(),
    }


async def filled(client: httpx.AsyncClient, tenant: Tenant, visibility: str = "internal") -> dict[str, Any]:
    collection = await make_collection(client, tenant, "city-services", visibility)
    job = await upload(client, tenant, collection["id"], all_files())
    assert job["status"] == "succeeded", job
    return await wait_for_vectors(client, tenant, collection["id"])


async def documents(client: httpx.AsyncClient, tenant: Tenant, collection_id: str) -> dict[str, dict[str, Any]]:
    body = (await client.get(f"/v1/collections/{collection_id}/documents", headers=tenant.headers("staff"))).json()
    return {d["key"]: d for d in body["data"]}


async def search(
    client: httpx.AsyncClient, tenant: Tenant, collection_id: str, query: str, **extra: Any
) -> list[dict[str, Any]]:
    response = await client.post(
        "/v1/search", headers=tenant.headers("staff"), json={"query": query, "collections": [collection_id], **extra}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_every_file_type_is_ingested_with_its_metadata(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    collection = await filled(client, tenant_a)
    assert collection["documents"] == 7  # six files, the JSON Lines file holding two records
    assert collection["chunks_embedded"] == collection["chunks"] > 7
    docs = await documents(client, tenant_a, collection["id"])
    assert {k: d["format"] for k, d in docs.items()} == {
        "parking.md": "markdown",
        "waste.html": "html",
        "library.txt": "text",
        "events.jsonl#concert": "jsonl",
        "events.jsonl#market": "jsonl",
        "school.docx": "docx",
        "tax.pdf": "pdf",
    }
    assert docs["parking.md"]["title"] == "Resident parking permit"
    assert docs["waste.html"]["source_url"] == "https://city.example/en/waste"
    assert docs["events.jsonl#concert"]["source_url"] == "https://city.example/en/concerts"
    assert docs["school.docx"]["title"] == "School enrolment"
    assert docs["tax.pdf"]["page_count"] == 1
    assert {d["language"] for d in docs.values()} == {"en"}  # detected: none of the files declares it

    hits = await search(client, tenant_a, collection["id"], "parking price of a second car", method="lexical")
    assert hits[0]["title"] == "Resident parking permit"
    assert hits[0]["heading_path"][-1] == "Fees"
    assert "90 euros" in hits[0]["text"]  # the fee table stayed whole in one passage


async def test_reingesting_skips_unchanged_files_and_replaces_changed_ones(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await filled(client, tenant_a)
    again = await upload(client, tenant_a, collection["id"], all_files())
    assert (again["documents_added"], again["documents_updated"], again["documents_unchanged"]) == (0, 0, 7)
    assert again["chunks_added"] == 0

    changed = PARKING_MD.replace(b"90 euros", b"120 euros").replace(b"five working days", b"ten working days")
    job = await upload(client, tenant_a, collection["id"], {"parking.md": changed})
    assert (job["documents_added"], job["documents_updated"]) == (0, 1)
    after = await wait_for_vectors(client, tenant_a, collection["id"])
    assert after["documents"] == 7 and after["chunks"] == collection["chunks"]
    texts = " ".join(h["text"] for h in await search(client, tenant_a, collection["id"], "second car price", limit=20))
    assert "120 euros" in texts and "90 euros" not in texts

    fewer = await upload(client, tenant_a, collection["id"], {"events.jsonl": EVENTS_JSONL.splitlines()[0] + b"\n"})
    assert fewer["documents_unchanged"] == 1
    assert set(await documents(client, tenant_a, collection["id"])) >= {"events.jsonl#concert"}
    assert "events.jsonl#market" not in await documents(client, tenant_a, collection["id"])


async def test_a_broken_file_is_reported_by_name_and_the_others_are_kept(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await make_collection(client, tenant_a, "mixed")
    job = await upload(
        client,
        tenant_a,
        collection["id"],
        {
            "parking.md": PARKING_MD,
            "broken.pdf": b"%PDF-1.7\nthis is not a PDF",
            "notes.xyz": b"?",
            "tax.pdf": tax_pdf(),
        },
    )
    assert job["status"] == "partial"
    assert job["files_done"] == job["files_total"] == 4
    assert [e["file"] for e in job["errors"]] == ["broken.pdf", "notes.xyz"]
    assert "broken.pdf" in job["errors"][0]["message"]
    assert set(await documents(client, tenant_a, collection["id"])) == {"parking.md", "tax.pdf"}


async def test_a_file_that_cannot_be_stored_is_named_and_the_rest_of_its_group_kept(
    client: httpx.AsyncClient, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are stored a group at a time, in one transaction; when a group's transaction fails, its
    files are stored one by one, so the failure is reported by name and the others are kept."""
    monkeypatch.setattr(knowledge_jobs, "JOB_GROUP_FILES", 2)
    real = Ingestor._store_one

    async def refuse_one(self: Ingestor, session: Any, collection_id: str, doc: Any, result: Any) -> None:
        if doc.key == "c.md":
            raise RuntimeError("disk full")
        await real(self, session, collection_id, doc, result)

    monkeypatch.setattr(Ingestor, "_store_one", refuse_one)
    collection = await make_collection(client, tenant_a, "grouped")
    files = {f"{x}.md": f"# Page {x}\n\nOpening hours of service {x}.".encode() for x in "abcde"}
    job = await upload(client, tenant_a, collection["id"], files)
    assert job["status"] == "partial"
    assert job["files_done"] == job["files_total"] == 5
    assert [e["file"] for e in job["errors"]] == ["c.md"]
    assert job["documents_added"] == 4
    assert set(await documents(client, tenant_a, collection["id"])) == {"a.md", "b.md", "d.md", "e.md"}


async def test_a_spanish_question_finds_the_english_page(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    collection = await filled(client, tenant_a)
    question = "¿Cuánto cuesta el permiso de aparcamiento para el segundo coche?"
    hybrid = await search(client, tenant_a, collection["id"], question)
    assert hybrid[0]["title"] == "Resident parking permit"
    assert hybrid[0]["dense_score"] is not None
    # English passages also carry their cognate match with the Spanish question ("permiso" → "perm…")
    assert hybrid[0]["cognate_score"] is not None and hybrid[0]["cognate_score"] > 0
    lexical = await search(client, tenant_a, collection["id"], question, method="lexical")
    assert all(h["cognate_score"] is None for h in lexical)  # scored in hybrid search only
    assert all(h["title"] != "Resident parking permit" for h in lexical[:1])  # words alone cannot cross languages


async def test_the_full_text_search_runs_while_the_question_is_embedded(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The question's embedding waits here until the full-text search has answered: a search that
    embedded first and searched the words after would never finish."""
    collection = await filled(client, tenant_a)
    _, retriever = await app.state.platform.knowledge.engine.ready()
    searched = asyncio.Event()
    real_search, real_embed = retriever.indexes.lexical.search, retriever.embedder.embed

    async def search_and_tell(*args: Any, **kwargs: Any) -> Any:
        found = await real_search(*args, **kwargs)
        searched.set()
        return found

    async def embed_after_the_search(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("kind") == "query":
            await asyncio.wait_for(searched.wait(), 10)
        return await real_embed(*args, **kwargs)

    monkeypatch.setattr(retriever.indexes.lexical, "search", search_and_tell)
    monkeypatch.setattr(retriever.embedder, "embed", embed_after_the_search)
    hits = await search(client, tenant_a, collection["id"], "How much is the permit for a second car?")
    assert searched.is_set()
    assert hits[0]["title"] == "Resident parking permit"
    assert hits[0]["dense_score"] is not None


async def test_extractive_answer_quotes_and_cites_retrieved_passages(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await filled(client, tenant_a)
    question = "How much is the parking permit for a second car?"
    response = await client.post(
        "/v1/answers", headers=tenant_a.headers("staff"), json={"question": question, "collections": [collection["id"]]}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["mode"] == "extractive" and answer["flags"] == ["excerpts"]
    assert answer["language"] == "en" and not answer["handoff_offered"]
    assert "90 euros" in answer["answer"]
    retrieved = {h["chunk_id"]: h["text"] for h in await search(client, tenant_a, collection["id"], question, limit=8)}
    assert answer["citations"]
    for cited in answer["citations"]:
        assert cited["chunk_id"] in retrieved
        for quote in cited["quote"].split(" … "):
            assert quote in retrieved[cited["chunk_id"]]
        assert f"[{cited['index']}]" in answer["answer"]
    assert answer["citations"][0]["title"] == "Resident parking permit"
    assert answer["citations"][0]["url"] == "https://city.example/en/parking"


async def test_an_off_topic_question_is_not_answered(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    collection = await filled(client, tenant_a)
    for question in ("Who won the football world cup in 2010?", "¿Quién ganó el mundial de fútbol de 2010?"):
        answer = (
            await client.post(
                "/v1/answers",
                headers=tenant_a.headers("staff"),
                json={"question": question, "collections": [collection["id"]]},
            )
        ).json()
        assert answer["mode"] == "abstained", answer
        assert answer["handoff_offered"] and answer["citations"] == []
        # the embedded default's fitted decision: the probability that the passages answer, below its cut
        assert answer["answerability"] is not None and answer["answerability"] < answer["threshold"]
    assert "persona" in answer["answer"]  # abstained in the question's language


@pytest.fixture
def settings(settings: Any, upstream: Any) -> Any:
    """Adds a chat model (the test upstream) that always gives the same answer, with a bogus citation."""
    fixed = "The second car costs 90 euros per year [1]. Pets ride free [12]. Apply with form P-1 [2, 19]."
    answer_model = {
        "alias": "answer-model",
        "provider": "openai_compat",
        "model": f"reply:{fixed}",
        "base_url": upstream.url,
    }
    abroad = {**answer_model, "alias": "answer-abroad", "model": "echo", "sovereignty": "foreign_cloud"}
    embed_abroad = {**abroad, "alias": "embed-abroad", "capabilities": ["embeddings"]}
    broken = {**answer_model, "alias": "answer-broken", "model": "fail-500"}
    deployments = [
        *settings.deployments,
        DeploymentConfig(**answer_model),
        DeploymentConfig(**abroad),
        DeploymentConfig(**embed_abroad),
        DeploymentConfig(**broken),
    ]
    return settings.model_copy(update={"deployments": deployments})


async def test_generated_answer_loses_citations_to_passages_not_retrieved(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await filled(client, tenant_a)
    response = await client.post(
        "/v1/answers",
        headers=tenant_a.headers("staff"),
        json={"question": "How much for a second car?", "collections": [collection["id"]], "model": "answer-model"},
    )
    answer = response.json()
    assert answer["mode"] == "generated" and answer["model"] == "answer-model"
    assert "invalid_citation_removed" in answer["flags"]
    assert "[12]" not in answer["answer"] and "19]" not in answer["answer"]  # at most 8 passages were retrieved
    assert "[1]" in answer["answer"] and "[2]" in answer["answer"]
    assert [c["index"] for c in answer["citations"]] == [1, 2]
    retrieved = await search(client, tenant_a, collection["id"], "How much for a second car?", limit=8)
    assert [c["chunk_id"] for c in answer["citations"]] == [h["chunk_id"] for h in retrieved[:2]]


async def test_collections_are_isolated_between_organisations(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    internal = await make_collection(client, tenant_a, "internal-notes")
    public = await make_collection(client, tenant_a, "public-pages", "public")
    await upload(client, tenant_a, public["id"], {"parking.md": PARKING_MD})
    b = tenant_b.headers("staff")
    listed = {c["id"] for c in (await client.get("/v1/collections", headers=b)).json()["data"]}
    assert internal["id"] not in listed and public["id"] not in listed
    assert (await client.get(f"/v1/collections/{internal['id']}", headers=b)).status_code == 404
    assert (await client.get(f"/v1/collections/{internal['id']}/documents", headers=b)).status_code == 404
    refused = await client.post("/v1/search", headers=b, json={"query": "parking", "collections": [internal["id"]]})
    assert refused.status_code == 404 and refused.json()["error"]["param"] == "collections"
    # A public collection can be searched by anyone, but changed only by its organisation.
    assert (
        await client.post("/v1/search", headers=b, json={"query": "parking", "collections": [public["id"]]})
    ).status_code == 200
    upload_b = await client.post(
        f"/v1/collections/{public['id']}/documents", headers=b, files=[("files", ("x.md", b"# X\n\ntext"))]
    )
    assert upload_b.status_code == 404
    assert (await client.delete(f"/v1/collections/{public['id']}", headers=b)).status_code == 404
    # A name resolves in the caller's organisation only.
    assert (await client.get("/v1/collections/internal-notes", headers=b)).status_code == 404
    assert (await client.get("/v1/collections/internal-notes", headers=tenant_a.headers("staff"))).status_code == 200


async def test_deleting_a_collection_empties_its_search_indexes(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await filled(client, tenant_a)
    kept = await make_collection(client, tenant_a, "kept")
    await upload(client, tenant_a, kept["id"], {"library.txt": LIBRARY_TXT})
    deleted = await client.delete(f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"))
    assert deleted.status_code == 204
    assert (
        await client.get(f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"))
    ).status_code == 404
    _, retriever = await app.state.platform.knowledge.engine.ready()
    async with retriever.db.session() as session:
        for table in ("knowledge_fts", "knowledge_fts_documents"):
            count = await session.scalar(text(f"SELECT count(*) FROM {table}"))
            assert count == 1, table  # the other collection's one passage and page


async def test_keys_without_the_knowledge_scope_cannot_change_collections(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    response = await client.post(
        "/v1/collections", headers=tenant_a.headers("auditor"), json={"name": "x", "title": "X"}
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


async def test_citizen_conversation_reaches_staff_and_their_reply_comes_back(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    await filled(client, tenant_a, "public")
    opened = await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/city-services"})
    assert opened.status_code == 201, opened.text
    conversation = opened.json()
    cid, token = conversation["id"], {"X-Conversation-Token": conversation["token"]}

    first = (
        await client.post(
            f"/v1/conversations/{cid}/messages", headers=token, json={"question": "When is organic waste collected?"}
        )
    ).json()
    assert first["mode"] == "extractive" and "Wednesday" in first["answer"]
    follow_up = (
        await client.post(f"/v1/conversations/{cid}/messages", headers=token, json={"question": "And mixed waste?"})
    ).json()
    assert "Mondays and Thursdays" in follow_up["answer"]  # read together with the first question

    assert (await client.get(f"/v1/conversations/{cid}")).status_code == 401
    assert (await client.get(f"/v1/conversations/{cid}", headers={"X-Conversation-Token": "wrong"})).status_code == 401
    feedback = await client.post(
        f"/v1/conversations/{cid}/feedback",
        headers=token,
        json={"message_id": first["id"], "helpful": False, "reason": "incomplete"},
    )
    assert feedback.status_code == 201
    again = await client.post(
        f"/v1/conversations/{cid}/feedback", headers=token, json={"message_id": first["id"], "helpful": True}
    )
    assert again.status_code == 409

    case = await client.post(
        f"/v1/conversations/{cid}/handoff", headers=token, json={"reason": "I need to book a pickup"}
    )
    assert case.status_code == 201 and case.json()["status"] == "open"
    staff = tenant_a.headers("staff")
    queue = (await client.get("/v1/handoff-cases", headers=staff, params={"status": "open"})).json()["data"]
    assert [c["id"] for c in queue] == [case.json()["id"]]
    assert (await client.get("/v1/handoff-cases", headers=tenant_b.headers("staff"))).json()["data"] == []
    assert (
        await client.get(f"/v1/handoff-cases/{queue[0]['id']}", headers=tenant_b.headers("staff"))
    ).status_code == 404
    seen = (await client.get(f"/v1/handoff-cases/{queue[0]['id']}", headers=staff)).json()
    assert [m["role"] for m in seen["messages"]] == ["user", "assistant", "user", "assistant"]
    reply = await client.post(
        f"/v1/handoff-cases/{queue[0]['id']}/replies",
        headers=staff,
        json={"message": "We have booked a pickup for Monday.", "close": True},
    )
    assert reply.status_code == 201

    transcript = (await client.get(f"/v1/conversations/{cid}", headers=token)).json()
    assert transcript["messages"][-1]["role"] == "staff"
    assert transcript["messages"][-1]["content"] == "We have booked a pickup for Monday."
    assert transcript["handoff"]["status"] == "closed"

    assert (await client.delete(f"/v1/conversations/{cid}", headers=token)).status_code == 204
    assert (await client.get(f"/v1/conversations/{cid}", headers=token)).status_code == 404
    actions = [e["action"] for e in (await client.get("/admin/audit", headers=tenant_a.headers())).json()["data"]]
    assert {"knowledge.handoff.opened", "knowledge.handoff.replied", "knowledge.conversation.erased"} <= set(actions)


async def test_internal_collections_have_no_citizen_assistant(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await make_collection(client, tenant_a, "staff-only")
    refused = await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/staff-only"})
    assert refused.status_code == 404


async def test_chat_completions_answer_from_collections_with_checked_citations(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await filled(client, tenant_a)
    question = "How much for a second car?"
    request = {
        "model": "answer-model",
        "messages": [{"role": "user", "content": question}],
        "knowledge": {"collections": [collection["id"]], "top_k": 5},
    }
    response = await client.post("/v1/chat/completions", headers=tenant_a.headers("staff"), json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    content = body["choices"][0]["message"]["content"]
    assert "[1]" in content and "[12]" not in content
    assert body["soberana_flags"] == ["invalid_citation_removed"]
    retrieved = await search(client, tenant_a, collection["id"], question, limit=5)
    assert [c["chunk_id"] for c in body["citations"]] == [h["chunk_id"] for h in retrieved[:2]]

    streamed = await client.post(
        "/v1/chat/completions", headers=tenant_a.headers("staff"), json={**request, "stream": True}
    )
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    final = json.loads(events[-2])
    assert final["choices"] == [] and [c["index"] for c in final["citations"]] == [1, 2]
    assert "streamed_text_not_corrected" in final["soberana_flags"]

    bad = await client.post(
        "/v1/chat/completions",
        headers=tenant_a.headers("staff"),
        json={**request, "knowledge": {"collections": []}},
    )
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "knowledge.collections"
    other = await client.post(
        "/v1/chat/completions",
        headers=tenant_a.headers("staff"),
        json={**request, "knowledge": {"collections": ["col_01M8AYNAVHQ5ZYTY6160T3N212"]}},
    )
    assert other.status_code == 404


async def test_answers_keep_personal_data_and_classified_collections_at_home(
    client: httpx.AsyncClient, tenant_a: Tenant, upstream: Any
) -> None:
    collection = await filled(client, tenant_a)
    question = "What does the resident parking permit for a second car cost? I am Margaret Thompson."
    response = await client.post(
        "/v1/answers",
        headers=tenant_a.headers("staff"),
        json={"question": question, "collections": [collection["id"]], "model": "answer-abroad"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == "generated", response.json()
    sent = upstream.log()[-1]
    assert "Margaret Thompson" not in sent and "<PERSON_1>" in sent  # pseudonymised before it left
    assert "Margaret Thompson" in response.json()["answer"]  # and restored in the answer
    secret = await client.post(
        "/v1/collections",
        headers=tenant_a.headers("staff"),
        json={"name": "case-files", "title": "Case files", "classification": "confidential"},
    )
    assert secret.status_code == 201
    before = len(upstream.log())
    refused = await client.post(
        "/v1/answers",
        headers=tenant_a.headers("staff"),
        json={"question": question, "collections": [secret.json()["id"], collection["id"]], "model": "answer-abroad"},
    )
    # the answer reads a confidential collection: the foreign model may not see its passages
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "classification_not_permitted"
    assert len(upstream.log()) == before
    unknown = await client.post(
        "/v1/collections",
        headers=tenant_a.headers("staff"),
        json={"name": "odd", "title": "Odd", "classification": "top-secret"},
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "classification"


async def test_ingestion_redacts_personal_data_when_the_policy_says_so(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    policy = await client.put(
        f"/admin/privacy/policies/organisations/{tenant_a.org_id}",
        headers=tenant_a.headers("admin"),
        json={"ingestion": "redact"},
    )
    assert policy.status_code == 200, policy.text
    collection = await make_collection(client, tenant_a, "case-notes")
    note = (
        b"# Housing benefit appeal\n\nThe appeal of Margaret Thompson (phone 020 7946 0018, "
        b"margaret.thompson@example.org) was heard on Tuesday. The housing benefit was restored.\n"
    )
    job = await upload(client, tenant_a, collection["id"], {"appeal.md": note})
    assert job["status"] == "succeeded", job
    hits = await search(client, tenant_a, collection["id"], "housing benefit appeal", method="lexical")
    assert hits and "<PERSON>" in hits[0]["text"] and "<PHONE>" in hits[0]["text"] and "<EMAIL>" in hits[0]["text"]
    assert "Thompson" not in hits[0]["text"] and "7946" not in hits[0]["text"]
    assert await search(client, tenant_a, collection["id"], "Thompson", method="lexical") == []


async def test_erasing_a_citizen_conversation_forgets_its_placeholders(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    knowledge = app.state.platform.knowledge
    monkeypatch.setattr(
        knowledge, "settings", knowledge.settings.model_copy(update={"knowledge_answer_model": "answer-abroad"})
    )
    await filled(client, tenant_a, "public")
    opened = (await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/city-services"})).json()
    cid, token = opened["id"], {"X-Conversation-Token": opened["token"]}
    question = "What does the resident parking permit for a second car cost? I am Margaret Thompson."
    answer = (await client.post(f"/v1/conversations/{cid}/messages", headers=token, json={"question": question})).json()
    assert answer["mode"] == "generated", answer
    assert "Margaret Thompson" not in upstream.log()[-1] and "Margaret Thompson" in answer["answer"]
    async with app.state.platform.db.session() as session:
        stored = (await session.execute(text("SELECT count(*) FROM privacy_vault"))).scalar_one()
    assert stored == 1  # <PERSON_1>, sealed, for this conversation only
    erased = await client.delete(f"/v1/conversations/{cid}", headers=token)
    assert erased.status_code == 204
    async with app.state.platform.db.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM privacy_vault"))).scalar_one() == 0
    assert (await client.get(f"/v1/conversations/{cid}", headers=token)).status_code == 404


async def test_a_confidential_collection_is_not_embedded_abroad(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    from soberana.errors import ClassificationNotPermitted
    from soberana.knowledge.models import Collection

    response = await client.post(
        "/v1/collections",
        headers=tenant_a.headers("staff"),
        json={"name": "cases", "title": "Cases", "classification": "confidential", "embedding_model": "embed-abroad"},
    )
    assert response.status_code == 201, response.text
    job = await upload(client, tenant_a, response.json()["id"], {"note.md": b"# Case\n\nA confidential case note."})
    assert job["status"] == "succeeded"
    async with app.state.platform.db.session() as session:
        collection = await session.get(Collection, response.json()["id"])
    with pytest.raises(ClassificationNotPermitted):
        await app.state.platform.jobs.embed_pending(collection)
    body = (await client.get(f"/v1/collections/{collection.id}", headers=tenant_a.headers("staff"))).json()
    assert body["chunks"] >= 1 and body["chunks_embedded"] == 0  # searchable by words only, nothing sent abroad


async def test_chat_with_knowledge_is_handled_at_its_collections_classification(
    client: httpx.AsyncClient, tenant_a: Tenant, upstream: Any
) -> None:
    collection = await filled(client, tenant_a)
    patch = await client.patch(
        f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"), json={"classification": "secret"}
    )
    assert patch.status_code == 200, patch.text
    before = len(upstream.log())
    request = {
        "model": "answer-abroad",
        "messages": [{"role": "user", "content": "How much for a second car?"}],
        "knowledge": {"collections": [collection["id"]]},
    }
    for stream in (False, True):
        response = await client.post(
            "/v1/chat/completions", headers=tenant_a.headers("staff"), json={**request, "stream": stream}
        )
        assert response.status_code == 403, response.text  # the passages are secret: not for a foreign model
        assert response.json()["error"]["code"] == "classification_not_permitted"
    assert len(upstream.log()) == before


async def test_whole_pages_are_indexed_for_full_text_and_follow_their_changes(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """The document-level full-text index: one row per page, found by words from several of its
    sections; a changed page is indexed anew, a removed one leaves the index, and pages stored before
    the index existed are indexed by the knowledge worker (the migration only creates the table)."""
    from soberana.knowledge.backfill import index_unindexed_documents
    from soberana.knowledge.text import analyse
    from soberana.storage import migrate

    collection = await filled(client, tenant_a)
    _, retriever = await app.state.platform.knowledge.engine.ready()

    async def pages(words: str) -> list[str]:
        keys = {d["id"]: key for key, d in (await documents(client, tenant_a, collection["id"])).items()}
        async with retriever.db.session() as session:
            found = await retriever.indexes.lexical.search_documents(
                session, [collection["id"]], analyse(words, "en"), 10
            )
        return [keys[d] for d, _ in found]

    async def rows() -> int:
        async with retriever.db.session() as session:
            return int(await session.scalar(text("SELECT count(*) FROM knowledge_fts_documents")) or 0)

    # "green zone" is in the introduction, "registration certificate" under "How to apply"
    assert (await pages("green zone registration certificate"))[0] == "parking.md"
    assert await rows() == 7

    changed = PARKING_MD.replace(b"90 euros", b"120 euros")
    assert (await upload(client, tenant_a, collection["id"], {"parking.md": changed}))["documents_updated"] == 1
    await wait_for_vectors(client, tenant_a, collection["id"])  # the changed page's vectors are written
    assert await pages("120") == ["parking.md"]
    assert await pages("90") == []
    assert await rows() == 7

    library = (await documents(client, tenant_a, collection["id"]))["library.txt"]
    removed = await client.delete(
        f"/v1/collections/{collection['id']}/documents/{library['id']}", headers=tenant_a.headers("staff")
    )
    assert removed.status_code == 204
    assert await pages("library card") == []
    assert await rows() == 6

    await migrate.downgrade(retriever.db, "0008")
    await migrate.upgrade(retriever.db)
    assert await rows() == 0  # the migration analyses no text
    assert await index_unindexed_documents(retriever.db, retriever.indexes, batch=4) == 6
    assert await index_unindexed_documents(retriever.db, retriever.indexes) == 0  # nothing left to do
    assert await rows() == 6
    assert await pages("120") == ["parking.md"]
    assert (await pages("green zone registration certificate"))[0] == "parking.md"


async def test_a_generic_question_is_searched_centred_and_scored_by_its_own_vector(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dense search uses the question's vector with its generic part taken out (``similarity``);
    ``dense_score``, which abstention reads, stays the cosine with the question's own vector. The
    generic questions were embedded when the collection was indexed (no question waits for them), and
    a server that starts with indexed collections embeds them at once."""
    import numpy as np
    from sqlalchemy import select

    from soberana.knowledge.centring import GENERIC_QUESTIONS
    from soberana.knowledge.models import Chunk

    collection = await filled(client, tenant_a)
    _, retriever = await app.state.platform.knowledge.engine.ready()
    real_embed = retriever.embedder.embed
    batches: list[int] = []
    questions: list[Any] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        vectors = await real_embed(*args, **kwargs)
        batches.append(len(args[2]))
        if len(args[2]) == 1:
            questions.append(np.asarray(vectors[0], dtype=np.float32))
        return vectors

    deadline = time.monotonic() + 60
    while not retriever.prepared("multilingual-e5-small"):  # the indexing worker's last step
        assert time.monotonic() < deadline, "the generic questions were not embedded after indexing"
        await asyncio.sleep(0.05)
    monkeypatch.setattr(retriever.embedder, "embed", counting)
    for question in ("Who should I contact?", "Where can I get help?"):
        hits = await search(client, tenant_a, collection["id"], question, limit=5)
        assert hits
    assert batches == [1, 1]  # the two questions alone: the generic ones were ready

    retriever._generic.clear()  # as a server starting with this collection indexed
    await app.state.platform.jobs.prepare_searching()
    assert retriever.prepared("multilingual-e5-small")
    assert len(batches) == 3 and batches[-1] == sum(len(q) for q in GENERIC_QUESTIONS.values())

    vector = questions[-1]
    async with retriever.db.session() as session:
        stored = dict((await session.execute(select(Chunk.id, Chunk.embedding))).all())
    for h in hits:
        passage = np.frombuffer(stored[h["chunk_id"]], dtype=np.float32)
        assert h["dense_score"] == pytest.approx(float(passage @ vector), abs=1e-5)
    assert any(h["score"] < h["dense_score"] for h in hits)  # ranked by the centred similarity


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)  # service rules, not search
async def test_a_name_in_use_is_a_conflict_and_publishing_a_classified_collection_needs_an_administrator(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    body = {"name": "forms", "title": "Forms"}
    assert (await client.post("/v1/collections", headers=tenant_a.headers("staff"), json=body)).status_code == 201
    again = await client.post("/v1/collections", headers=tenant_a.headers("staff"), json=body)
    assert again.status_code == 409, again.text  # it was a 500: the unique constraint fired at a flush
    assert again.json()["error"]["type"] == "conflict_error" and "forms" in again.json()["error"]["message"]

    classified = {"name": "memos", "title": "Memos", "visibility": "public", "classification": "internal"}
    staff = await client.post("/v1/collections", headers=tenant_a.headers("staff"), json=classified)
    assert staff.status_code == 403 and staff.json()["error"]["code"] == "insufficient_scope"
    internal = await client.post(
        "/v1/collections", headers=tenant_a.headers("staff"), json={**classified, "visibility": "internal"}
    )
    assert internal.status_code == 201
    published = await client.patch(
        f"/v1/collections/{internal.json()['id']}", headers=tenant_a.headers("staff"), json={"visibility": "public"}
    )
    assert published.status_code == 403  # staff may not show citizens what is classified internal
    by_admin = await client.patch(
        f"/v1/collections/{internal.json()['id']}", headers=tenant_a.headers(), json={"visibility": "public"}
    )
    assert by_admin.status_code == 200 and by_admin.json()["visibility"] == "public"
    # a public collection of the least sensitive level is still the staff's to publish
    open_data = {"name": "guides", "title": "Guides", "visibility": "public"}
    assert (await client.post("/v1/collections", headers=tenant_a.headers("staff"), json=open_data)).status_code == 201


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)  # service rules, not search
async def test_citizens_get_a_bounded_answer_and_never_an_internal_detail(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    knowledge = app.state.platform.knowledge
    await filled(client, tenant_a, "public")
    opened = (await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/city-services"})).json()
    url, token = f"/v1/conversations/{opened['id']}/messages", {"X-Conversation-Token": opened["token"]}
    question = {"question": "What does the resident parking permit for a second car cost?"}

    monkeypatch.setattr(
        knowledge, "settings", knowledge.settings.model_copy(update={"knowledge_answer_model": "answer-abroad"})
    )
    answered = await client.post(url, headers=token, json=question)
    assert answered.status_code == 200 and answered.json()["mode"] == "generated", answered.text
    assert upstream.requests()[-1]["max_tokens"] == app.state.platform.settings.citizen_answer_max_tokens

    monkeypatch.setattr(
        knowledge, "settings", knowledge.settings.model_copy(update={"knowledge_answer_model": "answer-broken"})
    )
    failed = await client.post(url, headers=token, json=question)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "assistant_unavailable"
    for internal in ("answer-broken", "openai_compat", "127.0.0.1", "upstream failure", "Deployment"):
        assert internal not in failed.text


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)  # service rules, not search
async def test_a_conversation_stops_when_its_collection_is_no_longer_public(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    """A conversation opened while a collection was public kept quoting it after staff made it internal
    (and added internal documents): each question checks the publication again."""
    collection = await make_collection(client, tenant_a, "faq", "public")
    opened = (await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/faq"})).json()
    headers = {"X-Conversation-Token": opened["token"]}
    url = f"/v1/conversations/{opened['id']}/messages"
    assert (await client.post(url, headers=headers, json={"question": "Opening hours?"})).status_code == 200
    made_internal = await client.patch(
        f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"), json={"visibility": "internal"}
    )
    assert made_internal.status_code == 200
    refused = await client.post(url, headers=headers, json={"question": "And the internal memo?"})
    assert refused.status_code == 404, refused.text
    # published again, and then its organisation deactivated: refused too
    await client.patch(
        f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"), json={"visibility": "public"}
    )
    assert (await client.post(url, headers=headers, json={"question": "Opening hours?"})).status_code == 200
    async with app.state.platform.db.write_session() as session:
        await app.state.platform.admin.update_organisation(
            session, cli_principal("pytest"), tenant_a.org_id, OrganisationUpdate(is_active=False)
        )
    assert (await client.post(url, headers=headers, json={"question": "Opening hours?"})).status_code == 404
