"""Canada's Algorithmic Impact Assessment in the web console, one question a page with plain form posts (no
JavaScript): the first page asks one question, answers walk forward in the questionnaire's order and never
reach a question an earlier answer hides, Back and Skip, the score of the end page is ``aia.score``'s for the
same answers, Save keeps it; CSRF refusals, the auditor's read-only view, tenant isolation, and a notice where
no questionnaire is set up."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from soberana.auth.principal import cli_principal
from soberana.governance import aia
from soberana.settings import Settings
from tests.conftest import Tenant
from tests.web.test_governance_pages import SignIn, passwords, register, signed_in
from tests.web.test_pages import form_token

__all__ = ["signed_in"]  # a fixture, used here

AIA_DIR = next(
    (
        path
        for path in (
            Path(__file__).resolve().parents[3] / "shared" / "data" / "governance" / "aia-eia-js",
            Path("/work/shared/data/governance/aia-eia-js"),
        )
        if (path / "survey-enfr.json").is_file()
    ),
    None,
)
ASKED = ("radiogroup", "checkbox", "dropdown", "text", "comment")
Pairs = list[tuple[str, str]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    if AIA_DIR is None:
        pytest.skip("Canada's AIA questionnaire is not in the shared data")
    return settings.model_copy(update={"governance_aia_dir": str(AIA_DIR)})


@pytest.fixture
def questionnaire() -> aia.Questionnaire:
    assert AIA_DIR is not None
    return aia.Questionnaire.load(AIA_DIR)


class _Form(HTMLParser):
    """The hidden fields of the forms posting to one address, and the names of their answer fields."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside = action, False
        self.hidden: Pairs = []
        self.asked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = found.get("action") == self.action and not self.hidden
        elif self.inside and tag == "input" and found.get("type") == "hidden":
            self.hidden.append((found["name"], found.get("value", "")))
        elif self.inside and tag in ("input", "textarea", "select") and found.get("name", "").startswith("answer-"):
            self.asked += [found["name"]] if found["name"] not in self.asked else []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def read(page: str, action: str) -> _Form:
    parser = _Form(action)
    parser.feed(page)
    return parser


async def post(client: httpx.AsyncClient, action: str, pairs: Pairs) -> httpx.Response:
    """A form post with its fields in the order given, repeated names included, as a browser sends them."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return await client.post(action, content=urlencode(pairs), headers=headers)


def pending(questionnaire: aia.Questionnaire, answers: dict[str, Any], skipped: set[str]) -> list[aia.Question]:
    shown, _ = questionnaire.visible(answers)
    return [
        q
        for q in questionnaire.questions
        if q.type in ASKED and q.name in shown and q.name not in answers and q.name not in skipped
    ]


def walk(questionnaire: aia.Questionnaire, **chosen: Any) -> list[tuple[str, Any]]:
    """Answer every question the questionnaire asks, in its order: the choices in ``chosen``, else the last
    choice (the first for a checkbox list), else some text."""
    answers: dict[str, Any] = {}
    steps: list[tuple[str, Any]] = []
    while found := pending(questionnaire, answers, set()):
        q = found[0]
        value = chosen.get(q.name) or (
            [q.choices[0]] if q.type == "checkbox" else q.choices[-1] if q.choices else "An answer."
        )
        answers[q.name] = value
        steps.append((q.name, value))
    return steps


def fields(steps: list[tuple[str, Any]]) -> Pairs:
    return [(f"answer-{n}", v) for n, value in steps for v in (value if isinstance(value, list) else [value])]


async def test_one_question_a_page_forward_back_skip_score_and_save(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn, questionnaire: aia.Questionnaire
) -> None:
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        case_page = (await staff.get(f"/console/governance/{use_case}?lang=en")).text
        action = f"/console/governance/{use_case}/aia"
        assert f'href="{action}"' in case_page and "Canada&#39;s Algorithmic Impact Assessment" in case_page
        first = (await staff.get(f"{action}?lang=en")).text
        expected = pending(questionnaire, {}, set())
        form = read(first, action)
        assert form.asked == [f"answer-{expected[0].name}"]  # exactly one question
        assert expected[0].title in first and 'name="back"' not in first
        assert f"Question 1, about {len(expected) - 1} more after it" in first
        # nothing typed: the same question again, saying so
        empty = await post(staff, action, [*form.hidden, (f"answer-{expected[0].name}", "")])
        assert empty.status_code == 422 and "Choose or type an answer, or skip the question." in empty.text
        assert read(empty.text, action).asked == form.asked
        # answer, skip, answer: each page the next question in the questionnaire's order
        one, two, three = (q.name for q in expected[:3])
        page = (await post(staff, action, [*form.hidden, (f"answer-{one}", "v2.1")])).text
        assert read(page, action).asked == [f"answer-{two}"]
        page = (await post(staff, action, [*read(page, action).hidden, ("skip", "1")])).text
        assert read(page, action).asked == [f"answer-{three}"] and "Skipped" in page
        page = (await post(staff, action, [*read(page, action).hidden, (f"answer-{three}", "Analyst")])).text
        assert read(page, action).asked == [f"answer-{expected[3].name}"]
        assert ("answer-" + three, "Analyst") in read(page, action).hidden and ("skipped", two) in read(
            page, action
        ).hidden
        # Back: the last answer goes, its question is asked again with what was typed
        back = await post(staff, action, [*read(page, action).hidden, ("back", "1")])
        assert back.status_code == 200 and read(back.text, action).asked == [f"answer-{three}"]
        assert 'value="Analyst"' in back.text and ("answer-" + three, "Analyst") not in read(back.text, action).hidden
        # a required question is not skipped
        steps = walk(questionnaire, projectDetailsPhase="item1")  # design: the implementation questions are hidden
        names = [n for n, _ in steps]
        assert "riskProfile9" in names and "riskProfile10" not in names
        phase = names.index("projectDetailsPhase")
        token = ("csrf_token", form_token(first))
        page = (await post(staff, action, [token, *fields(steps[:phase])])).text
        assert read(page, action).asked == ["answer-projectDetailsPhase"] and 'name="skip"' not in page
        refused = await post(staff, action, [*read(page, action).hidden, ("skip", "1")])
        assert refused.status_code == 422 and "This question needs an answer." in refused.text
        # from the answers before a question, the next pages walk on; a question the phase hides never shows
        at = names.index("riskProfile8")
        page = (await post(staff, action, [token, *fields(steps[:at])])).text
        seen = []
        for name, value in steps[at : at + 5]:
            form = read(page, action)
            assert form.asked == [f"answer-{name}"]
            seen.append(name)
            page = (await post(staff, action, [*form.hidden, *fields([(name, value)])])).text
            assert "riskProfile10" not in page
        assert "riskProfile9" in seen
        # the rest of a complete set in one post: the end page, scored as aia.score scores the same answers
        end = (await post(staff, action, [token, *fields(steps)])).text
        result = aia.score(questionnaire, dict(steps))
        assert read(end, action).asked == [] and "Save the assessment" in end
        assert f"<dt>Impact level</dt><dd>{result.level_name}</dd>" in end
        assert f"<dd>{result.raw} / {result.max_raw}</dd>" in end and f"<dd>{result.total}" in end
        requirement = aia.level_requirements(questionnaire, result)[0]
        assert requirement["title"] in end
        save = f"{action}/save"
        # a choice the questionnaire does not have is refused, never saved
        forged = await post(staff, save, [token, *fields(steps), ("answer-riskProfile1", "item9-99")])
        assert forged.status_code == 422
        saved = await post(staff, save, read(end, save).hidden)
        assert saved.status_code == 303 and saved.headers["location"].endswith("?done=aia_assessed")
        view = await app.state.platform.governance.aia_assessment(cli_principal("pytest"), use_case)
        assert view.assessment.result["level"] == result.level and view.assessment.result["total"] == result.total
        assert view.assessment.answers == aia.check_answers(questionnaire, dict(steps))
        case_page = (await staff.get(f"/console/governance/{use_case}?lang=en")).text
        assert f"Impact level: {result.level_name}" in case_page
        # without the form's token nothing is done
        for path in (action, save):
            assert (await post(staff, path, [("csrf_token", "x"), *fields(steps)])).status_code == 403
        assert (
            await app.state.platform.governance.aia_assessment(cli_principal("pytest"), use_case)
        ).assessment.version == 1


async def test_auditors_read_other_organisations_get_404_and_without_a_questionnaire_a_notice(
    app: Any,
    client: httpx.AsyncClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    signed_in: SignIn,
    questionnaire: aia.Questionnaire,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await passwords(client, tenant_a, tenant_b)
    steps = walk(questionnaire)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
    action = f"/console/governance/{use_case}/aia"
    async with signed_in(f"auditor@{tenant_a.slug}.example") as auditor:
        first = await auditor.get(action)
        assert first.status_code == 200 and len(read(first.text, action).asked) == 1
        end = (await post(auditor, action, [("csrf_token", form_token(first.text)), *fields(steps)])).text
        assert "Save the assessment" not in end and f"{action}/save" in end  # read-only: Back, no Save
        refused = await post(auditor, f"{action}/save", read(end, f"{action}/save").hidden)
        assert refused.status_code == 403 and "Refused (403)" in refused.text
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        assert (await other.get(action)).status_code == 404
        token = ("csrf_token", form_token((await other.get("/console/governance")).text))
        for path in (action, f"{action}/save"):
            assert (await post(other, path, [token, *fields(steps)])).status_code == 404
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        monkeypatch.setattr(app.state.platform.governance, "aia_dir", None)
        page = await staff.get(f"{action}?lang=en")
        assert page.status_code == 200 and "is not set up on this installation" in page.text
        assert read(page.text, action).asked == []
        assert (await staff.get(f"/console/governance/{use_case}")).status_code == 200
        for language, text in (("es", "no está configurada"), ("is", "ekki sett upp")):
            assert text in (await staff.get(action, params={"lang": language})).text
