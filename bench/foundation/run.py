"""Foundation benchmark: the platform's own hot paths on SQLite and PostgreSQL, side by side.

- API-key authentication: authenticated requests per second through the whole ASGI app
  (``GET /admin/me``: key lookup, HMAC, owner and organisation checks, JSON response).
- Audit log: appends per second (each its own transaction, as refused logins are written) and
  verification rate (entries re-hashed and checked per second).

Run with ``make bench NAME=foundation``. PostgreSQL is the server at 127.0.0.1:5432 (or
``SOBERANA_BENCH_POSTGRES_URL``); a scratch database is created and dropped.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import bar, write_results

from soberana.audit.schemas import Actor, AuditEvent
from soberana.auth.principal import Role, Scope, cli_principal
from soberana.auth.schemas import ApiKeyCreate, OrganisationCreate, UserCreate
from soberana.settings import Settings
from soberana.storage import migrate
from soberana.web.app import create_app

PG_URL = os.environ.get("SOBERANA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AUTH_REQUESTS = 2000
AUDIT_APPENDS = 1000
SECRET = "bench-secret-key-0123456789-abcdefghijklmnop"


async def measure(url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(data_dir=Path(tmp), database_url=url, secret_key=SECRET, api_key_last_used_resolution_seconds=60)
        )
        db, admin = app.state.platform.db, app.state.platform.admin
        await migrate.upgrade(db)
        root = cli_principal("bench")
        async with db.write_session() as s:
            org = await admin.create_organisation(s, root, OrganisationCreate(slug="bench", name="Bench"))
        async with db.write_session() as s:
            user = await admin.create_user(
                s, root, UserCreate(org_id=org.id, email="b@bench.example", display_name="B", role=Role.ORG_ADMIN)
            )
        async with db.write_session() as s:
            _, key = await admin.create_key(s, root, ApiKeyCreate(name="k", user_id=user.id, scopes=[Scope.ADMIN]))

        headers = {"Authorization": f"Bearer {key}"}
        latencies = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http:
            for _ in range(50):  # warm up
                await http.get("/admin/me", headers=headers)
            start = time.perf_counter()
            for _ in range(AUTH_REQUESTS):
                t0 = time.perf_counter()
                response = await http.get("/admin/me", headers=headers)
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == 200
            auth_elapsed = time.perf_counter() - start

        audit = app.state.platform.audit
        actor = Actor(type="user", id="usr_bench", label="bench")
        start = time.perf_counter()
        for i in range(AUDIT_APPENDS):
            await audit.record(db, AuditEvent(action="bench.append", actor=actor, org_id=org.id, details={"i": i}))
        append_elapsed = time.perf_counter() - start

        start = time.perf_counter()
        async with db.session() as session:
            result = await audit.verify(session)
        verify_elapsed = time.perf_counter() - start
        assert result.ok
        await db.dispose()
    latencies.sort()
    return {
        "auth_requests_per_s": round(AUTH_REQUESTS / auth_elapsed, 1),
        "auth_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "auth_p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 3),
        "audit_appends_per_s": round(AUDIT_APPENDS / append_elapsed, 1),
        "audit_verify_entries_per_s": round(result.entries_checked / verify_elapsed, 1),
        "audit_entries_verified": result.entries_checked,
    }


async def main() -> None:
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{tmp}/bench.db")
    name = f"soberana_bench_{os.getpid()}"
    admin_dsn = PG_URL
    connection = await asyncpg.connect(admin_dsn)
    await connection.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_URL.rsplit("/", 1)[0]
        results["postgresql"] = await measure(f"{base}/{name}")
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()

    sqlite, pg = results["sqlite"], results["postgresql"]
    summary = {
        "sqlite_auth_requests_per_s": sqlite["auth_requests_per_s"],
        "postgresql_auth_requests_per_s": pg["auth_requests_per_s"],
        "sqlite_audit_appends_per_s": sqlite["audit_appends_per_s"],
        "postgresql_audit_appends_per_s": pg["audit_appends_per_s"],
        "sqlite_audit_verify_entries_per_s": sqlite["audit_verify_entries_per_s"],
        "postgresql_audit_verify_entries_per_s": pg["audit_verify_entries_per_s"],
        "postgresql_to_sqlite_auth_ratio": round(pg["auth_requests_per_s"] / sqlite["auth_requests_per_s"], 2),
    }
    rows = [
        ("Authenticated requests/s (GET /admin/me)", "auth_requests_per_s"),
        ("Audit appends/s (one transaction each)", "audit_appends_per_s"),
        ("Audit entries verified/s", "audit_verify_entries_per_s"),
    ]
    lines = [
        "One process, one client, sequential requests through the ASGI app (no network).",
        "",
        "| Measure | SQLite | PostgreSQL | PostgreSQL ÷ SQLite |",
        "|---|---:|---:|---:|",
    ]
    for label, key in rows:
        lines.append(f"| {label} | {sqlite[key]:,} | {pg[key]:,} | {pg[key] / sqlite[key]:.2f} |")
    lines += [
        "",
        f"Authentication latency: SQLite p50 {sqlite['auth_p50_ms']} ms, p95 {sqlite['auth_p95_ms']} ms; "
        f"PostgreSQL p50 {pg['auth_p50_ms']} ms, p95 {pg['auth_p95_ms']} ms.",
        "",
    ]
    for label, key in rows:
        top = max(sqlite[key], pg[key])
        lines += [
            f"**{label}**",
            "",
            "```",
            f"SQLite     {bar(sqlite[key], top)} {sqlite[key]:,}",
            f"PostgreSQL {bar(pg[key], top)} {pg[key]:,}",
            "```",
            "",
        ]
    path = write_results("foundation", summary, results, "\n".join(lines))
    print(f"wrote {path}")
    print("\n".join(lines[:8]))


if __name__ == "__main__":
    asyncio.run(main())
