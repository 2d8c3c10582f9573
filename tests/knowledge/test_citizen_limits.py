"""Anonymous citizens have no key: their questions, new conversations and requests for a person are
limited per client address (shared through Redis by every server process); a conversation lives only
as long as its collection is published."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from soberana.auth.principal import Origin
from soberana.errors import AuthenticationFailed, RateLimited
from soberana.settings import Settings
from soberana.storage.counters import RedisCounters
from soberana.storage.limits import RateLimiter
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection

REDIS_URL = os.environ.get("SOBERANA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "citizen_questions_per_minute": 2,
            "citizen_conversations_per_minute": 3,
            "citizen_handoffs_per_minute": 2,
            "citizen_requests_per_minute": 4,
        }
    )


async def test_questions_beyond_the_per_address_limit_get_429(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await make_collection(client, tenant_a, "faq", "public")
    opened = (await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/faq"})).json()
    headers = {"X-Conversation-Token": opened["token"]}
    url = f"/v1/conversations/{opened['id']}/messages"
    for _ in range(2):
        answer = await client.post(url, headers=headers, json={"question": "When is the library open?"})
        assert answer.status_code == 200 and answer.json()["mode"] == "abstained"  # an empty collection
    refused = await client.post(url, headers=headers, json={"question": "And on Sundays?"})
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    # the limit is a sliding minute: the count of the minute before weighs in until it has passed
    assert 1 <= int(refused.headers["Retry-After"]) <= 121
    transcript = (await client.get(f"/v1/conversations/{opened['id']}", headers=headers)).json()
    assert len(transcript["messages"]) == 4  # the refused question was not recorded


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_opening_conversations_and_asking_for_a_person_are_limited_per_address(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    await make_collection(client, tenant_a, "faq", "public")
    opened = [await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/faq"}) for _ in range(4)]
    assert [r.status_code for r in opened] == [201, 201, 201, 429]
    assert "Retry-After" in opened[-1].headers
    # another address is not affected
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.9", 1)), base_url="http://t")
    async with other:
        assert (await other.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/faq"})).status_code == 201
    asked = []
    for response in opened[:3]:
        body = response.json()
        asked.append(
            await client.post(
                f"/v1/conversations/{body['id']}/handoff",
                headers={"X-Conversation-Token": body["token"]},
                json={"reason": "Please call me"},
            )
        )
    assert [r.status_code for r in asked] == [201, 201, 429]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_hand_off_queue_comes_a_page_at_a_time(app: Any, client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await make_collection(client, tenant_a, "faq", "public")
    for _ in range(2):
        body = (await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/faq"})).json()
        case = await client.post(
            f"/v1/conversations/{body['id']}/handoff", headers={"X-Conversation-Token": body["token"]}, json={}
        )
        assert case.status_code == 201
    first = (await client.get("/v1/handoff-cases?limit=1", headers=tenant_a.headers("staff"))).json()
    assert len(first["data"]) == 1 and first["has_more"] is True
    after = first["data"][-1]["id"]
    rest = (await client.get(f"/v1/handoff-cases?limit=1&after={after}", headers=tenant_a.headers("staff"))).json()
    assert len(rest["data"]) == 1 and rest["has_more"] is False
    assert {c["id"] for c in first["data"]}.isdisjoint({c["id"] for c in rest["data"]})
    bad = await client.get("/v1/handoff-cases?after=nope", headers=tenant_a.headers("staff"))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rate_limits_are_shared_through_redis_by_every_process(settings: Settings, tmp_path: Path) -> None:
    """Two server processes on one Redis count sign-in attempts and citizens' questions together."""
    from soberana.web.app import create_app

    run = uuid.uuid4().hex  # this run's own address and account: other tests share the Redis database
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "sign_in_attempts_per_minute": 3})
    first, second = create_app(shared), create_app(shared)
    origin = Origin(ip=f"ip-{run}")
    outcomes = []
    for app in (first, second, first, second):
        try:
            await app.state.platform.authenticator.sign_in(f"{run}@agency.example", "wrong password", origin)
        except RateLimited:
            outcomes.append("429")
        except AuthenticationFailed:
            outcomes.append("401")
    assert outcomes == ["401", "401", "401", "429"]  # three attempts in all, not three per process
    # and the citizens' questions: a third process sees what the first two counted
    limiter = RateLimiter(RedisCounters(REDIS_URL), "citizen-questions", 2, "too many")
    await first.state.platform.citizens._questions.hit(origin.ip)
    await second.state.platform.citizens._questions.hit(origin.ip)
    with pytest.raises(RateLimited):
        await limiter.hit(origin.ip)
    await limiter.counters.close()
    for app in (first, second):
        await app.state.platform.counters.close()
        await app.state.platform.db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_reading_rating_and_erasing_are_limited_per_address(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await make_collection(client, tenant_a, "faq", "public")
    opened = (await client.post("/v1/conversations", json={"collection": f"{tenant_a.slug}/faq"})).json()
    headers = {"X-Conversation-Token": opened["token"]}
    reads = [(await client.get(f"/v1/conversations/{opened['id']}", headers=headers)).status_code for _ in range(5)]
    assert reads == [200, 200, 200, 200, 429]
    erased = await client.delete(f"/v1/conversations/{opened['id']}", headers=headers)
    assert erased.status_code == 429  # counted together: a script cannot poll or erase without end
