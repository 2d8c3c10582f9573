"""Training in the web application: the courses assigned to a person, lessons shown from Markdown (HTML in
them left as text) that count as read, the quiz as a plain form (CSRF checked) whose result marks every
question with its feedback, the holder's certificate and the public page that checks its code (valid,
revoked, unknown) without sign-in; another organisation's people get 404s; the staff chat says which course
to take while the training gate refuses models; and every page speaks three languages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from soberana.auth.principal import ROLE_SCOPES, Origin, Principal, Role
from soberana.settings import Settings
from soberana.web.training import render_markdown
from tests.conftest import Tenant
from tests.training.test_courses import COURSE, make_course
from tests.web.test_governance_pages import SignIn, passwords
from tests.web.test_governance_pages import signed_in as signed_in
from tests.web.test_pages import form_token, source_messages, visible_text

QUIZ_EN = """\
::q1:: Right? {TRUE#No.#Yes.}

::q2:: Which is the town hall? {=The council#Good choice. ~The bank#The bank is not it.}

::q3:: Which are fruits? {~%50%Apple#Apple is one. ~%50%Pear#Pear is one. ~%-100%Stone#A stone is not.}

::q4:: Two plus two? {#4:0#Four it is.}
"""
QUIZ_ES = """\
::q1:: ¿Cierto? {TRUE#No.#Sí.}

::q2:: ¿Cuál es el ayuntamiento? {=El consistorio#Bien elegido. ~El banco#El banco no lo es.}

::q3:: ¿Cuáles son frutas? {~%50%Manzana#La manzana lo es. ~%50%Pera#La pera lo es. ~%-100%Piedra#Una piedra no.}

::q4:: ¿Dos más dos? {#4:0#Son cuatro.}
"""
RIGHT = {"q-q1": "true", "q-q2": "0", "q-q3": ["0", "1"], "q-q4": "4"}
WRONG = {"q-q1": "false", "q-q2": "1", "q-q3": ["2"], "q-q4": "5"}
QUIZ = "/training/courses/tiny/quiz"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    courses = tmp_path / "courses"
    courses.mkdir()
    folder = make_course(
        courses,
        course=COURSE.replace("lessons: [first]", "lessons: [first, second]"),
        quiz_en=QUIZ_EN,
        quiz_es=QUIZ_ES,
    )
    (folder / "lessons" / "en" / "second.md").write_text(
        "---\ntitle: Second\n---\n# Rules\n\nBe **careful**.\n\n<script>alert(1)</script>\n", encoding="utf-8"
    )
    (folder / "lessons" / "es" / "second.md").write_text(
        "---\ntitle: Segunda\n---\n# Normas\n\nTen **cuidado**.\n\n<script>alert(1)</script>\n", encoding="utf-8"
    )
    return settings.model_copy(
        update={
            "training_courses_dir": str(courses),
            "training_gate": "enforce",
            "training_baseline_course": "tiny",
            "training_check_seconds": 0.0,
        }
    )


def admin_of(tenant: Tenant) -> Principal:
    return Principal("user", tenant.admin_id, "admin", tenant.org_id, Role.ORG_ADMIN, ROLE_SCOPES[Role.ORG_ADMIN])


async def take_quiz(client: httpx.AsyncClient, answers: dict[str, Any], lang: str = "en") -> httpx.Response:
    form = await client.get(QUIZ, params={"lang": lang})
    sent = await client.post(QUIZ, data={**answers, "csrf_token": form_token(form.text), "language": lang})
    assert sent.status_code == 303, sent.text
    assert re.fullmatch(r"/training/courses/tiny/attempts/tra_\w+", sent.headers["location"])
    return await client.get(sent.headers["location"], params={"lang": lang})


def test_lessons_show_markdown_and_leave_html_as_text() -> None:
    shown = str(render_markdown("# Rules\n\nBe **careful**. [x](javascript:alert(1))\n\n<script>alert(1)</script>"))
    assert "<h2>Rules</h2>" in shown and "<strong>careful</strong>" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown and 'href="javascript' not in shown


async def test_courses_lessons_and_the_quiz_through_the_form(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        home = await staff.get("/training", params={"lang": "en"})
        assert home.status_code == 200 and 'href="/training" aria-current="page"' in home.text
        assert "Tiny course" in home.text and "Required" in home.text
        assert "0 of 2" in home.text and "Not completed yet." in home.text
        course = await staff.get("/training/courses/tiny", params={"lang": "es"})
        assert "Curso breve" in course.text and 'href="/training/courses/tiny/lessons/first"' in course.text
        assert 'href="/training/courses/tiny/quiz"' in course.text
        lesson = await staff.get("/training/courses/tiny/lessons/second", params={"lang": "es"})
        assert (
            lesson.status_code == 200 and "<h2>Normas</h2>" in lesson.text and "<strong>cuidado</strong>" in lesson.text
        )
        assert "<script>alert" not in lesson.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in lesson.text
        assert (
            'rel="prev"' in lesson.text
            and "Primera" in lesson.text
            and 'href="/training/courses/tiny/quiz"' in lesson.text
        )
        assert (await staff.get("/training/courses/tiny/lessons/nothing")).status_code == 404
        assert (await staff.get("/training/courses/nothing")).status_code == 404
        assert "1 of 2" in (await staff.get("/training", params={"lang": "en"})).text  # read once, counted once

        # the quiz: a group per question, radios, checkboxes and a number; nothing says what is right
        form = await staff.get(QUIZ, params={"lang": "en"})
        assert form.text.count("<fieldset") == 4 and form.text.count("<legend>") == 4
        assert 'type="radio" id="q1-true" name="q-q1" value="true"' in form.text
        assert 'type="radio" id="q2-0" name="q-q2" value="0"' in form.text
        assert 'type="checkbox" id="q3-2" name="q-q3" value="2"' in form.text
        assert 'type="number" step="any"' in form.text and "Good choice." not in form.text
        assert f'name="holder_name" maxlength="200" value="{tenant_a.slug} staff"' in form.text
        # without its token, or with another, the form is refused and nothing is scored
        for token in ("", "forged-token"):
            refused = await staff.post(QUIZ, data={**RIGHT, "csrf_token": token, "language": "en"})
            assert refused.status_code == 403
        assert await app.state.platform.training.completions(admin_of(tenant_a), everyone=True) == []

        failed = await take_quiz(staff, WRONG)
        assert "Not passed: you scored 0%; the pass mark is 80%." in failed.text
        assert failed.text.count(">Wrong<") == 4 and "The bank is not it." in failed.text
        assert "A stone is not." in failed.text and "No." in failed.text
        assert "/training/certificates/" not in failed.text and f'href="{QUIZ}"' in failed.text

        passed = await take_quiz(staff, {**RIGHT, "holder_name": "  Ana   G. "}, lang="es")
        assert "Aprobado: ha obtenido un 100" in passed.text
        assert "Bien elegido." in passed.text and "La pera lo es." in passed.text and "Son cuatro." in passed.text
        link = re.search(r'href="(/training/certificates/trc_\w+)"', passed.text)
        assert link is not None
        home = await staff.get("/training", params={"lang": "en"})
        assert "Valid until" in home.text and link.group(1) in home.text

        certificate = await staff.get(link.group(1), params={"lang": "en"})
        (completion,) = await app.state.platform.training.completions(admin_of(tenant_a), everyone=True)
        assert completion.holder_name == "Ana G." and "Ana G." in certificate.text
        assert completion.code in certificate.text and "Curso breve" in certificate.text  # the quiz's language
        assert f"http://soberana.test/verify/{completion.code}" in certificate.text
        assert "@media print" in (await staff.get("/assets/soberana.css")).text
        # someone else's certificate, or another organisation's person: not found
        async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
            assert (await admin.get(link.group(1))).status_code == 404
        attempt = passed.url.path
        async with signed_in(f"staff@{tenant_a.slug}.example") as again:
            assert (await again.get(attempt)).status_code == 200
    assert (await client.get(link.group(1))).status_code == 303  # signed out: to the sign-in page


async def test_certificates_are_checked_in_public_and_other_organisations_see_nothing(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a, tenant_b)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        passed = await take_quiz(staff, {**RIGHT, "holder_name": "  "})
        link = re.search(r'href="(/training/certificates/trc_\w+)"', passed.text)
        assert link is not None
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        assert (await other.get(link.group(1))).status_code == 404
        assert (await other.get(passed.url.path)).status_code == 404  # nor their quiz result
    training = app.state.platform.training
    (completion,) = await training.completions(admin_of(tenant_a), everyone=True)

    # nobody signed in: the form, a valid code (typed loosely), an unknown one
    form = await client.get("/verify", params={"lang": "en"})
    assert form.status_code == 200 and '<form method="get" action="/verify">' in form.text
    valid = await client.get("/verify", params={"code": completion.code.lower().replace("-", ""), "lang": "en"})
    assert valid.status_code == 200 and "Valid" in valid.text and completion.holder_name in valid.text
    assert completion.holder_name == f"{tenant_a.slug} staff" and "@" not in completion.holder_name  # no email
    assert "Tiny course" in valid.text
    direct = await client.get(f"/verify/{completion.code}", params={"lang": "es"})
    assert direct.status_code == 200 and "Curso breve" in direct.text and "Válido" in direct.text
    unknown = await client.get("/verify/AAAA-BBBB-CCCC-DDDD", params={"lang": "en"})
    assert unknown.status_code == 200 and "Unknown: no certificate has this code" in unknown.text

    await training.revoke(admin_of(tenant_a), completion.id, "Taken by someone else.", Origin())
    revoked = await client.get(f"/verify/{completion.code}", params={"lang": "en"})
    assert "Revoked" in revoked.text and "The administration has revoked this certificate." in revoked.text
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        assert "This certificate is no longer valid:" in (await staff.get(link.group(1), params={"lang": "en"})).text
        assert "Your completion was revoked." in (await staff.get("/training", params={"lang": "en"})).text


async def test_the_chat_names_the_course_to_take_until_it_is_completed(
    client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        page = await staff.get("/staff/chat", params={"lang": "en"})
        assert page.status_code == 200 and "Training needed before you use models" in page.text
        assert 'href="/training/courses/tiny"' in page.text and "Tiny course" in page.text
        sent = await staff.post(
            "/staff/chat",
            data={"message": "Hello", "model": "mock-chat", "classification": "", "csrf_token": form_token(page.text)},
        )
        assert sent.status_code == 403 and 'href="/training/courses/tiny"' in sent.text
        assert "Training needed before you use models" in sent.text and "Hello</textarea>" in sent.text
        await take_quiz(staff, RIGHT)
        page = await staff.get("/staff/chat", params={"lang": "en"})
        assert "Training needed before you use models" not in page.text


async def test_training_pages_speak_three_languages(
    client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    english = {m for m in source_messages() if len(m) > 12}
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        failed = (await take_quiz(staff, WRONG)).url.path
        passed = await take_quiz(staff, RIGHT)
        link = re.search(r'href="(/training/certificates/trc_\w+)"', passed.text)
        assert link is not None
        code = re.search(r'<code class="certificate-code">([A-Z0-9-]+)</code>', (await staff.get(link.group(1))).text)
        assert code is not None
        pages = [
            "/training",
            "/training/courses/tiny",
            "/training/courses/tiny/lessons/first",
            "/training/courses/tiny/lessons/second",
            QUIZ,
            failed,
            passed.url.path,
            link.group(1),
            "/verify",
            f"/verify/{code.group(1)}",
            "/verify/AAAA-BBBB-CCCC-DDDD",
        ]
        for language in ("es", "is"):
            for path in pages:
                response = await staff.get(path, params={"lang": language})
                assert response.status_code == 200, (path, response.status_code)
                assert f'<html lang="{language}"' in response.text
                text = " ".join(visible_text(response.text).split())
                left = sorted(m for m in english if " ".join(m.split()) in text)
                assert not left, f"{path} in {language} shows English text: {left[:3]}"


async def test_administrators_see_training_reports_as_charts_a_table_and_csv(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    from soberana.auth.principal import Origin
    from soberana.core.clock import utcnow

    training = app.state.platform.training
    for tenant in (tenant_a, tenant_b):
        staff = Principal("user", tenant.staff_id, "staff", tenant.org_id, Role.STAFF, ROLE_SCOPES[Role.STAFF])
        done = await training.submit(staff, "tiny", "en", {"q1": True, "q2": 0, "q3": [0, 1], "q4": 4}, "S", Origin())
        assert done.completion is not None
    await passwords(client, tenant_a)
    month = utcnow().strftime("%Y-%m")
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        for lang in ("en", "es", "is"):
            page = await admin.get("/console/training", params={"lang": lang, "group_by": "course"})
            assert page.status_code == 200 and page.text.count('<svg role="img"') == 2
            english = [m for m in ("Training reports", "Completions per month", "Valid today") if m in page.text]
            assert (english == []) is (lang != "en"), (lang, english)
        page = await admin.get("/console/training", params={"lang": "en", "group_by": "course"})
        rows = re.findall(r"<tr><td>(\d{4}-\d{2})</td><td>([^<]+)</td>", page.text)
        assert rows == [(month, "Tiny course")]  # the other organisation's completion is not counted
        by_org = await admin.get("/console/training", params={"group_by": "org", "lang": "en"})
        assert "Agency-A" in by_org.text and "Agency-B" not in by_org.text
        csv = await admin.get("/console/training.csv", params={"group_by": "role"})
        assert csv.text.splitlines() == ["month,role,completions,people,valid_now", f"{month},staff,1,1,1"]
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        assert (await staff.get("/console/training")).status_code == 403
