"""Anonymous citizens have no key: their questions are limited per client address."""

from __future__ import annotations

import httpx
import pytest

from soberana.settings import Settings
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"citizen_questions_per_minute": 2})


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
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    transcript = (await client.get(f"/v1/conversations/{opened['id']}", headers=headers)).json()
    assert len(transcript["messages"]) == 4  # the refused question was not recorded
