"""Governance benchmark: how fast the kill switch reaches another server process, and what run-time
enforcement adds to a gateway call.

1. **Kill switch across processes.** Two ``soberana serve`` processes on one PostgreSQL database. A use
   case is approved and an API key bound to it; then, 20 times: suspend it through process A, and call
   process B every 5 ms until it refuses (``use_case_suspended``); the time from the suspension's answer
   to the first refusal is recorded; resume, wait until B allows again, and wait a random 0–1 s (so
   that suspensions fall anywhere in the processes' check cycle). Measured twice, side by side:
   with Redis publish/subscribe (``redis_url`` set; the scale-out path) and with each process's own
   check of the register's change counter only (``governance_check_seconds`` = 1; no Redis).
2. **Added latency.** One process, in-process ASGI calls at concurrency 1 to a mock model: blocks of
   calls with enforcement ``off`` and ``enforce`` alternated, the p50 of each and their difference;
   and the p50 of the check alone (``Enforcer.admit``).

    make bench NAME=governance          (BENCH_RUNS=20 by default)

Needs PostgreSQL at ``SOBERANA_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432``)
and Redis at ``SOBERANA_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _common import bar, write_results  # noqa: E402

from soberana.auth.principal import Role, Scope, cli_principal  # noqa: E402
from soberana.auth.schemas import ApiKeyCreate, OrganisationCreate, UserCreate  # noqa: E402
from soberana.devtools.servers import serve_processes  # noqa: E402
from soberana.settings import Settings  # noqa: E402
from soberana.storage import migrate  # noqa: E402
from soberana.storage.db import Database  # noqa: E402
from soberana.web.app import create_app  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "20"))
PG = os.environ.get("SOBERANA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("SOBERANA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "bench-secret-key-bench-secret-key-0123456789"
MOCK = {"alias": "mock-chat", "provider": "mock", "capabilities": ["chat"]}
CHAT = {"model": "mock-chat", "messages": [{"role": "user", "content": "Draft a reply."}]}
USE_CASE = {
    "name": "Benefit letters assistant",
    "description": "Drafts replies to letters about housing benefit for a caseworker to check and send.",
    "purpose": "Answer letters faster.",
    "public_benefit": "Residents get an answer within days instead of weeks.",
    "owner": "Housing benefit team",
    "senior_responsible_owner": "Director of Housing",
    "contact_email": "ai-register@agency.example",
    "affected_people": "Residents who write about housing benefit.",
    "human_intervention": "A caseworker reads, edits and sends every reply.",
    "legal_basis": "Housing Benefit Regulations 2006, reg. 90.",
    "models": ["mock-chat"],
}
MINIMAL = {  # an EU AI Act path that ends in minimal risk
    "ai_system": "yes",
    "general_purpose": "no",
    "role": "deployer",
    "prohibited_practice": "none",
    "annex_i_product": "no",
    "annex_iii_area": "none",
    "interacts": "no",
    "synthetic_content": "no",
    "emotion_or_biometric": "no",
    "deepfake_or_public_text": "no",
}
UC = "/v1/governance/use-cases"


def pg_url(database: str) -> str:
    base = PG.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"


async def fresh_database(name: str) -> str:
    connection = await asyncpg.connect(PG)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = pg_url(name)
    database = Database.from_settings(Settings(database_url=url, secret_key=SECRET))
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    return url


async def key(platform: Any, user_id: str, scopes: list[Scope]) -> tuple[str, dict[str, str]]:
    async with platform.db.write_session() as session:
        created, plaintext = await platform.admin.create_key(
            session, cli_principal("bench"), ApiKeyCreate(name="bench", user_id=user_id, scopes=scopes)
        )
    return created.id, {"Authorization": f"Bearer {plaintext}"}


async def approved_and_bound(settings: Settings) -> tuple[dict[str, str], dict[str, str], str, Any]:
    """An organisation with a use case approved (four eyes) and a staff key bound to it; returns the key's
    headers, an administrator's headers, the use case's id and the still running app."""
    app = create_app(settings)
    context = app.router.lifespan_context(app)
    await context.__aenter__()
    platform = app.state.platform
    root = cli_principal("bench")
    async with platform.db.write_session() as session:
        org = await platform.admin.create_organisation(session, root, OrganisationCreate(slug="agency", name="Agency"))
    people = {}
    for name, role in (("writer", Role.STAFF), ("admin", Role.ORG_ADMIN)):
        async with platform.db.write_session() as session:
            user = await platform.admin.create_user(
                session,
                root,
                UserCreate(org_id=org.id, email=f"{name}@agency.example", display_name=name, role=role),
            )
        people[name] = user.id
    _, writer = await key(platform, people["writer"], [Scope.GOVERNANCE])
    _, admin = await key(platform, people["admin"], [Scope.GOVERNANCE, Scope.ADMIN])
    staff_id, staff = await key(platform, people["writer"], [Scope.INFERENCE])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        uc = (await client.post(UC, headers=writer, json=USE_CASE)).json()["id"]
        await client.put(f"{UC}/{uc}/ai-act", headers=writer, json={"answers": MINIMAL})
        await client.post(f"{UC}/{uc}/actions", headers=writer, json={"action": "submit"})
        approved = await client.post(f"{UC}/{uc}/actions", headers=admin, json={"action": "approve", "version": 1})
        assert approved.status_code == 200, approved.text
        bound = await client.put(f"/v1/governance/bindings/api_key/{staff_id}", headers=admin, json={"use_case_id": uc})
        assert bound.status_code == 200, bound.text
    return staff, admin, uc, (app, context)


async def until(http: httpx.AsyncClient, url: str, headers: dict[str, str], status: int, limit: float) -> float:
    """Seconds until a call to ``url`` answers ``status`` (calling every 5 ms)."""
    start = time.perf_counter()
    while True:
        response = await http.post(url, headers=headers, json=CHAT)
        elapsed = time.perf_counter() - start
        if response.status_code == status:
            return elapsed
        if elapsed > limit:
            raise RuntimeError(f"no {status} after {limit} s: {response.status_code} {response.text[:200]}")
        await asyncio.sleep(0.005)


async def kill_switch(redis: bool) -> list[float]:
    url = await fresh_database(f"soberana_bench_governance_{'redis' if redis else 'check'}")
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data), database_url=url, secret_key=SECRET, demo_models=False, deployments=[MOCK]
        )
        staff, admin, uc, (_, context) = await approved_and_bound(settings)
        await context.__aexit__(None, None, None)
        env = {
            "SOBERANA_DATA_DIR": data,
            "SOBERANA_DATABASE_URL": url,
            "SOBERANA_SECRET_KEY": SECRET,
            "SOBERANA_DEMO_MODELS": "false",
            "SOBERANA_DEPLOYMENTS": json.dumps([MOCK]),
            "SOBERANA_GOVERNANCE_ENFORCEMENT": "enforce",
            "SOBERANA_GOVERNANCE_CHECK_SECONDS": "1",
            "SOBERANA_LOG_LEVEL": "warning",
        } | ({"SOBERANA_REDIS_URL": REDIS} if redis else {})
        times: list[float] = []
        with serve_processes(env, count=2) as (first, second):
            async with httpx.AsyncClient(timeout=10) as http:
                await until(http, second + "/v1/chat/completions", staff, 200, 10)
                for _ in range(RUNS):
                    # at a random point of the processes' check cycle (else each run starts right after one)
                    await asyncio.sleep(random.uniform(0, 1.0))
                    for action, reason in (("suspend", "Benchmark."), ("resume", "Benchmark over.")):
                        done = await http.post(
                            f"{first}{UC}/{uc}/actions", headers=admin, json={"action": action, "reason": reason}
                        )
                        assert done.status_code == 200, done.text
                        if action == "suspend":
                            times.append(await until(http, second + "/v1/chat/completions", staff, 403, 10))
                        else:
                            await until(http, second + "/v1/chat/completions", staff, 200, 10)
        return times


async def added_latency() -> dict[str, float]:
    url = await fresh_database("soberana_bench_governance_latency")
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            data_dir=Path(data),
            database_url=url,
            secret_key=SECRET,
            demo_models=False,
            deployments=[MOCK],
            governance_enforcement="enforce",
            governance_audit_seconds=3600,
        )
        staff, _, _, (app, context) = await approved_and_bound(settings)
        enforcer = app.state.platform.enforcer
        timings: dict[str, list[float]] = {"off": [], "enforce": []}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(50):  # warm up
                await client.post("/v1/chat/completions", headers=staff, json=CHAT)
            for block in range(40):
                mode = "off" if block % 2 == 0 else "enforce"
                enforcer.mode = mode
                for _ in range(50):
                    start = time.perf_counter()
                    response = await client.post("/v1/chat/completions", headers=staff, json=CHAT)
                    timings[mode].append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, response.text
            principal = await app.state.platform.authenticator.authenticate_key(
                staff["Authorization"].removeprefix("Bearer ")
            )
            checks = []
            for _ in range(5000):
                start = time.perf_counter()
                await enforcer.admit(principal, "mock-chat")
                checks.append((time.perf_counter() - start) * 1000)
        await context.__aexit__(None, None, None)
    off, on = statistics.median(timings["off"]), statistics.median(timings["enforce"])
    return {
        "off_p50_ms": round(off, 3),
        "enforce_p50_ms": round(on, 3),
        "added_p50_ms": round(on - off, 3),
        "check_p50_ms": round(statistics.median(checks), 4),
        "calls_per_mode": len(timings["off"]),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    redis = await kill_switch(redis=True)
    check = await kill_switch(redis=False)
    latency = await added_latency()
    switch = {
        name: {
            "p50_s": round(statistics.median(values), 3),
            "p95_s": round(percentile(values, 0.95), 3),
            "max_s": round(max(values), 3),
            "runs": len(values),
        }
        for name, values in (("redis", redis), ("version_check", check))
    }
    summary = {
        "kill_switch_p50_s": switch["redis"]["p50_s"],
        "kill_switch_p95_s": switch["redis"]["p95_s"],
        "kill_switch_version_check_p95_s": switch["version_check"]["p95_s"],
        "enforcement_added_p50_ms": max(0.0, latency["added_p50_ms"]),
        "enforcement_check_p50_ms": latency["check_p50_ms"],
        "targets": {"kill_switch_p95_s": 2.0, "enforcement_added_p50_ms": 0.2},
    }
    top = max(v["p95_s"] for v in switch.values())
    lines = [
        "Suspend-to-refusal time across two `soberana serve` processes on PostgreSQL "
        f"({RUNS} suspensions each; target p95 ≤ 2 s):",
        "",
        "| path | p50 (s) | p95 (s) | max (s) | p95 |",
        "|---|---:|---:|---:|---|",
    ]
    for name, values in switch.items():
        label = {"redis": "Redis publish/subscribe", "version_check": "change counter, checked every 1 s"}[name]
        lines.append(
            f"| {label} | {values['p50_s']} | {values['p95_s']} | {values['max_s']} | {bar(values['p95_s'], top)} |"
        )
    lines += [
        "",
        f"Gateway latency at concurrency 1, in-process, {latency['calls_per_mode']} calls per mode, blocks "
        "alternated (target: added p50 ≤ 0.2 ms):",
        "",
        "| enforcement | p50 (ms) |",
        "|---|---:|",
        f"| off | {latency['off_p50_ms']} |",
        f"| enforce | {latency['enforce_p50_ms']} |",
        f"| added | {latency['added_p50_ms']} |",
        f"| the check alone (`Enforcer.admit`) | {latency['check_p50_ms']} |",
    ]
    path = write_results("governance", summary, {"kill_switch": switch, "latency": latency}, "\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    asyncio.run(main())
