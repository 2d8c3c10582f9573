"""Usage metering: complete after a burst and after a clean shutdown, and tamper-evident."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from soberana.audit.service import AuditLog
from soberana.gateway.metering import UsageChainVerifier
from soberana.storage.db import Database
from tests.audit.test_chain import tamper
from tests.conftest import TEST_SECRET, Tenant
from tests.gateway.conftest import LiveServer


async def burst(live: LiveServer, tenant: Tenant, count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(i: int) -> int:
            stream = i % 3 == 0
            response = await http.post(
                f"{live.url}/v1/chat/completions",
                headers=tenant.headers("staff"),
                json={
                    "model": "chat" if i % 2 else "mock-chat",
                    "stream": stream,
                    "messages": [{"role": "user", "content": f"request {i}"}],
                },
            )
            return response.status_code

        return await asyncio.gather(*(one(i) for i in range(count)))


async def count_usage(db: Database) -> dict[str, Any]:
    async with db.session() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT count(*), count(DISTINCT batch_id), sum(prompt_tokens), min(latency_ms) FROM usage_records"
                )
            )
        ).one()
        batches = (await session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'usage.batch'"))).scalar()
    return {
        "records": rows[0],
        "batches": rows[1],
        "prompt_tokens": rows[2],
        "min_latency": rows[3],
        "audit_batches": batches,
    }


async def test_every_call_is_recorded_after_a_burst_and_a_clean_shutdown(live: LiveServer, tenant: Tenant) -> None:
    statuses = await burst(live, tenant, 60)
    assert statuses == [200] * 60
    db: Database = live.app.state.platform.db
    # Stop the server at once, as on SIGTERM: records still queued are written during shutdown.
    pending_before_stop = live.app.state.platform.gateway_service.meter.pending
    await live.stop()
    fresh = Database(db.url)
    try:
        counts = await count_usage(fresh)
        assert counts["records"] == 60
        assert counts["batches"] == counts["audit_batches"] >= 1
        assert counts["min_latency"] > 0
        async with fresh.session() as session:
            result = await AuditLog(TEST_SECRET.encode(), [UsageChainVerifier()]).verify(session)
        assert result.ok, result.problem
    finally:
        await fresh.dispose()
    assert pending_before_stop >= 0


async def test_no_database_write_per_request(live: LiveServer, tenant: Tenant) -> None:
    """Records are queued on the request path and written together, in few transactions."""
    statuses = await burst(live, tenant, 40)
    assert statuses == [200] * 40
    await live.app.state.platform.gateway_service.meter.flush()
    counts = await count_usage(live.app.state.platform.db)
    assert counts["records"] == 40
    assert counts["batches"] <= 10  # written every 0.2 s in this test, not once per request


async def _usage_log(live: LiveServer, tenant: Tenant) -> tuple[Database, AuditLog]:
    await burst(live, tenant, 6)
    await live.app.state.platform.gateway_service.meter.flush()
    await burst(live, tenant, 4)
    await live.app.state.platform.gateway_service.meter.flush()
    db: Database = live.app.state.platform.db
    log = AuditLog(TEST_SECRET.encode(), [UsageChainVerifier()])
    async with db.session() as session:
        assert (await log.verify(session)).ok
    return db, log


async def _verify(db: Database, log: AuditLog) -> Any:
    async with db.session() as session:
        return await log.verify(session)


async def test_audit_verify_catches_an_altered_usage_record(live: LiveServer, tenant: Tenant) -> None:
    db, log = await _usage_log(live, tenant)
    await tamper(
        db,
        "UPDATE usage_records SET completion_tokens = completion_tokens + 100 "
        "WHERE id = (SELECT min(id) FROM usage_records)",
    )
    result = await _verify(db, log)
    assert not result.ok
    assert "records were altered" in (result.problem or "")


async def test_audit_verify_catches_a_deleted_usage_record(live: LiveServer, tenant: Tenant) -> None:
    db, log = await _usage_log(live, tenant)
    await tamper(db, "DELETE FROM usage_records WHERE id = (SELECT max(id) FROM usage_records)")
    result = await _verify(db, log)
    assert not result.ok
    assert "deleted or inserted" in (result.problem or "")


async def test_audit_verify_catches_an_inserted_usage_batch(live: LiveServer, tenant: Tenant) -> None:
    db, log = await _usage_log(live, tenant)
    await tamper(
        db,
        "INSERT INTO usage_records (id, batch_id, occurred_at, org_id, endpoint, model, stream, "
        "priority, status, prompt_tokens, completion_tokens, tokens_estimated, cost, latency_ms, attempts) "
        "VALUES ('use_forged', 999, '2026-01-01 00:00:00', 'org_x', 'chat', 'chat', false, 'batch', 200, "
        "1, 1, false, 0, 1, 1)",
    )
    result = await _verify(db, log)
    assert not result.ok
    assert "not anchored" in (result.problem or "")


async def test_content_is_not_stored_by_default(live: LiveServer, tenant: Tenant) -> None:
    await burst(live, tenant, 3)
    await live.app.state.platform.gateway_service.meter.flush()
    async with live.app.state.platform.db.session() as session:
        contents = (await session.execute(text("SELECT content FROM usage_records"))).scalars().all()
    assert contents == [None, None, None]


async def test_content_is_stored_for_organisations_that_enable_it(gateway_settings: Any) -> None:
    from soberana.web.app import create_app
    from tests.conftest import make_tenant

    app = create_app(gateway_settings.model_copy(update={"content_logging_orgs": ["agency-a"]}))
    async with app.router.lifespan_context(app):
        a = await make_tenant(app, "agency-a")
        b = await make_tenant(app, "agency-b")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for tenant in (a, b):
                response = await http.post(
                    "/v1/chat/completions",
                    headers=tenant.headers("staff"),
                    json={"model": "mock-chat", "messages": [{"role": "user", "content": f"secret of {tenant.slug}"}]},
                )
                assert response.status_code == 200
        await app.state.platform.gateway_service.meter.flush()
        async with app.state.platform.db.session() as session:
            rows = dict((await session.execute(text("SELECT org_id, content FROM usage_records"))).all())
    assert "secret of agency-a" in str(rows[a.org_id])
    assert rows[b.org_id] is None
