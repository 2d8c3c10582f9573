"""Personal data on the model API: pseudonymised before it leaves, restored in the answer, blocked,
redacted or kept from deployments the classification does not allow — against a real upstream."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text

from soberana.gateway.models import UsageRecord
from soberana.privacy.entities import Entity
from soberana.privacy.pseudonyms import PseudonymMap, StreamRestorer, pseudonymise, redact, restore
from soberana.settings import ClassificationRule, Settings
from tests.conftest import Tenant, make_platform_key, make_tenant
from tests.gateway.conftest import LiveServer, Upstream, serve

CASE_NOTE = "Escriba a María García López, con DNI 12345678Z y correo maria.garcia@example.es, sobre su solicitud."
VALUES = ("María García López", "12345678Z", "maria.garcia@example.es")


def chat(model: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def post(live: LiveServer, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        return await client.post(
            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}", **headers}
        )


async def set_policy(live: LiveServer, tenant: Tenant, document: dict[str, Any]) -> None:
    """Set the organisation's policy as a platform administrator (who may loosen it again, down to the
    installation's settings; an organisation's own administrator may only tighten it)."""
    key = getattr(live, "platform_key", None)
    if key is None:
        key = live.platform_key = await make_platform_key(live.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        response = await client.put(
            f"/admin/privacy/policies/organisations/{tenant.org_id}",
            json=document,
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text


# -- placeholders, without a server ---------------------------------------------------------------------


def test_a_placeholder_split_anywhere_in_a_stream_is_restored() -> None:
    originals = {"<PERSON_1>": "María García López", "<ID_NUMBER_12>": "12345678Z"}
    answer = "Dear <PERSON_1>, your ID <ID_NUMBER_12> is valid; <PERSON_1> < 3 <NOT_A_PLACEHOLDER> <PERSON_9>."
    expected = restore(answer, originals)
    assert "María García López" in expected and "<PERSON_9>" in expected and "< 3" in expected
    for size in range(1, 14):  # every chunk size splits some placeholder at every position
        restorer = StreamRestorer(originals)
        shown = [restorer.feed(answer[i : i + size]) for i in range(0, len(answer), size)]
        assert "".join(shown) + restorer.flush() == expected
        assert not any("<PERS" in piece and "<PERSON_9>" not in piece for piece in shown)


def test_the_same_value_gets_the_same_placeholder_and_redaction_keeps_nothing() -> None:
    mapping = PseudonymMap()
    first = "Ana Ruiz y ANA  RUIZ"
    entities = [Entity(0, 8, "PERSON", 1, "t"), Entity(11, 20, "PERSON", 1, "t")]
    assert pseudonymise(first, entities, mapping) == "<PERSON_1> y <PERSON_1>"
    assert pseudonymise("Luis Gil", [Entity(0, 8, "PERSON", 1, "t")], mapping) == "<PERSON_2>"
    assert redact(first, entities) == "<PERSON> y <PERSON>"
    assert restore("<PERSON_2> y <PERSON_1>", mapping.originals) == "Luis Gil y Ana Ruiz"


# -- the model API ------------------------------------------------------------------------------------


async def test_round_trip_pseudonymised_out_restored_back(live: LiveServer, tenant: Tenant, upstream: Upstream) -> None:
    response = await post(live, tenant.staff_key, chat("abroad", CASE_NOTE))
    assert response.status_code == 200, response.text
    sent = upstream.log()[-1]
    assert not any(value in sent for value in VALUES)
    assert "<PERSON_1>" in sent and "<ID_NUMBER_1>" in sent and "<EMAIL_1>" in sent
    answer = response.json()["choices"][0]["message"]["content"]
    assert answer == f"Echo: {CASE_NOTE}"  # every placeholder the model echoed came back as the original
    assert response.headers["x-soberana-pii"].startswith("pseudonymised; ")
    assert set(response.headers["x-soberana-pii"].split("; ")[1].split(",")) == {"PERSON=1", "ID_NUMBER=1", "EMAIL=1"}
    assert response.headers["x-soberana-classification"] == "internal"


async def test_streamed_answer_restores_placeholders_split_across_chunks(
    live: LiveServer, tenant: Tenant, upstream: Upstream
) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=30) as client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json=chat("abroad-chunks", CASE_NOTE, stream=True),
            headers={"Authorization": f"Bearer {tenant.staff_key}"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["x-soberana-pii"].startswith("pseudonymised")
        pieces = []
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                for choice in orjson.loads(line[6:])["choices"]:
                    pieces.append(choice["delta"].get("content") or "")
    sent = upstream.log()[-1]
    assert "<PERSON_1>" in sent and "María" not in sent
    # the upstream sent 3-character pieces, so every placeholder was split; the client saw none of them
    assert "".join(pieces) == f"Echo: {CASE_NOTE}"
    assert not any("<" in piece for piece in pieces)


async def test_same_person_same_placeholder_across_turns_and_not_across_tenants(
    live: LiveServer, tenant: Tenant, other_tenant: Tenant, upstream: Upstream
) -> None:
    conversation = {"x-soberana-conversation": "expediente-42"}
    first = await post(live, tenant.staff_key, chat("abroad", "Ha llamado María García López."), **conversation)
    assert first.status_code == 200
    assert upstream.log()[-1] == "Ha llamado <PERSON_1>."
    # the next turn sends only its new message: the vault remembers who <PERSON_1> is
    second = await post(
        live,
        tenant.staff_key,
        chat("abroad", "¿Ha vuelto a llamar María García López? Pregunte también a Pedro Sánchez Ruiz."),
        **conversation,
    )
    assert upstream.log()[-1] == "¿Ha vuelto a llamar <PERSON_1>? Pregunte también a <PERSON_2>."
    assert "Pedro Sánchez Ruiz" in second.json()["choices"][0]["message"]["content"]
    # another organisation using the same conversation id has its own vault: A's <PERSON_2> stays hidden
    other = await post(
        live,
        other_tenant.staff_key,
        chat("abroad", "Escriba a Juan Pérez Gómez sobre <PERSON_2>."),
        **conversation,
    )
    assert upstream.log()[-1] == "Escriba a <PERSON_1> sobre <PERSON_2>."
    reply = other.json()["choices"][0]["message"]["content"]
    assert "Juan Pérez Gómez" in reply and "<PERSON_2>" in reply and "Pedro" not in reply
    # erasure: the conversation's placeholders are forgotten, and the erasure is audit-logged
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        erased = await client.delete(
            "/v1/privacy/conversations/expediente-42", headers={"Authorization": f"Bearer {tenant.staff_key}"}
        )
    assert erased.status_code == 204
    again = await post(live, tenant.staff_key, chat("abroad", "Pregunte a Pedro Sánchez Ruiz."), **conversation)
    assert again.status_code == 200
    assert upstream.log()[-1] == "Pregunte a <PERSON_1>."  # numbering starts afresh
    async with live.app.state.platform.db.session() as session:
        actions = (await session.execute(text("SELECT action, details FROM audit_log"))).all()
    assert any(a == "privacy.conversation.erased" and '"placeholders":2' in d for a, d in actions)


async def test_block_mode_refuses_without_echoing_values(live: LiveServer, tenant: Tenant, upstream: Upstream) -> None:
    await set_policy(live, tenant, {"rules": {"internal": {"mode": "block"}}})
    before = len(upstream.log())
    response = await post(live, tenant.staff_key, chat("abroad", CASE_NOTE))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "personal_data_blocked" and error["type"] == "invalid_request_error"
    assert "PERSON" in error["message"] and "ID_NUMBER" in error["message"] and "EMAIL" in error["message"]
    assert not any(value in response.text for value in VALUES)
    assert len(upstream.log()) == before  # nothing reached the model
    clean = await post(live, tenant.staff_key, chat("abroad", "¿Cuál es el horario de la oficina?"))
    assert clean.status_code == 200 and clean.headers["x-soberana-pii"] == "none"


async def test_detect_and_redact_modes(privacy_settings: Settings, upstream: Upstream) -> None:
    # an installation that only detects internal data; an organisation tightens it to redaction
    rules = {**privacy_settings.privacy_rules, "internal": ClassificationRule(mode="detect")}
    async with serve(privacy_settings.model_copy(update={"privacy_rules": rules})) as live:
        tenant = await make_tenant(live.app, "agency-a")
        await _detect_and_redact(live, tenant, upstream)


async def _detect_and_redact(live: LiveServer, tenant: Tenant, upstream: Upstream) -> None:
    detected = await post(live, tenant.staff_key, chat("abroad", CASE_NOTE))
    assert upstream.log()[-1] == CASE_NOTE
    assert detected.headers["x-soberana-pii"].startswith("detected; ")
    await set_policy(live, tenant, {"rules": {"internal": {"mode": "redact"}}})
    redacted = await post(live, tenant.staff_key, chat("abroad", CASE_NOTE))
    assert upstream.log()[-1] == "Escriba a <PERSON>, con DNI <ID_NUMBER> y correo <EMAIL>, sobre su solicitud."
    assert "María" not in redacted.text  # irreversible: nothing to restore
    assert redacted.headers["x-soberana-pii"].startswith("redacted; ")


async def test_classification_routes_around_foreign_deployments_or_refuses(
    live: LiveServer, tenant: Tenant, upstream: Upstream
) -> None:
    confidential = {"x-soberana-classification": "confidential"}
    # `mixed` prefers its foreign deployment; confidential data may only go to on-premises or national ones
    normal = await post(live, tenant.staff_key, chat("mixed", CASE_NOTE))
    assert normal.headers["x-soberana-deployment"] == "mixed@abroad"
    routed = await post(live, tenant.staff_key, chat("mixed", CASE_NOTE), **confidential)
    assert routed.status_code == 200
    assert routed.headers["x-soberana-deployment"] == "mixed@home"
    assert routed.headers["x-soberana-classification"] == "confidential"
    assert upstream.log()[-1] == CASE_NOTE  # on premises: the data did not leave, so it was not changed
    assert "x-soberana-pii" not in routed.headers
    before = len(upstream.log())
    refused = await post(live, tenant.staff_key, chat("abroad", CASE_NOTE), **confidential)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "classification_not_permitted"
    assert "foreign_cloud" in refused.json()["error"]["message"]
    assert len(upstream.log()) == before
    # a client may raise its classification, never lower it below its organisation's default
    await set_policy(live, tenant, {"default_classification": "confidential"})
    lowered = await post(live, tenant.staff_key, chat("abroad", "Hola"), **{"x-soberana-classification": "public"})
    assert lowered.status_code == 403
    unknown = await post(live, tenant.staff_key, chat("abroad", "Hola"), **{"x-soberana-classification": "top"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_classification"


async def test_embeddings_leave_pseudonymised(live: LiveServer, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        response = await client.post(
            "/v1/embeddings",
            json={"model": "embed-abroad", "input": [CASE_NOTE, "sin datos personales"]},
            headers={"Authorization": f"Bearer {tenant.staff_key}"},
        )
    assert response.status_code == 200
    assert response.headers["x-soberana-pii"].startswith("pseudonymised; ")
    assert len(response.json()["data"]) == 2


async def test_no_personal_value_in_logs_usage_records_or_database(
    live: LiveServer, tenant: Tenant, caplog: pytest.LogCaptureFixture, privacy_settings: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    for model, stream in (("abroad", False), ("abroad-chunks", True), ("mixed", False)):
        response = await post(live, tenant.staff_key, chat(model, CASE_NOTE, stream=stream))
        assert response.status_code == 200
    await post(live, tenant.staff_key, chat("abroad", CASE_NOTE), **{"x-soberana-conversation": "c-1"})
    await live.app.state.platform.gateway_service.meter.flush()
    async with live.app.state.platform.db.session() as session:
        rows = (await session.scalars(select(UsageRecord).where(UsageRecord.org_id == tenant.org_id))).all()
        dumped = [repr({c.key: getattr(r, c.key) for c in UsageRecord.__table__.columns}) for r in rows]
        vault = (await session.execute(text("SELECT ciphertext, placeholder FROM privacy_vault"))).all()
    assert len(rows) == 4
    assert all(r.privacy and r.privacy["counts"] == {"PERSON": 1, "ID_NUMBER": 1, "EMAIL": 1} for r in rows)
    assert all(r.content is None for r in rows)  # content logging is off by default
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in VALUES:
        assert not any(value in row for row in dumped)
        assert value not in logged
        assert all(value.encode() not in bytes(ciphertext) for ciphertext, _ in vault)
    assert {p for _, p in vault} == {"<PERSON_1>", "<ID_NUMBER_1>", "<EMAIL_1>"}
    url = privacy_settings.database_url
    if url.startswith("sqlite"):  # the database files themselves, write-ahead log included
        database = Path(url.split("///", 1)[1])
        for path in database.parent.glob(database.name + "*"):
            raw = path.read_bytes()
            assert not any(value.encode() in raw for value in VALUES), path


def test_tool_call_arguments_are_restored_as_valid_json() -> None:
    from soberana.gateway.protection import restore_json

    arguments = '{"to": "<PERSON_1>", "note": "<PERSON_1> said \\"hi\\""}'
    restored = restore_json(arguments, {"<PERSON_1>": 'Ana "la jefa" Ruiz'})
    assert orjson.loads(restored) == {"to": 'Ana "la jefa" Ruiz', "note": 'Ana "la jefa" Ruiz said "hi"'}


async def test_only_placeholders_made_for_this_request_are_restored(
    live: LiveServer, tenant: Tenant, upstream: Upstream
) -> None:
    conversation = {"x-soberana-conversation": "shared-account"}
    await post(live, tenant.staff_key, chat("abroad", "Ha llamado María García López."), **conversation)
    # another end user of the same account, same conversation id, asks for the first one's placeholder
    probe = await post(live, tenant.staff_key, chat("abroad", "Repita <PERSON_1>, por favor."), **conversation)
    assert upstream.log()[-1] == "Repita <PERSON_1>, por favor."
    assert "María" not in probe.text
    assert probe.json()["choices"][0]["message"]["content"] == "Echo: Repita <PERSON_1>, por favor."


async def test_block_mode_still_serves_from_on_premises_and_unscannable_input_is_refused(
    live: LiveServer, tenant: Tenant, upstream: Upstream
) -> None:
    await set_policy(live, tenant, {"rules": {"internal": {"mode": "block"}}})
    kept_home = await post(live, tenant.staff_key, chat("mixed", CASE_NOTE))
    assert kept_home.status_code == 200
    assert kept_home.headers["x-soberana-deployment"] == "mixed@home"  # the foreign one was skipped
    await set_policy(live, tenant, {"rules": {"internal": {"mode": "pseudonymise"}}})
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        tokens = await client.post(
            "/v1/embeddings",
            json={"model": "embed-abroad", "input": [[101, 2023, 102]]},
            headers={"Authorization": f"Bearer {tenant.staff_key}"},
        )
    assert tokens.status_code == 400 and tokens.json()["error"]["code"] == "unscannable_content"


async def test_policy_audit_entries_keep_no_deny_listed_names(live: LiveServer, tenant: Tenant) -> None:
    await set_policy(live, tenant, {"deny_lists": [{"label": "PERSON", "terms": ["Doña Urraca de Castilla"]}]})
    async with live.app.state.platform.db.session() as session:
        details = (
            await session.execute(text("SELECT details FROM audit_log WHERE action = 'privacy.policy.set'"))
        ).scalar_one()
    assert "Urraca" not in details and '"terms":1' in details
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        effective = await client.get("/v1/privacy/policy", headers={"Authorization": f"Bearer {tenant.staff_key}"})
    rules = effective.json()["rules"]
    assert rules["public"]["mode"] == "detect" and rules["internal"]["mode"] == "pseudonymise"


async def test_an_expired_conversation_starts_its_numbering_again(
    live: LiveServer, tenant: Tenant, upstream: Upstream
) -> None:
    conversation = {"x-soberana-conversation": "old-case"}
    await post(live, tenant.staff_key, chat("abroad", "Ha llamado María García López."), **conversation)
    async with live.app.state.platform.db.write_session() as session:
        await session.execute(text("UPDATE privacy_vault SET expires_at = created_at"))
        await session.commit()
    later = await post(live, tenant.staff_key, chat("abroad", "Ha llamado Pedro Sánchez Ruiz."), **conversation)
    assert later.status_code == 200
    assert upstream.log()[-1] == "Ha llamado <PERSON_1>."
    assert "Pedro Sánchez Ruiz" in later.json()["choices"][0]["message"]["content"]
