"""The staff chat: where each model runs, the "personal data protected" indicator, and saved
conversations (history, reopen, delete, retention), against a real OpenAI-compatible upstream
standing in for a foreign cloud."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from soberana.auth.principal import ROLE_SCOPES, Origin, Principal, Role
from soberana.core.clock import utcnow
from soberana.errors import NotFound
from soberana.gateway.clients import ChatReply
from soberana.privacy.models import VaultEntry
from soberana.settings import Settings
from soberana.workspace.models import WorkspaceConversation
from soberana.workspace.service import WorkspaceService
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, Tenant
from tests.gateway.conftest import Upstream, upstream
from tests.privacy.conftest import privacy_deployments
from tests.privacy.test_protection import CASE_NOTE, VALUES
from tests.web.test_pages import set_password, sign_in

__all__ = ["upstream"]


@pytest.fixture
def settings(db_url: str, tmp_path: Path, upstream: Upstream) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[MOCK_DEPLOYMENT, *privacy_deployments(upstream.url)],
        upstream_retries=0,
    )


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, name
    return html.unescape(found.group(1))


async def send(client: httpx.AsyncClient, message: str, conversation: str = "", **extra: str) -> httpx.Response:
    page = (await client.get("/staff/chat", params={"c": conversation} if conversation else None)).text
    form = {
        "csrf_token": field(page, "csrf_token"),
        "conversation": conversation,
        "model": extra.pop("model", "abroad"),
    }
    return await client.post("/staff/chat", data={**form, "message": message, **extra})


async def vault_rows(app: Any) -> int:
    async with app.state.platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(VaultEntry)) or 0)


async def test_staff_chat_shows_where_models_run_and_protects_personal_data(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, upstream: Upstream
) -> None:
    await set_password(client, tenant_a, tenant_a.staff_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    page = (await client.get("/staff/chat")).text
    assert "abroad — in a foreign cloud" in page
    assert "mixed — in a foreign cloud, on the administration's own servers" in html.unescape(page)
    answered = await send(client, CASE_NOTE)
    assert answered.status_code == 303 and answered.headers["location"].startswith("/staff/chat?c=wsc_")
    conversation = answered.headers["location"].split("c=")[1].split("#")[0]
    sent = upstream.log()[-1]
    assert not any(value in sent for value in VALUES) and "<PERSON_1>" in sent
    shown = await client.get("/staff/chat", params={"c": conversation})
    text = html.unescape(shown.text)
    assert f"Echo: {CASE_NOTE}" in text  # restored for the civil servant
    assert "Personal data protected: replaced by placeholders before sending" in text
    assert 'data-pii="pseudonymised; ' in shown.text
    # the conversation is kept on the server: the next turn carries it, and the same person keeps the
    # same placeholder for the whole conversation
    await send(client, "¿Y María García López?", conversation)
    assert upstream.log()[-1] == "¿Y <PERSON_1>?"
    # confidential data may not go to a foreign model: the page says so, nothing is sent or saved,
    # and what was typed stays in the box
    before = len(upstream.log())
    refused = await send(client, "Secret plans", conversation, classification="confidential")
    assert refused.status_code == 403 and "may receive &#39;confidential&#39; data" in refused.text
    assert ">Secret plans</textarea>" in refused.text
    assert len(upstream.log()) == before
    async with app.state.platform.db.session() as session:
        saved = await session.get(WorkspaceConversation, conversation)
        assert saved is not None and len(saved.turns) == 4  # two questions, two answers
    # a confidential conversation (on the administration's own model) stays confidential: lowering the
    # level of a later message does not send the earlier turns abroad
    secret = await send(client, "Secret plans", model="mock-chat", classification="confidential")
    assert secret.status_code == 303
    secret_id = secret.headers["location"].split("c=")[1].split("#")[0]
    lowered = await send(client, "Summarise them", secret_id, model="abroad", classification="public")
    assert lowered.status_code == 403 and "confidential" in lowered.text
    assert len(upstream.log()) == before
    # where the organisation lets its data go only to its own servers, the chat offers only models
    # that run there (and says so); a foreign-only model is not offered
    policy = {"default_classification": "internal", "rules": {"internal": {"sovereignty": ["on_premises"]}}}
    put = await client.put(
        f"/admin/privacy/policies/organisations/{tenant_a.org_id}", headers=tenant_a.headers(), json=policy
    )
    assert put.status_code == 200, put.text
    offered = html.unescape((await client.get("/staff/chat")).text)
    assert "abroad — " not in offered
    assert "mixed — on the administration's own servers</option>" in offered
    nowhere = {"default_classification": "internal", "rules": {"internal": {"sovereignty": []}}}
    put = await client.put(
        f"/admin/privacy/policies/organisations/{tenant_a.org_id}", headers=tenant_a.headers(), json=nowhere
    )
    assert put.status_code == 200, put.text
    none_offered = html.unescape((await client.get("/staff/chat")).text)
    assert "lets no chat model of this installation receive its data" in none_offered
    assert "<option value=" not in none_offered.split('id="chat-model"')[1].split("</select>")[0]
    # signed-out visitors are sent to the sign-in page, and come back to the same conversation
    client.cookies.clear()
    redirected = await client.get("/staff/chat", params={"c": conversation})
    assert (
        redirected.status_code == 303
        and redirected.headers["location"] == f"/sign-in?next=/staff/chat%3Fc%3D{conversation}"
    )


async def test_saved_conversations_are_private_deletable_and_expire(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, upstream: Upstream
) -> None:
    for tenant in (tenant_a, tenant_b):
        await set_password(client, tenant, tenant.staff_id)
    await set_password(client, tenant_a, tenant_a.admin_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    first = (await send(client, CASE_NOTE)).headers["location"]
    second = (await send(client, "Summarise the budget")).headers["location"]
    mine = [url.split("c=")[1].split("#")[0] for url in (first, second)]
    history = (await client.get("/staff/chat")).text
    assert history.index("Summarise the budget") < history.index(CASE_NOTE[:30])  # latest first
    # the API lists the same conversations for the person's own key, and only theirs
    listed = await client.get("/v1/workspace/conversations", headers=tenant_a.headers("staff"))
    assert [c["id"] for c in listed.json()["data"]] == mine[::-1]
    for other in (tenant_a.headers("admin"), tenant_b.headers("staff")):  # not the admin, not another tenant
        assert (await client.get("/v1/workspace/conversations", headers=other)).json()["data"] == []
        assert (await client.get(f"/v1/workspace/conversations/{mine[0]}", headers=other)).status_code == 404
        assert (await client.delete(f"/v1/workspace/conversations/{mine[0]}", headers=other)).status_code == 404
    client.cookies.clear()
    await sign_in(client, f"staff@{tenant_b.slug}.example")
    assert (await client.get("/staff/chat", params={"c": mine[0]})).status_code == 404
    assert CASE_NOTE[:30] not in (await client.get("/staff/chat")).text
    # the owner deletes a conversation: gone, with its placeholders of personal data, and audit-logged
    client.cookies.clear()
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    assert await vault_rows(app) > 0
    page = (await client.get("/staff/chat")).text
    deleted = await client.post(
        "/staff/chat/delete", data={"csrf_token": field(page, "csrf_token"), "conversation": mine[0]}
    )
    assert deleted.status_code == 303
    assert CASE_NOTE[:30] not in (await client.get("/staff/chat")).text
    assert await vault_rows(app) == 0
    assert (
        await client.get(f"/v1/workspace/conversations/{mine[0]}", headers=tenant_a.headers("staff"))
    ).status_code == 404
    audit = await client.get(
        "/admin/audit", params={"action": "workspace.conversation.deleted"}, headers=tenant_a.headers()
    )
    assert [e["object_id"] for e in audit.json()["data"]] == [mine[0]]
    assert CASE_NOTE[:30] not in audit.text  # the log names the conversation, never its content
    # past the retention period, the purge job deletes what is left
    async with app.state.platform.db.write_session() as session:
        await session.execute(update(WorkspaceConversation).values(updated_at=utcnow() - timedelta(days=91)))
        await session.commit()
    report = await app.state.platform.privacy.retention.purge()
    assert report["workspace_conversations"] == 1
    assert (await client.get("/v1/workspace/conversations", headers=tenant_a.headers("staff"))).json()["data"] == []


class _Model:
    """A model whose answer arrives while something else happens to the conversation."""

    def __init__(self, meanwhile: Any = None) -> None:
        self.meanwhile = meanwhile

    async def converse(self, *args: Any, **kwargs: Any) -> Any:
        if self.meanwhile is not None:
            action, self.meanwhile = self.meanwhile, None
            await action()
        return ChatReply("An answer.", "test@model", "none")


def _staff(tenant: Tenant) -> Principal:
    return Principal(
        kind="user",
        id=tenant.staff_id,
        label="staff",
        org_id=tenant.org_id,
        role=Role.STAFF,
        scopes=ROLE_SCOPES[Role.STAFF],
    )


async def test_turns_from_two_tabs_are_kept_and_a_deleted_conversation_stays_deleted(
    app: Any, tenant_a: Tenant
) -> None:
    model = _Model()
    service = WorkspaceService(app.state.platform.db, app.state.platform.admin, model, app.state.platform.privacy)
    me = _staff(tenant_a)
    first = await service.send(me, None, "First question", "m", None)
    # another tab sends a message while this one waits for the model: both exchanges are kept
    model.meanwhile = lambda: service.send(me, first.id, "From the other tab", "m", None)
    await service.send(me, first.id, "From this tab", "m", None)
    turns = (await service.get(me, first.id)).turns
    assert [t["content"] for t in turns if t["role"] == "user"] == [
        "First question",
        "From the other tab",
        "From this tab",
    ]
    # the conversation is deleted while the model answers: it is not brought back
    model.meanwhile = lambda: service.delete(me, [first.id], Origin())
    with pytest.raises(NotFound):
        await service.send(me, first.id, "Too late", "m", None)
    with pytest.raises(NotFound):
        await service.get(me, first.id)
