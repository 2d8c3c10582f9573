"""Canada's AIA through the API: answers scored and kept with the use case, a new version each time,
flagged when the use case changes; the questionnaire's requirements in English or French."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from soberana.errors import ServiceUnavailable
from tests.governance.conftest import COMPLETE, Keys, rebuilt
from tests.governance.test_aia import DESIGN, FORTY

USE_CASES = "/v1/governance/use-cases"


async def test_an_assessment_is_scored_kept_and_flagged_when_the_use_case_changes(
    app: Any, client: httpx.AsyncClient, agency: Keys
) -> None:
    uc = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE)).json()["id"]
    missing = await client.get(f"{USE_CASES}/{uc}/aia", headers=agency.writer)
    assert missing.status_code == 404

    # 40 points + aboutAlgorithm1 (1) + aboutSystem8 (1) = 42 > 41.75: level II
    answers = DESIGN | FORTY | {"aboutSystem8": "item2-1", "aboutAlgorithm1": "item1-1"}
    first = await client.put(f"{USE_CASES}/{uc}/aia", headers=agency.writer, json={"answers": answers})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["version"], body["use_case_version"], body["total"], body["level_name"]) == (1, 1, 42, "II")
    assert body["max_raw"] == 167 and body["stale"] == []
    assert body["requirements"][0]["title"] == "Notice"

    french = (await client.get(f"{USE_CASES}/{uc}/aia?language=fr", headers=agency.auditor)).json()
    assert french["requirements"][0]["text"] != body["requirements"][0]["text"]

    await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"owner": "Benefits team"}})
    flagged = (await client.get(f"{USE_CASES}/{uc}/aia", headers=agency.writer)).json()
    assert flagged["stale"] == ["use_case_changed"]

    # answered again with a question hidden by the phase: not counted, and said so
    again = await client.put(
        f"{USE_CASES}/{uc}/aia",
        headers=agency.colleague,
        json={"answers": {"projectDetailsPhase": "item2", "dataQualityDesign1": "item1-3", "impact6": "item4-4"}},
    )
    assert (again.json()["version"], again.json()["use_case_version"], again.json()["total"]) == (2, 2, 4)
    assert again.json()["ignored"] == ["dataQualityDesign1"]
    assert again.json()["stale"] == []

    async with app.state.platform.db.session() as session:
        stmt = (
            select(AuditEntry).where(AuditEntry.action == "governance.use_case.aia_assessed").order_by(AuditEntry.seq)
        )
        entries = (await session.scalars(stmt)).all()
    assert [json.loads(e.details)["level"] for e in entries] == ["II", "I"]


async def test_bad_answers_and_readers(client: httpx.AsyncClient, agency: Keys) -> None:
    uc = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE)).json()["id"]
    unknown = await client.put(f"{USE_CASES}/{uc}/aia", headers=agency.writer, json={"answers": {"colour": "red"}})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["param"] == "answers.colour"
    choice = await client.put(f"{USE_CASES}/{uc}/aia", headers=agency.writer, json={"answers": {"impact6": "item9-9"}})
    assert choice.status_code == 422
    twice = await client.put(
        f"{USE_CASES}/{uc}/aia", headers=agency.writer, json={"answers": {"decisionSector1": ["item1-1", "item1-1"]}}
    )
    assert (twice.status_code, twice.json()["error"]["param"]) == (422, "answers.decisionSector1")
    nan = await client.put(
        f"{USE_CASES}/{uc}/aia",
        headers={**agency.writer, "Content-Type": "application/json"},
        content=b'{"answers": {"projectDetailsRespondent": NaN}}',
    )
    assert nan.status_code == 422
    auditor = await client.put(f"{USE_CASES}/{uc}/aia", headers=agency.auditor, json={"answers": {}})
    assert auditor.status_code == 403
    assert (await client.get(f"{USE_CASES}/{uc}/aia", headers=agency.writer)).status_code == 404  # nothing kept


async def test_without_a_questionnaire_the_assessment_is_unavailable(app: Any) -> None:
    platform = app.state.platform
    service = rebuilt(platform, aia_dir=None)
    with pytest.raises(ServiceUnavailable) as refused:
        await service.questionnaire()
    assert refused.value.code == "aia_not_configured"


async def test_the_impact_assessment_is_frozen_in_review(client: httpx.AsyncClient, agency: Keys) -> None:
    uc = (await client.post(USE_CASES, headers=agency.writer, json=COMPLETE)).json()["id"]
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    frozen = await client.put(f"{USE_CASES}/{uc}/aia", headers=agency.writer, json={"answers": {"impact6": "item1-1"}})
    assert (frozen.status_code, frozen.json()["error"]["code"]) == (409, "not_editable")
