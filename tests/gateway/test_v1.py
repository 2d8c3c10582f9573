"""The OpenAI-compatible API, driven by the official ``openai`` SDK against a real server."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from soberana.auth.principal import Scope, cli_principal
from soberana.auth.schemas import ApiKeyCreate
from tests.conftest import Tenant
from tests.gateway.conftest import LiveServer, Upstream

_open: list[openai.AsyncOpenAI] = []


def sdk(live: LiveServer, key: str, **kwargs: Any) -> openai.AsyncOpenAI:
    """The official SDK, unchanged, pointed at Soberana (closed after the test)."""
    client = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, **kwargs)
    _open.append(client)
    return client


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().close()


async def test_models_list_and_get(live: LiveServer, tenant: Tenant) -> None:
    client = sdk(live, tenant.staff_key)
    models = {m.id: m for m in (await client.models.list()).data}
    assert {"chat", "mock-chat", "resilient", "embed"} <= set(models)
    chat = await client.models.retrieve("chat")
    assert chat.id == "chat"
    assert chat.owned_by == "soberana"
    extra = chat.model_extra or {}
    assert extra["sovereignty"] == ["national_cloud"]
    assert extra["capabilities"]["chat"] is True
    assert extra["capabilities"]["embeddings"] is False
    with pytest.raises(openai.NotFoundError) as missing:
        await client.models.retrieve("no-such-model")
    assert missing.value.code == "model_not_found"


async def test_chat_completion(live: LiveServer, tenant: Tenant) -> None:
    client = sdk(live, tenant.staff_key)
    raw = await client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "¿Dónde renuevo el pasaporte?"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Echo: ¿Dónde renuevo el pasaporte?"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5
    assert raw.headers["x-soberana-deployment"] == "chat@openai_compat"


async def test_streaming_arrives_incrementally_with_usage_chunk(live: LiveServer, tenant: Tenant) -> None:
    client = sdk(live, tenant.staff_key)
    arrivals: list[float] = []
    chunks = []
    stream = await client.chat.completions.create(
        model="slow-stream",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        arrivals.append(time.monotonic())
        chunks.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: one two three"
    # The upstream waits 0.15 s before each chunk: they must reach the client one by one, not all at the end.
    assert arrivals[-1] - arrivals[0] > 0.5
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert sum(g > 0.08 for g in gaps) >= 4
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    assert usage_chunks[0] is chunks[-1]
    assert chunks[-1].choices == []
    assert usage_chunks[0].usage.completion_tokens == 4  # type: ignore[union-attr]


async def test_streaming_without_usage_option_sends_no_usage_chunk(live: LiveServer, tenant: Tenant) -> None:
    client = sdk(live, tenant.staff_key)
    stream = await client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hola"}], stream=True
    )
    chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    # The gateway still metered the real usage, which it asked the upstream for.
    await live.app.state.platform.gateway_service.meter.flush()
    async with httpx.AsyncClient() as http:
        report = (await http.get(f"{live.url}/v1/usage?group_by=model", headers=tenant.headers("staff"))).json()
    assert report["totals"]["completion_tokens"] == 2
    assert report["totals"]["requests"] == 1


async def test_raw_sse_format(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{live.url}/v1/chat/completions",
            headers=tenant.headers("staff"),
            json={
                "model": "mock-chat",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "a b"}],
            },
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-1] == ""
    assert events[-2] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events[:-1])


async def test_embeddings(live: LiveServer, tenant: Tenant) -> None:
    client = sdk(live, tenant.staff_key)
    result = await client.embeddings.create(model="embed", input=["hello world", "hola"])  # SDK asks for base64
    assert [d.index for d in result.data] == [0, 1]
    seed = sum(ord(c) for c in "hello world")
    expected = [((seed * (j + 3)) % 101) / 101.0 for j in range(16)]
    assert result.data[0].embedding == pytest.approx(expected, rel=1e-6)
    floats = await client.embeddings.create(model="mock-chat", input="x y", encoding_format="float")
    assert len(floats.data[0].embedding) == 8
    with pytest.raises(openai.BadRequestError) as wrong:
        await client.embeddings.create(model="chat", input="x")
    assert wrong.value.code == "model_capability"


async def test_rerank_through_an_upstream_rerank_api(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=live.url, headers={"Authorization": f"Bearer {tenant.staff_key}"}) as http:
        body = {
            "model": "reranker",
            "query": "resident parking permit fee",
            "documents": ["Library opening hours", "The resident parking permit fee is 45 euros", "Parking"],
        }
        response = await http.post("/v1/rerank", json=body)
        assert response.status_code == 200, response.text
        assert response.headers["x-soberana-deployment"] == "reranker@openai_compat"
        results = response.json()["results"]
        assert [r["index"] for r in results] == [1, 2, 0]
        assert results[0]["relevance_score"] > results[1]["relevance_score"] > results[2]["relevance_score"]
        wrong = await http.post("/v1/rerank", json={**body, "model": "chat"})
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "model_capability"
        empty = await http.post("/v1/rerank", json={**body, "documents": []})
        assert empty.status_code == 400 and empty.json()["error"]["param"] == "documents"
        models = (await http.get("/v1/models/reranker")).json()
        assert models["capabilities"]["rerank"] is True and models["capabilities"]["chat"] is False


async def test_unknown_model_is_404(live: LiveServer, tenant: Tenant) -> None:
    with pytest.raises(openai.NotFoundError) as error:
        await sdk(live, tenant.staff_key).chat.completions.create(
            model="gpt-99", messages=[{"role": "user", "content": "x"}]
        )
    assert error.value.code == "model_not_found"
    assert "GET /v1/models" in error.value.message


async def test_upstream_down_is_502_naming_the_deployment(live: LiveServer, tenant: Tenant) -> None:
    with pytest.raises(openai.APIStatusError) as error:
        await sdk(live, tenant.staff_key).chat.completions.create(
            model="broken", messages=[{"role": "user", "content": "x"}]
        )
    assert error.value.status_code == 502
    assert "broken@dead-host" in error.value.message
    assert error.value.code == "upstream_unavailable"


async def test_upstream_5xx_is_502(live: LiveServer, tenant: Tenant) -> None:
    with pytest.raises(openai.APIStatusError) as error:
        await sdk(live, tenant.staff_key).chat.completions.create(
            model="failing", messages=[{"role": "user", "content": "x"}]
        )
    assert error.value.status_code == 502
    assert "failing@upstream" in error.value.message


async def test_upstream_timeout_is_504(live: LiveServer, tenant: Tenant) -> None:
    with pytest.raises(openai.APIStatusError) as error:
        await sdk(live, tenant.staff_key).chat.completions.create(
            model="too-slow", messages=[{"role": "user", "content": "x"}]
        )
    assert error.value.status_code == 504
    assert error.value.code == "upstream_timeout"
    assert "too-slow@openai_compat" in error.value.message


async def test_fallback_to_the_second_deployment(live: LiveServer, tenant: Tenant) -> None:
    raw = await sdk(live, tenant.staff_key).chat.completions.with_raw_response.create(
        model="resilient", messages=[{"role": "user", "content": "still there?"}]
    )
    assert raw.parse().choices[0].message.content == "Echo: still there?"
    assert raw.headers["x-soberana-deployment"] == "resilient@fallback"
    await live.app.state.platform.gateway_service.meter.flush()
    async with live.app.state.platform.db.session() as session:
        from sqlalchemy import text

        row = (
            await session.execute(
                text("SELECT deployment, attempts, status FROM usage_records WHERE model = 'resilient'")
            )
        ).one()
    assert tuple(row) == ("resilient@fallback", 2, 200)


async def test_quota_exceeded_is_429_with_retry_after(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient() as http:
        await http.put(
            f"{live.url}/admin/quotas/keys/{tenant.staff_key_id}",
            headers=tenant.headers(),
            json={"requests_per_minute": 2},
        )
    client = sdk(live, tenant.staff_key)
    for _ in range(2):
        await client.chat.completions.create(model="mock-chat", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as refused:
        await client.chat.completions.create(model="mock-chat", messages=[{"role": "user", "content": "x"}])
    assert refused.value.code == "quota_exceeded"
    assert "requests per minute for this API key (2)" in refused.value.message
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 120
    # Another key of the same organisation is not limited.
    other = sdk(live, tenant.admin_key)
    assert await other.chat.completions.create(model="mock-chat", messages=[{"role": "user", "content": "x"}])


async def test_token_and_budget_quotas_settle_on_real_usage(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient() as http:
        # "chat" costs 1000 per million input tokens and 2000 per million output tokens.
        await http.put(
            f"{live.url}/admin/quotas/organisations/{tenant.org_id}",
            headers={"Authorization": f"Bearer {await _platform_key(live)}"},
            json={"monthly_budget": 0.05, "tokens_per_minute": 100_000},
        )
    client = sdk(live, tenant.staff_key)

    async def spend() -> int:
        calls = 0
        while calls < 20:
            await client.chat.completions.create(
                model="chat", max_tokens=5, messages=[{"role": "user", "content": "a b c d"}]
            )
            calls += 1
        return calls

    with pytest.raises(openai.RateLimitError) as refused:
        await spend()
    assert "monthly budget of your organisation" in refused.value.message
    # Each call really costs (4 × 1000 + 5 × 2000) / 1e6 = 0.014; each estimate (6 in, 5 out) is
    # settled to that, so three calls fit in 0.05 and the fourth (0.042 + 0.016 estimated) does not.
    await live.app.state.platform.gateway_service.meter.flush()
    async with live.app.state.platform.db.session() as session:
        from sqlalchemy import text

        statuses = (await session.execute(text("SELECT status FROM usage_records ORDER BY occurred_at"))).scalars()
        assert list(statuses) == [200, 200, 200, 429]


async def _platform_key(live: LiveServer) -> str:
    from soberana.auth.principal import Role
    from soberana.auth.schemas import OrganisationCreate, UserCreate

    admin, root = live.app.state.platform.admin, cli_principal("pytest")
    async with live.app.state.platform.db.write_session() as s:
        org = await admin.create_organisation(s, root, OrganisationCreate(slug="ops", name="Ops"))
    async with live.app.state.platform.db.write_session() as s:
        user = await admin.create_user(
            s, root, UserCreate(org_id=org.id, email="ops@ops.example", display_name="Ops", role=Role.PLATFORM_ADMIN)
        )
    async with live.app.state.platform.db.write_session() as s:
        _, key = await admin.create_key(
            s, root, ApiKeyCreate(name="ops", user_id=user.id, scopes=[Scope.ADMIN, Scope.AUDIT, Scope.INFERENCE])
        )
    return str(key)


async def test_priority_classes_are_served_in_order(live: LiveServer, tenant: Tenant, upstream: Upstream) -> None:
    admin, root = live.app.state.platform.admin, cli_principal("pytest")
    keys = {}
    for priority in ("critical", "interactive", "batch"):
        async with live.app.state.platform.db.write_session() as s:
            _, keys[priority] = await admin.create_key(
                s,
                root,
                ApiKeyCreate(name=priority, user_id=tenant.staff_id, scopes=[Scope.INFERENCE], priority=priority),
            )
    tag = f"prio-{time.monotonic_ns()}"
    for key in keys.values():  # first use of a key reads the database; do it before timing matters
        await sdk(live, key).models.list()

    async def ask(priority: str) -> None:
        await sdk(live, keys[priority]).chat.completions.create(
            model="narrow", messages=[{"role": "user", "content": f"{tag} {priority}"}]
        )

    # "narrow" serves one request at a time. The test holds that slot itself, so the requests queue
    # in the order batch, interactive, critical, each one seen waiting before the next is sent; once
    # the slot is given back they must be served critical, interactive, batch.
    (deployment,) = live.app.state.platform.gateway_service.catalog.get("narrow").deployments
    gate = deployment.gate
    await gate.acquire("batch", wait_seconds=1)
    requests = []
    try:
        for queued, priority in enumerate(("batch", "interactive", "critical"), start=1):
            requests.append(asyncio.create_task(ask(priority)))
            for _ in range(3000):  # seen waiting within 30 s
                if gate.waiting >= queued:
                    break
                await asyncio.sleep(0.01)
            assert gate.waiting == queued, f"the {priority} request never queued"
    finally:
        gate.release()
    await asyncio.gather(*requests)
    served = [entry.split(" ", 1)[1] for entry in upstream.log() if entry.startswith(tag)]
    assert served == ["critical", "interactive", "batch"]


async def test_bad_requests_have_openai_error_bodies(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient() as http:
        url = f"{live.url}/v1/chat/completions"
        malformed = await http.post(
            url, headers={**tenant.headers("staff"), "content-type": "application/json"}, content=b"{nope"
        )
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == "invalid_json"
        empty = await http.post(url, headers=tenant.headers("staff"), json={"model": "chat", "messages": []})
        assert empty.status_code == 400
        assert empty.json()["error"]["param"] == "messages"
        no_key = await http.post(url, json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
        assert no_key.status_code == 401
        assert no_key.json()["error"]["type"] == "authentication_error"
        auditor = await http.post(
            url,
            headers=tenant.headers("auditor"),
            json={"model": "chat", "messages": [{"role": "user", "content": "x"}]},
        )
        assert auditor.status_code == 403
        assert auditor.json()["error"]["code"] == "insufficient_scope"


async def test_usage_endpoint_and_admin_reports(live: LiveServer, tenant: Tenant) -> None:
    client = sdk(live, tenant.staff_key)
    for _ in range(3):
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "a b"}])
    await client.embeddings.create(model="embed", input="a b c")
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    async with httpx.AsyncClient() as http:
        mine = (await http.get(f"{live.url}/v1/usage?group_by=model", headers=tenant.headers("staff"))).json()
        by_model = {row["group"]: row for row in mine["data"]}
        assert by_model["chat"]["requests"] == 3
        assert by_model["embed"]["requests"] == 1
        assert by_model["nope"]["errors"] == 1
        assert by_model["chat"]["cost"] == pytest.approx(3 * (2 * 1000 + 3 * 2000) / 1e6)  # 2 in, 3 out
        assert by_model["chat"]["energy_wh"] > 0
        # The admin key made no calls: its own usage is empty.
        assert (await http.get(f"{live.url}/v1/usage", headers=tenant.headers())).json()["data"] == []
        report = (await http.get(f"{live.url}/admin/usage?group_by=organisation", headers=tenant.headers())).json()
        assert [row["group"] for row in report["data"]] == [tenant.org_id]
        assert report["totals"]["requests"] == 5
        assert report["currency"] == "EUR"
        csv = await http.get(f"{live.url}/admin/usage?group_by=model&format=csv", headers=tenant.headers())
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].startswith("model,requests,errors,prompt_tokens")
        assert any(line.startswith("chat,3,0,") for line in lines)
        one_model = await http.get(f"{live.url}/admin/usage?group_by=day&model=embed", headers=tenant.headers())
        assert one_model.json()["totals"]["requests"] == 1  # the embeddings model's calls only, by day


async def test_oversized_bodies_are_refused_on_the_model_api(live: LiveServer, tenant: Tenant) -> None:
    limit = live.app.state.platform.settings.max_request_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    async with httpx.AsyncClient() as http:
        url = f"{live.url}/v1/chat/completions"
        declared = await http.post(url, headers=tenant.headers("staff"), content=b"x" * (limit + 1))
        assert declared.status_code == 413
        streamed = await http.post(
            url, headers={**tenant.headers("staff"), "content-type": "application/json"}, content=chunks()
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "request_too_large"
