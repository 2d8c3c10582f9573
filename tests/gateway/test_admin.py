"""Managing deployments and quotas through the admin API."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant
from tests.gateway.conftest import LiveServer, Upstream
from tests.gateway.test_v1 import _platform_key


async def test_platform_admin_adds_disables_and_removes_a_deployment(
    live: LiveServer, tenant: Tenant, upstream: Upstream
) -> None:
    ops = {"Authorization": f"Bearer {await _platform_key(live)}"}
    async with httpx.AsyncClient(base_url=live.url) as http:
        listed = (await http.get("/admin/models/deployments", headers=ops)).json()
        assert {d["name"]: d["source"] for d in listed}["chat@openai_compat"] == "settings"

        created = await http.post(
            "/admin/models/deployments",
            headers=ops,
            json={
                "alias": "sovereign-llm",
                "provider": "openai_compat",
                "model": "echo",
                "base_url": upstream.url,
                "sovereignty": "on_premises",
                "price_input_per_mtok": 0.5,
            },
        )
        assert created.status_code == 201, created.text
        dep_id = created.json()["id"]
        answer = await http.post(
            "/v1/chat/completions",
            headers=tenant.headers("staff"),
            json={"model": "sovereign-llm", "messages": [{"role": "user", "content": "hei"}]},
        )
        assert answer.json()["choices"][0]["message"]["content"] == "Echo: hei"

        duplicate = await http.post(
            "/admin/models/deployments",
            headers=ops,
            json={"alias": "sovereign-llm", "provider": "openai_compat", "model": "echo", "base_url": upstream.url},
        )
        assert duplicate.status_code == 409
        unknown = await http.post("/admin/models/deployments", headers=ops, json={"alias": "x", "provider": "nope"})
        assert unknown.status_code == 400 and "unknown provider 'nope'" in unknown.json()["error"]["message"]

        disabled = await http.patch(f"/admin/models/deployments/{dep_id}", headers=ops, json={"enabled": False})
        assert disabled.json()["enabled"] is False
        gone = await http.post(
            "/v1/chat/completions",
            headers=tenant.headers("staff"),
            json={"model": "sovereign-llm", "messages": [{"role": "user", "content": "hei"}]},
        )
        assert gone.status_code == 404

        assert (await http.delete(f"/admin/models/deployments/{dep_id}", headers=ops)).status_code == 204
        names = [d["name"] for d in (await http.get("/admin/models/deployments", headers=ops)).json()]
        assert "sovereign-llm@openai_compat" not in names

        audit = (await http.get("/admin/audit?action=model_deployment.", headers=ops)).json()["data"]
        assert [e["action"] for e in audit] == [
            "model_deployment.delete",
            "model_deployment.update",
            "model_deployment.create",
        ]
        # Organisation administrators cannot touch shared infrastructure.
        refused = await http.get("/admin/models/deployments", headers=tenant.headers())
        assert refused.status_code == 403


async def test_org_admin_sets_key_quotas_but_not_its_own_organisations(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        own = await http.put(
            f"/admin/quotas/organisations/{tenant.org_id}",
            headers=tenant.headers(),
            json={"requests_per_minute": 1_000_000},
        )
        assert own.status_code == 403
        key = await http.put(
            f"/admin/quotas/keys/{tenant.staff_key_id}",
            headers=tenant.headers(),
            json={"requests_per_minute": 5, "max_concurrent": 2},
        )
        assert key.status_code == 200
        assert key.json()["subject_type"] == "api_key" and key.json()["requests_per_minute"] == 5
        quotas = (await http.get("/admin/quotas", headers=tenant.headers())).json()
        assert [(q["subject_id"], q["max_concurrent"]) for q in quotas] == [(tenant.staff_key_id, 2)]
        bad = await http.put(
            f"/admin/quotas/keys/{tenant.staff_key_id}", headers=tenant.headers(), json={"requests_per_minute": -1}
        )
        assert bad.status_code == 422
        assert (
            await http.delete(f"/admin/quotas/keys/{tenant.staff_key_id}", headers=tenant.headers())
        ).status_code == 204
        assert (await http.get("/admin/quotas", headers=tenant.headers())).json() == []


async def test_platform_admin_sets_an_alias_strategy(live: LiveServer, tenant: Tenant) -> None:
    ops = {"Authorization": f"Bearer {await _platform_key(live)}"}
    async with httpx.AsyncClient(base_url=live.url) as http:
        before = {a["name"]: a for a in (await http.get("/admin/models/aliases", headers=ops)).json()}
        assert before["resilient"]["strategy"] == "priority"
        changed = await http.put(
            "/admin/models/aliases/resilient",
            headers=ops,
            json={"strategy": "round_robin", "description": "Two data centres"},
        )
        assert changed.status_code == 200
        after = {a["name"]: a for a in (await http.get("/admin/models/aliases", headers=ops)).json()}
        assert after["resilient"] == {"name": "resilient", "strategy": "round_robin", "description": "Two data centres"}
        model = (await http.get("/v1/models/resilient", headers=tenant.headers("staff"))).json()
        assert model["description"] == "Two data centres"
        assert (await http.delete("/admin/models/aliases/resilient", headers=ops)).status_code == 204
        reverted = {a["name"]: a for a in (await http.get("/admin/models/aliases", headers=ops)).json()}
        assert reverted["resilient"]["strategy"] == "priority"
        assert (
            await http.put("/admin/models/aliases/resilient", headers=tenant.headers(), json={"strategy": "least_busy"})
        ).status_code == 403


async def test_what_the_fuzzer_found_is_refused_with_a_clear_error(live: LiveServer, tenant: Tenant) -> None:
    """Found by `make bench NAME=fuzz`: each answered 500 (an integer past what a column holds, token ids
    counted as texts) or 502 on every call (a deployment declared to chat by a provider that cannot)."""
    ops = {"Authorization": f"Bearer {await _platform_key(live)}"}
    async with httpx.AsyncClient(base_url=live.url) as http:
        huge = await http.put(
            f"/admin/quotas/keys/{tenant.staff_key_id}", headers=tenant.headers(), json={"max_concurrent": 2**63}
        )
        assert huge.status_code == 422 and huge.json()["error"]["param"] == "max_concurrent"
        page = await http.get("/v1/collections/none/documents?offset=9223372036854775808", headers=tenant.headers())
        assert page.status_code == 422 and page.json()["error"]["param"] == "offset"
        tokens = await http.post(
            "/v1/embeddings", headers=tenant.headers("staff"), json={"model": "mock-chat", "input": [[1, 2], [3]]}
        )
        assert tokens.status_code < 500, tokens.text
        cannot_chat = await http.post(
            "/admin/models/deployments",
            headers=ops,
            json={"alias": "x-chat", "provider": "local_embeddings", "capabilities": ["chat"]},
        )
        assert cannot_chat.status_code == 400
        assert "does not serve chat" in cannot_chat.json()["error"]["message"]


def test_token_ids_are_counted_as_tokens() -> None:
    from soberana.providers.base import estimate_prompt_tokens

    assert estimate_prompt_tokens({"input": [101, 2023, 102]}) == 3
    assert estimate_prompt_tokens({"input": [[101, 2023], [102]]}) == 3
    assert estimate_prompt_tokens({"input": ["four words in here"]}) == 5


async def test_a_deployment_stored_under_older_rules_is_listed_with_its_problem(
    live: LiveServer, tenant: Tenant
) -> None:
    """A deployment saved before `api_key_env` had to start with SOBERANA_UPSTREAM_KEY_ is left out of
    routing, and shown (not a 500) so that an administrator can fix or remove it."""
    from soberana.core.ids import new_id
    from soberana.gateway.models import ModelDeployment

    config = {"alias": "old", "provider": "openai_compat", "base_url": "https://old.example/v1", "api_key_env": "HOME"}
    async with live.app.state.platform.db.write_session() as session:
        session.add(ModelDeployment(id=new_id("dep"), name="old@openai_compat", config=config, enabled=True))
        await session.commit()
    ops = {"Authorization": f"Bearer {await _platform_key(live)}"}
    async with httpx.AsyncClient(base_url=live.url) as http:
        listed = await http.get("/admin/models/deployments", headers=ops)
        assert listed.status_code == 200, listed.text
        old = next(d for d in listed.json() if d["name"] == "old@openai_compat")
        assert old["enabled"] is False and "api_key_env" in old["problem"]
        unknown = await http.post(
            "/v1/chat/completions",
            headers=tenant.headers("staff"),
            json={"model": "old", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert unknown.status_code == 404
