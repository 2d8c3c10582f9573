"""The EU AI Act assessment through the API: it sets the use case's risk group (which decides who may
approve it), keeps only the answers on the path, needs a justification for the Art. 6(3) exception,
lets a reviewer above the organisation override it with a reason, and is flagged when the tree or the
use case changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from soberana.audit.models import AuditEntry
from soberana.governance import ai_act
from soberana.governance.routes import _ai_act_out
from tests.governance.conftest import COMPLETE, Keys, rebuilt
from tests.governance.test_ai_act import BENEFITS

USE_CASES = "/v1/governance/use-cases"


async def registered(client: httpx.AsyncClient, keys: Keys) -> str:
    response = await client.post(USE_CASES, headers=keys.writer, json=COMPLETE)
    return str(response.json()["id"])


async def assess(client: httpx.AsyncClient, keys: Keys, uc: str, answers: dict[str, str], **extra: Any) -> Any:
    response = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=keys.writer, json={"answers": answers, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_annex_iii_use_is_high_risk_with_its_obligations_in_three_languages(
    client: httpx.AsyncClient, agency: Keys
) -> None:
    uc = await registered(client, agency)
    body = await assess(client, agency, uc, BENEFITS)
    assert (body["complete"], body["conclusion"]["id"], body["risk_group"]) == (True, "high_risk", "high_risk")
    duties = {o["id"]: o for o in body["obligations"]}
    assert "Art. 27" in " ".join(duties["art_27_fria"]["articles"])
    assert duties["art_26_logs"]["applies_from"] == "2027-12-02"
    assert duties["art_26_logs"]["in_force"] is False and duties["art_4_literacy"]["in_force"] is True
    assert [step["question"] for step in body["path"]][:3] == ["ai_system", "general_purpose", "role"]

    spanish = (await client.get(f"{USE_CASES}/{uc}/ai-act?language=es", headers=agency.auditor)).json()
    icelandic = (await client.get(f"{USE_CASES}/{uc}/ai-act?language=is", headers=agency.auditor)).json()
    texts = {body["conclusion"]["text"], spanish["conclusion"]["text"], icelandic["conclusion"]["text"]}
    assert len(texts) == 3
    use_case = (await client.get(f"{USE_CASES}/{uc}", headers=agency.writer)).json()
    assert use_case["risk_group"] == "high_risk"


async def test_a_use_assessed_as_prohibited_cannot_be_approved(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = await registered(client, agency)
    answers = {"ai_system": "yes", "general_purpose": "no", "role": "deployer", "prohibited_practice": "social_scoring"}
    body = await assess(client, agency, uc, answers | {"annex_i_product": "no"})
    assert (body["risk_group"], body["dropped"]) == ("prohibited", ["annex_i_product"])
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    refused = await client.post(
        f"{USE_CASES}/{uc}/actions", headers=ministry.admin, json={"action": "approve", "version": 1}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "prohibited_practice"


async def test_the_exception_needs_a_justification_and_lowers_who_approves(
    client: httpx.AsyncClient, agency: Keys
) -> None:
    uc = await registered(client, agency)
    exception = BENEFITS | {"exception_6_3": "preparatory_task"}
    waiting = await assess(client, agency, uc, exception)
    assert (waiting["complete"], waiting["needs_justification"]) == (False, True)
    assert waiting["pending"]["id"] == "exception_6_3"
    assert waiting["risk_group"] == "unassessed"

    reason = "It only sorts incoming letters into queues; a caseworker decides every case."
    done = await assess(client, agency, uc, exception, justifications={"exception_6_3": reason})
    assert (done["complete"], done["risk_group"], done["conclusion"]["id"]) == (
        True,
        "minimal",
        "minimal_with_exception",
    )
    assert done["path"][-5]["justification"] == reason
    # a lower risk: the agency's own administrator may now approve
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    approved = await client.post(
        f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "approve", "version": 1}
    )
    assert approved.status_code == 200, approved.text


async def test_a_reviewer_above_overrides_with_a_reason_until_the_answers_change(
    app: Any, client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = await registered(client, agency)
    justified = {"exception_6_3": "It only prepares a summary for a caseworker."}
    await assess(client, agency, uc, BENEFITS | {"exception_6_3": "preparatory_task"}, justifications=justified)
    override = {"risk_group": "high_risk", "justification": "The summaries steer decisions in practice."}
    own = await client.post(f"{USE_CASES}/{uc}/ai-act/override", headers=agency.admin, json=override)
    assert own.status_code == 403
    done = await client.post(f"{USE_CASES}/{uc}/ai-act/override", headers=ministry.admin, json=override)
    assert done.status_code == 200, done.text
    assert (done.json()["risk_group"], done.json()["override"]["justification"]) == (
        "high_risk",
        override["justification"],
    )
    async with app.state.platform.db.session() as session:
        stmt = select(AuditEntry).where(AuditEntry.action == "governance.use_case.risk_overridden")
        entry = (await session.scalars(stmt)).first()
    assert json.loads(entry.details)["from"] == "minimal"
    assert json.loads(entry.details)["to"] == "high_risk"

    # a stricter judgement holds whatever the answers become, until a reviewer above lowers it again
    same = await assess(client, agency, uc, BENEFITS | {"exception_6_3": "preparatory_task"}, justifications=justified)
    assert same["risk_group"] == "high_risk"
    other = await assess(client, agency, uc, BENEFITS | {"annex_iii_area": "none"})
    assert (other["override"], other["risk_group"]) == (None, "high_risk")
    lowered = await client.post(
        f"{USE_CASES}/{uc}/ai-act/override",
        headers=ministry.admin,
        json={"risk_group": "minimal", "justification": "A chatbot for opening hours only."},
    )
    assert lowered.json()["risk_group"] == "minimal"


async def test_the_assessment_is_flagged_when_the_use_case_or_the_tree_changes(
    app: Any, client: httpx.AsyncClient, agency: Keys, tmp_path: Path
) -> None:
    uc = await registered(client, agency)
    await assess(client, agency, uc, BENEFITS)
    await client.patch(f"{USE_CASES}/{uc}", headers=agency.writer, json={"fields": {"owner": "Benefits team"}})
    flagged = (await client.get(f"{USE_CASES}/{uc}/ai-act", headers=agency.writer)).json()
    assert flagged["stale"] == ["use_case_changed"]

    document = yaml.safe_load(ai_act.EU_AI_ACT.read_text(encoding="utf-8"))
    document["version"] = "1.0.1"
    newer = tmp_path / "eu_ai_act.yaml"
    newer.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    platform = app.state.platform
    service = rebuilt(platform, ai_act_tree=newer)
    principal = await platform.authenticator.authenticate_key(agency.writer["Authorization"].removeprefix("Bearer "))
    view = await service.ai_act_assessment(principal, uc)
    assert _ai_act_out(view, "en").stale == ["tree_changed", "use_case_changed"]


async def test_the_tree_and_bad_answers(client: httpx.AsyncClient, agency: Keys) -> None:
    tree = await client.get("/v1/governance/ai-act/tree?language=is", headers=agency.auditor)
    assert tree.status_code == 200
    first = tree.json()["questions"][0]
    assert first["id"] == "ai_system" and "gervigreind" in first["text"]
    assert (await client.get("/v1/governance/ai-act/tree", headers=agency.tenant.headers("staff"))).status_code == 403

    uc = await registered(client, agency)
    wrong = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.writer, json={"answers": {"role": "owner"}})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["param"] == "answers.role"
    auditor = await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.auditor, json={"answers": {}})
    assert auditor.status_code == 403


async def test_a_prohibited_override_holds_and_nothing_runs(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = await registered(client, agency)
    await assess(client, agency, uc, BENEFITS | {"annex_iii_area": "none"})
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    approved = await client.post(
        f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "approve", "version": 1, "assessment": 1}
    )
    assert approved.status_code == 200, approved.text
    banned = await client.post(
        f"{USE_CASES}/{uc}/ai-act/override",
        headers=ministry.admin,
        json={"risk_group": "prohibited", "justification": "It scores residents' reliability."},
    )
    assert banned.json()["risk_group"] == "prohibited"
    # new answers do not lift a reviewer's stricter judgement
    await assess(client, agency, uc, BENEFITS | {"annex_iii_area": "none", "interacts": "yes"})
    refused = await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "go_live"})
    assert refused.json()["error"]["code"] == "prohibited_practice"


async def test_the_approver_does_not_write_the_assessment_nor_approve_another_one(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = await registered(client, agency)
    answers = {"answers": BENEFITS | {"annex_iii_area": "none"}}
    await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.admin, json=answers)
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    own = await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "approve", "version": 1})
    assert own.json()["error"]["code"] == "four_eyes"
    # the submitter withdraws, someone else assesses again: an approval naming the first assessment is refused
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "withdraw"})
    await client.put(f"{USE_CASES}/{uc}/ai-act", headers=agency.colleague, json=answers)
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    stale = await client.post(
        f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "approve", "version": 1, "assessment": 1}
    )
    assert (stale.status_code, stale.json()["error"]["param"]) == (409, "assessment")
    ok = await client.post(
        f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "approve", "version": 1, "assessment": 2}
    )
    assert ok.status_code == 200, ok.text


async def test_resuming_needs_the_reviewer_the_approval_needed(
    client: httpx.AsyncClient, agency: Keys, ministry: Keys
) -> None:
    uc = await registered(client, agency)
    await assess(client, agency, uc, BENEFITS)  # high-risk
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    await client.post(f"{USE_CASES}/{uc}/actions", headers=ministry.admin, json={"action": "approve", "version": 1})
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "go_live"})
    await client.post(
        f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "suspend", "reason": "Errors."}
    )
    # answered again as minimal while suspended: the resume still needs a reviewer above
    await assess(client, agency, uc, BENEFITS | {"annex_iii_area": "none"})
    refused = await client.post(
        f"{USE_CASES}/{uc}/actions", headers=agency.admin, json={"action": "resume", "reason": "Fixed."}
    )
    assert refused.json()["error"]["code"] == "approver_required"


async def test_an_assessment_made_with_another_tree_decides_nothing(
    app: Any, client: httpx.AsyncClient, agency: Keys, tmp_path: Path
) -> None:
    from soberana.auth.principal import Origin
    from soberana.errors import PermissionDenied
    from soberana.governance.schemas import ReviewAction

    uc = await registered(client, agency)
    await assess(client, agency, uc, BENEFITS | {"annex_iii_area": "none"})
    await client.post(f"{USE_CASES}/{uc}/actions", headers=agency.writer, json={"action": "submit"})
    document = yaml.safe_load(ai_act.EU_AI_ACT.read_text(encoding="utf-8"))
    document["version"] = "1.0.1"
    newer = tmp_path / "eu_ai_act.yaml"
    newer.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    platform = app.state.platform
    service = rebuilt(platform, ai_act_tree=newer)
    admin = await platform.authenticator.authenticate_key(agency.admin["Authorization"].removeprefix("Bearer "))
    with pytest.raises(PermissionDenied) as refused:
        await service.act(admin, uc, ReviewAction(action="approve", version=1), Origin())
    assert refused.value.code == "approver_required"
