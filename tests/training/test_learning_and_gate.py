"""Taking a course through the API: feedback per question, a pass that completes the course with a
certificate anyone can check (valid, expired, revoked, unknown), and the gateway's training gate: a person
is refused models before completing the baseline course, allowed after, refused again once it expires;
service accounts are exempt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from soberana.auth.principal import cli_principal
from soberana.auth.schemas import ApiKeyCreate
from soberana.core.clock import utcnow
from soberana.settings import Settings
from soberana.training.models import Completion
from tests.conftest import Tenant, make_tenant
from tests.training.test_courses import COURSE, make_course

CHAT = "/v1/chat/completions"
HELLO = {"model": "mock-chat", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    courses = tmp_path / "courses"
    courses.mkdir()
    make_course(courses)
    oversight = make_course(tmp_path / "more")  # a second course: for the operators of high-risk use cases
    (oversight / "course.yaml").write_text(COURSE.replace("id: tiny", "id: oversee"), encoding="utf-8")
    oversight.rename(courses / "oversee")
    return settings.model_copy(
        update={
            "training_courses_dir": str(courses),
            "training_gate": "enforce",
            "training_baseline_course": "tiny",
            "training_oversight_course": "oversee",
            "training_check_seconds": 0.0,
        }
    )


@pytest.fixture
async def tenant(app: Any) -> Tenant:
    return await make_tenant(app, "agency")


async def test_a_person_is_refused_models_until_trained_and_again_after_expiry(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    staff = tenant.headers("staff")
    refused = await client.post(CHAT, headers=staff, json=HELLO)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "training_required" and "/training/courses/tiny" in error["message"]
    assert "Tiny course" in error["message"]

    wrong = await client.post(
        "/v1/training/courses/tiny/attempts", headers=staff, json={"language": "es", "answers": {"q1": False}}
    )
    assert wrong.status_code == 201 and wrong.json()["passed"] is False and wrong.json()["completion"] is None
    assert wrong.json()["marks"] == [{"question": "q1", "points": 0.0, "feedback": ["No."]}]
    assert (await client.post(CHAT, headers=staff, json=HELLO)).status_code == 403

    passed = await client.post(
        "/v1/training/courses/tiny/attempts",
        headers=staff,
        json={"language": "es", "answers": {"q1": True}, "holder_name": "Ana G."},
    )
    body = passed.json()
    assert body["passed"] is True and body["marks"][0]["feedback"] == ["Sí."]
    completion = body["completion"]
    assert completion["holder_name"] == "Ana G." and completion["course_version"].startswith("1+")
    assert (await client.post(CHAT, headers=staff, json=HELLO)).status_code == 200

    async with app.state.platform.db.write_session() as session:  # a year later
        await session.execute(update(Completion).values(expires_at=utcnow() - timedelta(days=1)))
        await session.commit()
    again = await client.post(CHAT, headers=staff, json=HELLO)
    assert again.status_code == 403 and again.json()["error"]["code"] == "training_required"


async def test_service_accounts_and_the_platform_s_own_work_are_exempt(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    platform = app.state.platform
    async with platform.db.write_session() as session:
        _, key = await platform.admin.create_key(
            session,
            cli_principal("pytest"),
            ApiKeyCreate(name="portal", service_account_id=tenant.service_account_id, scopes=["inference"]),
        )
    allowed = await client.post(CHAT, headers={"Authorization": f"Bearer {key}"}, json=HELLO)
    assert allowed.status_code == 200, allowed.text


async def test_a_certificate_is_checked_by_its_code(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    staff = tenant.headers("staff")
    done = await client.post(
        "/v1/training/courses/tiny/attempts", headers=staff, json={"language": "en", "answers": {"q1": True}}
    )
    code = done.json()["completion"]["code"]
    checked = await client.get(f"/v1/training/certificates/{code.lower()}")  # no sign-in; any case
    assert checked.status_code == 200
    shown = checked.json()
    assert shown["status"] == "valid" and shown["course_title"]["es"] == "Curso breve"
    assert shown["holder_name"] == "agency staff"  # the display name by default, never the e-mail address
    assert set(shown) == {"object", "code", "status", "course_id", "course_title", "holder_name", "completed_at",
                          "expires_at"}  # fmt: skip
    assert (await client.get("/v1/training/certificates/AAAA-BBBB-CCCC-DDDD")).status_code == 404

    completion_id = done.json()["completion"]["id"]
    refused = await client.post(
        f"/v1/training/completions/{completion_id}/revoke", headers=staff, json={"reason": "Answers copied."}
    )
    assert refused.status_code == 403  # only administrators revoke
    other = await make_tenant(app, "elsewhere")
    hidden = await client.post(
        f"/v1/training/completions/{completion_id}/revoke", headers=other.headers("admin"), json={"reason": "x"}
    )
    assert hidden.status_code == 404  # another organisation's
    revoked = await client.post(
        f"/v1/training/completions/{completion_id}/revoke", headers=tenant.headers("admin"), json={"reason": "Copied."}
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_reason"] == "Copied."
    assert (await client.get(f"/v1/training/certificates/{code}")).json()["status"] == "revoked"
    assert (await client.post(CHAT, headers=staff, json=HELLO)).status_code == 403  # revoked: no longer trained

    again = await client.post(
        "/v1/training/courses/tiny/attempts", headers=staff, json={"language": "en", "answers": {"q1": True}}
    )
    async with app.state.platform.db.write_session() as session:
        await session.execute(
            update(Completion).where(Completion.id == again.json()["completion"]["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )  # fmt: skip
        await session.commit()
    expired = await client.get(f"/v1/training/certificates/{again.json()['completion']['code']}")
    assert expired.json()["status"] == "expired"


async def test_progress_and_bad_input(client: httpx.AsyncClient, tenant: Tenant) -> None:
    staff = tenant.headers("staff")
    courses = (await client.get("/v1/training/courses", headers=staff)).json()
    ids = [c["id"] for c in courses]  # the baseline first, then the others (the project's courses too)
    assert ids[0] == "tiny" and {"oversee", "ai-literacy"} <= set(ids) and courses[0]["questions"] == 1
    lesson = await client.get("/v1/training/courses/tiny/lessons/first", headers=staff, params={"language": "es"})
    assert lesson.json() == {"id": "first", "language": "es", "title": "Primera", "markdown": "Hola."}
    assert (await client.get("/v1/training/courses/tiny/lessons/none", headers=staff)).status_code == 404
    quiz = (await client.get("/v1/training/courses/tiny/quiz", headers=staff, params={"language": "is"})).json()
    assert quiz["language"] == "en" and "answer" not in str(quiz["questions"]).lower().replace("answers", "")
    unknown = await client.post(
        "/v1/training/courses/tiny/attempts", headers=staff, json={"language": "en", "answers": {"q9": True}}
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "answers.q9"
    wrong_language = await client.post(
        "/v1/training/courses/tiny/attempts", headers=staff, json={"language": "is", "answers": {}}
    )
    assert wrong_language.status_code == 400
    assert (await client.get("/v1/training/courses/nope", headers=staff)).status_code == 404


async def test_the_register_s_evidence_of_trained_staff_flips_with_completion(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from tests.governance.conftest import COMPLETE, keys_for

    keys = await keys_for(app, tenant)  # adds a colleague: four people in the organisation
    uc = (await client.post("/v1/governance/use-cases", headers=keys.writer, json=COMPLETE)).json()["id"]

    async def literacy() -> dict[str, Any]:
        found = await client.get(f"/v1/governance/use-cases/{uc}/requirements", headers=keys.auditor)
        return next(r for r in found.json()["data"] if r["id"] == "ai_act_art_4_literacy")["evidence"]

    assert (await literacy())["state"] == "fails"
    people = [tenant.headers("admin"), tenant.headers("staff"), tenant.headers("auditor")]
    for headers in people:
        answered = {"language": "en", "answers": {"q1": True}}
        assert (await client.post("/v1/training/courses/tiny/attempts", headers=headers, json=answered)).json()[
            "passed"
        ]
    assert (await literacy())["state"] == "fails"  # the colleague has not taken it
    done = await client.post(
        "/v1/training/courses/tiny/attempts", headers=keys.colleague, json={"language": "en", "answers": {"q1": True}}
    )
    assert done.status_code == 201, done.text
    evidence = await literacy()
    assert evidence["state"] == "holds" and evidence["facts"] == {"training_complete": True}


async def test_operators_of_a_high_risk_use_case_need_the_oversight_course(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from tests.governance.conftest import COMPLETE, keys_for
    from tests.governance.test_ai_act import BENEFITS

    keys = await keys_for(app, tenant)
    uc = (await client.post("/v1/governance/use-cases", headers=keys.writer, json=COMPLETE)).json()["id"]
    assessed = await client.put(
        f"/v1/governance/use-cases/{uc}/ai-act", headers=keys.writer, json={"answers": BENEFITS}
    )
    assert assessed.json()["risk_group"] == "high_risk"
    platform = app.state.platform
    async with platform.db.write_session() as session:
        _, portal = await platform.admin.create_key(
            session,
            cli_principal("pytest"),
            ApiKeyCreate(name="portal", service_account_id=tenant.service_account_id, scopes=["inference"]),
        )
        portal_id = (await platform.admin.list_keys(session, cli_principal("pytest"), limit=500))[0][-1].id
    for kind, subject in (("api_key", tenant.staff_key_id), ("api_key", portal_id)):
        bound = await client.put(
            f"/v1/governance/bindings/{kind}/{subject}", headers=keys.admin, json={"use_case_id": uc}
        )
        assert bound.status_code in (200, 201), bound.text
    staff, service = tenant.headers("staff"), {"Authorization": f"Bearer {portal}"}
    tiny = {"language": "en", "answers": {"q1": True}}
    assert (await client.post("/v1/training/courses/tiny/attempts", headers=staff, json=tiny)).json()["passed"]
    refused = await client.post(CHAT, headers=staff, json=HELLO)  # the baseline is not enough here
    assert refused.status_code == 403 and "/training/courses/oversee" in refused.json()["error"]["message"]
    refused = await client.post(CHAT, headers=service, json=HELLO)  # nor is a service account exempt
    assert refused.status_code == 403 and "every person of the organisation" in refused.json()["error"]["message"]
    assert (await client.post("/v1/training/courses/oversee/attempts", headers=staff, json=tiny)).json()["passed"]
    assert (await client.post(CHAT, headers=staff, json=HELLO)).status_code == 200
    for headers in (tenant.headers("admin"), tenant.headers("auditor"), keys.colleague):
        for course in ("tiny", "oversee"):  # the baseline and the oversight course, everyone
            await client.post(f"/v1/training/courses/{course}/attempts", headers=headers, json=tiny)
    assert (await client.post(CHAT, headers=service, json=HELLO)).status_code == 200


async def test_reports_count_completions_by_course_role_and_organisation(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tiny = {"language": "en", "answers": {"q1": True}}
    for who in ("staff", "admin"):
        await client.post("/v1/training/courses/tiny/attempts", headers=tenant.headers(who), json=tiny)
    await client.post("/v1/training/courses/tiny/attempts", headers=tenant.headers("staff"), json=tiny)  # again
    await client.post("/v1/training/courses/oversee/attempts", headers=tenant.headers("staff"), json=tiny)
    other = await make_tenant(app, "elsewhere")
    await client.post("/v1/training/courses/tiny/attempts", headers=other.headers("staff"), json=tiny)
    admin = tenant.headers("admin")
    month = utcnow().strftime("%Y-%m")
    by_course = (await client.get("/v1/training/reports", headers=admin, params={"group_by": "course"})).json()
    assert by_course["data"] == [
        {"month": month, "group": "oversee", "completions": 1, "people": 1, "valid_now": 1},
        {"month": month, "group": "tiny", "completions": 3, "people": 2, "valid_now": 3},
    ]  # the other organisation's completion is not counted
    by_role = (await client.get("/v1/training/reports", headers=admin, params={"group_by": "role"})).json()["data"]
    assert {(r["group"], r["people"]) for r in by_role} == {("org_admin", 1), ("staff", 1)}
    csv = await client.get("/v1/training/reports", headers=admin, params={"group_by": "org", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == ["month,org,completions,people,valid_now", f"{month},{tenant.org_id},4,2,4"]
    assert (await client.get("/v1/training/reports", headers=tenant.headers("staff"))).status_code == 403


async def test_assigned_courses_show_what_is_due_and_remind_before_expiry(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    staff = tenant.headers("staff")

    async def states() -> dict[str, tuple[str, int | None]]:
        found = (await client.get("/v1/training/due", headers=staff)).json()["data"]
        return {d["course_id"]: (d["state"], d["days_left"]) for d in found}

    assert (await states())["tiny"] == ("missing", None) and (await states())["oversee"] == ("missing", None)
    await client.post(
        "/v1/training/courses/tiny/attempts", headers=staff, json={"language": "en", "answers": {"q1": True}}
    )
    assert (await states())["tiny"] == ("valid", 364)
    async with app.state.platform.db.write_session() as session:
        await session.execute(update(Completion).values(expires_at=utcnow() + timedelta(days=10, hours=1)))
        await session.commit()
    assert (await states())["tiny"] == ("expiring", 10)  # within the 30 days of the reminder
    async with app.state.platform.db.write_session() as session:
        await session.execute(update(Completion).values(expires_at=utcnow() - timedelta(hours=1)))
        await session.commit()
    assert (await states())["tiny"] == ("expired", 0)
