"""The staff workspace's knowledge pages (search and answers over internal collections, upload with
progress) and the citizen page's answer streamed token by token from a generative model."""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from soberana.settings import DeploymentConfig, Settings
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, Tenant, make_tenant
from tests.gateway.conftest import aiohttp_server, serve
from tests.knowledge.conftest import E5, make_collection, upload, wait_for_vectors
from tests.web.test_pages import form_token, set_password, sign_in

PERMITS = (
    b"# Residential parking permits\n\nA first car permit costs 30 euros a year. A second car permit costs 90 "
    b"euros a year.\n\n## How to apply\n\nApply online with form P-1 and proof of address.\n"
)
MINUTES = (
    b"# Internal: budget committee minutes\n\nThe committee approved 2.4 million euros for school roofs. The "
    b"road resurfacing plan was postponed to the next financial year.\n"
)


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


async def wait_for_job_page(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await client.get(f"/staff/jobs/{job_id}", headers={"Accept": "application/json"})).json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


async def test_staff_search_answers_over_internal_collections_and_upload_with_progress(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    internal = await make_collection(client, tenant_a, "committee")
    await set_password(client, tenant_a, tenant_a.staff_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    page = await client.get(f"/staff/collections/{internal['id']}")
    assert page.status_code == 200 and "No documents yet." in page.text
    # a file that cannot be read is reported by name; the good one is ingested
    started = await client.post(
        f"/staff/collections/{internal['id']}/documents",
        data={"csrf_token": form_token(page.text)},
        files=[("files", ("minutes.md", MINUTES)), ("files", ("broken.pdf", b"%PDF-1.7 not really"))],
        headers={"Accept": "application/json"},
    )
    assert started.status_code == 200 and started.json()["files_total"] == 2
    job = await wait_for_job_page(client, started.json()["id"])
    assert job["status"] == "partial" and job["files_done"] == 2 and job["documents_added"] == 1
    assert [e["file"] for e in job["errors"]] == ["broken.pdf"]
    shown = await client.get(f"/staff/jobs/{job['id']}")
    assert 'max="2" value="2"' in shown.text and "broken.pdf" in shown.text
    # without JavaScript the form posts and lands on the job's page
    plain = await client.post(
        f"/staff/collections/{internal['id']}/documents",
        data={"csrf_token": form_token(page.text)},
        files=[("files", ("minutes.md", MINUTES))],
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith("/staff/jobs/job_")
    assert (await wait_for_job_page(client, plain.headers["location"].rsplit("/", 1)[1]))["documents_unchanged"] == 1
    await wait_for_vectors(client, tenant_a, internal["id"])
    # search and answers over the internal collection, with citations
    search_page = (await client.get("/staff/search")).text
    assert "Committee" in search_page and "Internal" in search_page
    form = {"csrf_token": form_token(search_page), "collections": internal["id"]}
    answered = await client.post("/staff/search", data={**form, "query": "How much for school roofs?"})
    text = html.unescape(answered.text)
    assert answered.status_code == 200 and "2.4 million euros" in text and "<blockquote>" in answered.text
    passages = await client.post("/staff/search", data={**form, "query": "road resurfacing", "mode": "search"})
    assert "Matching passages" in passages.text and "postponed" in passages.text
    off_topic = await client.post("/staff/search", data={**form, "query": "Wie spät ist es in Tokio?"})
    assert "The collections do not cover this question." in off_topic.text
    # another organisation's staff see none of it
    await set_password(client, tenant_b, tenant_b.staff_id)
    client.cookies.clear()
    await sign_in(client, f"staff@{tenant_b.slug}.example")
    other = await client.get("/staff/search")
    assert "Committee" not in other.text
    assert (await client.get(f"/staff/collections/{internal['id']}")).status_code == 404
    assert (await client.get(f"/staff/jobs/{job['id']}")).status_code == 404
    refused = await client.post(
        "/staff/search", data={"csrf_token": form_token(other.text), "collections": internal["id"], "query": "roofs"}
    )
    assert refused.status_code == 404 and "million" not in refused.text
    sneaked = await client.post(
        f"/staff/collections/{internal['id']}/documents",
        data={"csrf_token": form_token(other.text)},
        files=[("files", ("x.md", b"# X\n\ntext"))],
    )
    assert sneaked.status_code == 404


class HeldModel:
    """An OpenAI-compatible chat model that writes half of its answer, then waits until the test has
    seen those words reach the citizen before it writes the rest: proof that the page streams what the
    model writes as it writes it, not a finished answer."""

    ANSWER = "A second car permit costs 90 euros a year [1]. Pets ride free [7]. Apply with form P-1 [1]."
    WORDS = ANSWER.split()

    def __init__(self) -> None:
        self.release = threading.Event()

    def app(self) -> web.Application:
        async def chat(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i, word in enumerate(self.WORDS):
                if i == len(self.WORDS) // 2:
                    await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
                delta = {"choices": [{"index": 0, "delta": {"content": word if i == 0 else " " + word}}]}
                await response.write(b"data: " + orjson.dumps(delta) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            return response

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        return app


async def test_the_citizen_page_streams_a_generated_answer_token_by_token(db_url: str, tmp_path: Path) -> None:
    model = HeldModel()
    with aiohttp_server(model.app()) as port:
        writer = DeploymentConfig(
            alias="writer", provider="openai_compat", model="w", base_url=f"http://127.0.0.1:{port}/v1"
        )
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=db_url,
            secret_key=TEST_SECRET,
            demo_models=False,
            deployments=[MOCK_DEPLOYMENT, DeploymentConfig(**E5), writer],
            knowledge_answer_model="writer",
        )
        async with serve(settings) as live, httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            tenant = await make_tenant(live.app, "agency-a")
            collection = await make_collection(client, tenant, "parking", "public")
            await upload(client, tenant, collection["id"], {"permits.md": PERMITS})
            await wait_for_vectors(client, tenant, collection["id"])
            path = f"/ask/{tenant.slug}/parking"
            token = form_token((await client.get(path)).text)
            events: list[tuple[str, Any]] = []
            async with client.stream(
                "POST", f"{path}/stream", data={"question": "How much is a second car permit?", "csrf_token": token}
            ) as response:
                assert response.status_code == 200
                buffer = ""
                async for chunk in response.aiter_text():
                    buffer += chunk
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        name = block.split("\n")[0].removeprefix("event: ")
                        events.append((name, orjson.loads(block.split("data: ", 1)[1])))
                        shown = "".join(d["text"] for n, d in events if n == "delta")
                        if "euros" in shown:
                            model.release.set()  # the first half reached the citizen: let the model go on
    names = [n for n, _ in events]
    deltas = [d["text"] for n, d in events if n == "delta"]
    assert names[0] == "mode" and names[-2:] == ["citations", "done"]
    assert len(deltas) >= len(HeldModel.WORDS) // 2  # piece by piece, as the model wrote them
    streamed = "".join(deltas)
    assert "[7]" not in streamed and "[1]" in streamed  # a passage that was not retrieved is never shown
    final = next((d["text"] for n, d in events if n == "replace"), streamed)
    assert final == "A second car permit costs 90 euros a year [1]. Pets ride free. Apply with form P-1 [1]."
    citations = next(d["items"] for n, d in events if n == "citations")
    assert [c["index"] for c in citations] == [1] and "90 euros" in citations[0]["quote"]


async def test_citizen_feedback_is_asked_once_and_the_cookie_lasts_as_long_as_the_conversation(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    put = await client.put(
        f"/admin/privacy/policies/organisations/{tenant_a.org_id}",
        json={"retention": {"conversations_days": 5}},
        headers=tenant_a.headers(),
    )
    assert put.status_code == 200, put.text
    collection = await make_collection(client, tenant_a, "parking", "public")
    await upload(client, tenant_a, collection["id"], {"permits.md": PERMITS})
    await wait_for_vectors(client, tenant_a, collection["id"])
    path = f"/ask/{tenant_a.slug}/parking"
    token = form_token((await client.get(path)).text)
    asked = await client.post(path, data={"question": "How much is a second car permit?", "csrf_token": token})
    assert asked.status_code == 303
    cookie = asked.headers["set-cookie"]
    assert "soberana_conversation=" in cookie and f"Max-Age={5 * 86400}" in cookie  # the organisation's period
    page = (await client.get(path)).text
    message_id = re.search(r'name="message_id" value="([^"]+)"', page)
    assert message_id is not None and "Was this answer helpful?" in page
    given = await client.post(
        f"{path}/feedback", data={"csrf_token": form_token(page), "message_id": message_id.group(1), "helpful": "true"}
    )
    assert given.status_code == 303
    thanked = (await client.get(given.headers["location"])).text
    assert "Thank you for your feedback." in thanked and "Was this answer helpful?" not in thanked
