"""Requirements with live evidence through the API, on SQLite and PostgreSQL: what applies follows the
assessments; people record states; where the platform is the proof the check is computed at each reading,
so a requirement marked done turns back to "to do", flagged, when the setting behind it changes."""

from __future__ import annotations

import httpx

from tests.governance.conftest import COMPLETE, Keys
from tests.governance.test_ai_act import BENEFITS
from tests.governance.test_register import assess_minimal

USE_CASES = "/v1/governance/use-cases"
LOGS = "ai_act_art_26_6_logs"


async def requirements(client: httpx.AsyncClient, keys: Keys, uc: str, language: str = "en") -> dict[str, dict]:  # type: ignore[type-arg]
    response = await client.get(f"{USE_CASES}/{uc}/requirements?language={language}", headers=keys.auditor)
    assert response.status_code == 200, response.text
    return {r["id"]: r for r in response.json()["data"]}


async def test_log_retention_is_checked_live_and_flagged_when_it_stops_holding(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE)).json()["id"]
    assessed = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.writer, json={"answers": BENEFITS})
    assert assessed.json()["risk_group"] == "high_risk"
    found = await requirements(client, agency, uc)
    assert {LOGS, "ai_act_art_27_fria", "ai_act_art_49_registration", "ai_act_art_4_literacy"} <= set(found)
    logs = found[LOGS]
    assert (logs["state"], logs["flagged"], logs["evidence"]["state"]) == ("done", False, "holds")
    assert logs["evidence"]["facts"]["usage_retention_days"] == 400
    assert found["ai_act_art_27_fria"]["evidence"] is None and found["ai_act_art_27_fria"]["state"] == "to_do"

    recorded = await client.put(
        f"{USE_CASES}/{uc}/requirements/{LOGS}", headers=agency.writer, json={"state": "done", "reason": "Checked."}
    )
    assert recorded.status_code == 200, recorded.text
    # the organisation shortens the retention of usage logs below six months: no longer met
    shorter = await client.put(
        f"/admin/privacy/policies/organisations/{agency.tenant.org_id}",
        headers=agency.admin,
        json={"retention": {"usage_days": 30}},
    )
    assert shorter.status_code == 200, shorter.text
    logs = (await requirements(client, agency, uc))[LOGS]
    assert (logs["state"], logs["flagged"], logs["recorded_state"], logs["evidence"]["state"]) == (
        "to_do",
        True,
        "done",
        "fails",
    )
    # the ministry above it removes the agency's policy: the installation's 400 days again
    removed = await client.delete(
        f"/admin/privacy/policies/organisations/{agency.tenant.org_id}", headers=ministry.admin
    )
    assert removed.status_code in (200, 204), removed.text
    logs = (await requirements(client, agency, uc))[LOGS]
    assert (logs["state"], logs["flagged"]) == ("done", False)

    spanish = (await requirements(client, agency, uc, "es"))[LOGS]["title"]
    icelandic = (await requirements(client, agency, uc, "is"))[LOGS]["title"]
    assert len({logs["title"], spanish, icelandic}) == 3


async def test_what_applies_follows_the_assessment(client: httpx.AsyncClient, agency: Keys) -> None:
    uc = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE)).json()["id"]
    unassessed = await requirements(client, agency, uc)
    assert LOGS in unassessed  # not assessed yet: everything that could apply does (fail safe)
    await assess_minimal(client, agency, uc)
    minimal = await requirements(client, agency, uc)
    assert "ai_act_art_4_literacy" in minimal and LOGS not in minimal
    refused = await client.put(f"{USE_CASES}/{uc}/requirements/{LOGS}", headers=agency.writer, json={"state": "done"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "requirement_not_applicable")
    no_reason = await client.put(
        f"{USE_CASES}/{uc}/requirements/ai_act_art_4_literacy", headers=agency.writer, json={"state": "not_applicable"}
    )
    assert (no_reason.status_code, no_reason.json()["error"]["param"]) == (400, "reason")
    unknown = await client.put(
        f"{USE_CASES}/{uc}/requirements/no_such_thing", headers=agency.writer, json={"state": "done"}
    )
    assert unknown.status_code == 404
    auditor = await client.put(
        f"{USE_CASES}/{uc}/requirements/ai_act_art_4_literacy", headers=agency.auditor, json={"state": "done"}
    )
    assert auditor.status_code == 403
