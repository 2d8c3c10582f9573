"""The kill switch across server processes: a use case suspended through one ``soberana serve`` process
is refused by another. On PostgreSQL the change travels by Redis publish/subscribe (the processes' own
check is set to 30 s here, so only the signal can carry it in time); on SQLite, with no Redis, by each
process's check of the register's change counter. How fast is measured by ``make bench
NAME=governance`` (``summary.kill_switch_p95_s``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from soberana.devtools.servers import serve_processes
from soberana.settings import Settings
from soberana.web.app import create_app
from tests.conftest import MOCK_DEPLOYMENT, TEST_SECRET, make_tenant
from tests.governance.conftest import keys_for
from tests.governance.test_enforcement import approved_use_case, bind, chat

REDIS_URL = os.environ.get("SOBERANA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHAT = "/v1/chat/completions"


async def test_a_suspension_reaches_the_other_process(db_url: str, tmp_path: Path) -> None:
    redis = not db_url.startswith("sqlite")
    env = {
        "SOBERANA_DATA_DIR": str(tmp_path / "data"),
        "SOBERANA_DATABASE_URL": db_url,
        "SOBERANA_SECRET_KEY": TEST_SECRET,
        "SOBERANA_DEMO_MODELS": "false",
        "SOBERANA_DEPLOYMENTS": json.dumps([MOCK_DEPLOYMENT]),
        "SOBERANA_GOVERNANCE_ENFORCEMENT": "enforce",
        "SOBERANA_EVALUATIONS_GATE": "off",
        "SOBERANA_GOVERNANCE_CHECK_SECONDS": "30" if redis else "0.2",
    } | ({"SOBERANA_REDIS_URL": REDIS_URL} if redis else {})
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[MOCK_DEPLOYMENT],
        evaluations_gate="off",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        agency = await keys_for(app, await make_tenant(app, "agency"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soberana.test") as client:
            uc = await approved_use_case(client, agency)
            assert (await bind(client, agency, "api_key", agency.tenant.staff_key_id, uc)).status_code == 200
    staff = agency.tenant.headers("staff")

    with serve_processes(env, count=2, logs=tmp_path) as (first, second):
        async with httpx.AsyncClient(timeout=10) as http:
            for url in (first, second):
                assert (await http.post(url + CHAT, headers=staff, json=chat())).status_code == 200
            suspended = await act_on(http, first, agency.admin, uc, "suspend", reason="Wrong rates quoted.")
            assert suspended.status_code == 200, suspended.text
            refused = await first_refusal(http, second + CHAT, staff, deadline=10.0)
            assert refused.json()["error"]["code"] == "use_case_suspended"
            resumed = await act_on(http, second, agency.admin, uc, "resume", reason="Rates fixed.")
            assert resumed.status_code == 200, resumed.text
            allowed = await first_refusal(http, first + CHAT, staff, deadline=10.0, until=200)
            assert allowed.status_code == 200


async def act_on(http: httpx.AsyncClient, url: str, headers: dict[str, str], uc: str, action: str, **body: Any) -> Any:
    return await http.post(
        f"{url}/v1/governance/use-cases/{uc}/actions", headers=headers, json={"action": action, **body}
    )


async def first_refusal(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], *, deadline: float, until: int = 403
) -> httpx.Response:
    """Call until the answer's status is ``until`` (a refusal, by default), at most ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        response = await http.post(url, headers=headers, json=chat())
        if response.status_code == until or time.monotonic() > end:
            assert response.status_code == until, response.text
            return response
        await anyio.sleep(0.02)
