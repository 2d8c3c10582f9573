"""The register of AI use cases in the web console: register a use case through the form, answer the EU AI
Act assessment one question a page with plain form posts (no JavaScript), submit, approve as another
person, bind a key, suspend; CSRF refusals, the auditor's read-only view, tenant isolation, three
languages. (The same in a real browser, with enforcement, is in test_browser.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from soberana.auth.principal import cli_principal
from tests.conftest import Tenant
from tests.web.test_pages import form_token, set_password, sign_in, source_messages, visible_text

REGISTER = {
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
    "review_date": "2031-01-31",
}
# an Annex III use that takes the Art. 6(3) exception (with its justification), with a chatbot
PATH = [
    ("ai_system", "yes"),
    ("general_purpose", "no"),
    ("role", "deployer"),
    ("prohibited_practice", "none"),
    ("annex_i_product", "no"),
    ("annex_iii_area", "essential_services"),
    ("profiling", "no"),
    ("exception_6_3", "improves_completed_human_work"),
    ("interacts", "yes"),
    ("synthetic_content", "no"),
    ("emotion_or_biometric", "no"),
    ("deepfake_or_public_text", "no"),
]
JUSTIFICATION = "It only improves the wording of replies a caseworker has already written."

SignIn = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


class _Forms(HTMLParser):
    """The forms of a page: each one's action, hidden fields, radio buttons and textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": found.get("action"), "hidden": [], "radios": [], "textareas": []})
        elif self.forms and tag == "input" and found.get("type") == "hidden":
            self.forms[-1]["hidden"].append((found["name"], found.get("value", "")))
        elif self.forms and tag == "input" and found.get("type") == "radio":
            self.forms[-1]["radios"].append((found["name"], found["value"]))
        elif self.forms and tag == "textarea":
            self.forms[-1]["textareas"].append(found["name"])


def forms(page: str, action: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(page)
    return [f for f in parser.forms if f["action"] == action]


def carried(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the (first) form posting to ``action``, as a browser would send them."""
    return dict(forms(page, action)[0]["hidden"])


@pytest.fixture
def signed_in(app: Any) -> SignIn:
    """A browser of its own for each person, signed in."""

    @asynccontextmanager
    async def browser(email: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://soberana.test") as client:
            assert (await sign_in(client, email)).status_code == 303
            yield client

    return browser


async def passwords(client: httpx.AsyncClient, *tenants: Tenant) -> None:
    for tenant in tenants:
        for user in (tenant.staff_id, tenant.admin_id, tenant.auditor_id):
            await set_password(client, tenant, user)


async def register(staff: httpx.AsyncClient, name: str = REGISTER["name"]) -> str:
    index = await staff.get("/console/governance")
    response = await staff.post(
        "/console/governance/new",
        data={**REGISTER, "name": name, "models": ["mock-chat"], "csrf_token": form_token(index.text)},
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/console/governance/uc_") and location.endswith("?done=created")
    return location.removeprefix("/console/governance/").removesuffix("?done=created")


async def answer(client: httpx.AsyncClient, use_case: str, page: str, question: str, choice: str, **extra: str) -> str:
    """Answer the question ``page`` shows, as a browser would: its hidden fields and the radio button."""
    action = f"/console/governance/{use_case}/assess"
    (form,) = forms(page, action)
    assert (f"answer-{question}", choice) in form["radios"]
    response = await client.post(action, data={**dict(form["hidden"]), f"answer-{question}": choice, **extra})
    assert response.status_code in (200, 422), response.text
    return response.text


async def assess(client: httpx.AsyncClient, use_case: str) -> str:
    """Answer the whole of ``PATH``: the page that shows the conclusion."""
    page = (await client.get(f"/console/governance/{use_case}/assess")).text
    for question, choice in PATH:
        extra = {f"justification-{question}": JUSTIFICATION} if question == "exception_6_3" else {}
        page = await answer(client, use_case, page, question, choice, **extra)
    return page


async def act(client: httpx.AsyncClient, use_case: str, action: str, **fields: str) -> httpx.Response:
    page = await client.get(f"/console/governance/{use_case}")
    data = {"action": action, "csrf_token": form_token(page.text), **fields}
    return await client.post(f"/console/governance/{use_case}/act", data=data)


async def test_register_assess_submit_approve_bind_and_suspend(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    bindings = app.state.platform.governance.bindings
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        index = await staff.get("/console/governance?lang=en")
        assert index.status_code == 200 and "Register a use case" in index.text
        assert 'href="/console/governance" aria-current="page">Governance</a>' in index.text  # the console's link
        assert "Off: traffic is not checked against the register." in index.text
        assert '<option value="mock-chat">mock-chat</option>' in index.text  # the gateway's models
        # a field the register refuses comes back with what was typed and the field named
        bad = await staff.post(
            "/console/governance/new",
            data={**REGISTER, "contact_email": "not an address", "csrf_token": form_token(index.text)},
        )
        assert bad.status_code == 422 and "Contact e-mail address" in bad.text
        assert "Director of Housing" in bad.text
        use_case = await register(staff)
        page = await staff.get(f"/console/governance/{use_case}")
        assert page.status_code == 200 and REGISTER["name"] in page.text
        assert "The use case has been registered as a draft." not in page.text  # only after the form
        assert ">Draft<" in page.text and "Not assessed yet" in page.text
        assert "Housing Benefit Regulations 2006, reg. 90." in page.text and "mock-chat" in page.text
        assert "Art. 26" in page.text  # requirements: an unassessed use case gets every one that could apply
        # the same name twice in one organisation: the refusal is shown on the form, with its status
        again = await staff.post("/console/governance/new", data={**REGISTER, "csrf_token": form_token(index.text)})
        assert again.status_code == 409 and "Refused (409)" in again.text
        conclusion = await assess(staff, use_case)
        assert "Save the assessment" in conclusion and "Transparency duties" in conclusion
        assert "Art. 50(1)" in conclusion  # an obligation with its articles
        saved = await staff.post(
            f"/console/governance/{use_case}/assess/save",
            data=carried(conclusion, f"/console/governance/{use_case}/assess/save"),
        )
        assert saved.status_code == 303 and saved.headers["location"].endswith("?done=assessed")
        page = await staff.get(f"/console/governance/{use_case}")
        assert ">Complete<" in page.text and "Transparency duties" in page.text
        # staff submit; only administrators see approve, suspend or bind
        assert 'value="submit"' in page.text and 'value="approve"' not in page.text
        assert f'action="/console/governance/{use_case}/bindings"' not in page.text
        submitted = await act(staff, use_case, "submit")
        assert submitted.status_code == 303
        page = await staff.get(f"/console/governance/{use_case}")
        assert ">In review<" in page.text and 'value="withdraw"' in page.text
        # the writer cannot approve their own version: the refusal is on the page, with its status code
        refused = await act(staff, use_case, "approve", version="1")
        assert refused.status_code == 403 and "Refused (403)" in refused.text and REGISTER["name"] in refused.text
        # a form without its token, or with another, is refused
        for token in ("", "forged-token"):
            posted = await staff.post(
                f"/console/governance/{use_case}/act", data={"action": "withdraw", "csrf_token": token}
            )
            assert posted.status_code == 403
        for path in ("new", f"{use_case}/assess", f"{use_case}/assess/save", f"{use_case}/bindings"):
            assert (await staff.post(f"/console/governance/{path}", data={"csrf_token": "x"})).status_code == 403
        assert ">In review<" in (await staff.get(f"/console/governance/{use_case}")).text  # nothing changed

    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        page = await admin.get(f"/console/governance/{use_case}")
        (approve,) = [
            f for f in forms(page.text, f"/console/governance/{use_case}/act") if ("action", "approve") in f["hidden"]
        ]
        assert ("version", "1") in approve["hidden"]  # the version in review, the one read
        approved = await admin.post(f"/console/governance/{use_case}/act", data=dict(approve["hidden"]))
        assert approved.status_code == 303
        page = await admin.get(f"/console/governance/{use_case}")
        assert ">Approved<" in page.text and "Done." not in page.text
        # bind the staff member's key: the administrator picks it from the organisation's keys
        assert f'value="api_key:{tenant_a.staff_key_id}"' in page.text
        bound = await admin.post(
            f"/console/governance/{use_case}/bindings",
            data={"subject": f"api_key:{tenant_a.staff_key_id}", "csrf_token": form_token(page.text)},
        )
        assert bound.status_code == 303
        page = await admin.get(f"/console/governance/{use_case}")
        assert "staff-key (" in page.text and "Remove the binding of staff-key" in page.text
        listed = await bindings.list_bindings(cli_principal("pytest"))
        assert [(b.kind, b.subject_id, b.use_case_id) for b in listed] == [("api_key", tenant_a.staff_key_id, use_case)]
        # suspending needs a reason; with one, it is kept and shown
        no_reason = await act(admin, use_case, "suspend")
        assert no_reason.status_code == 400 and "Refused (400)" in no_reason.text
        suspended = await act(admin, use_case, "suspend", reason="Letters went out with wrong amounts.")
        assert suspended.status_code == 303
        page = await admin.get(f"/console/governance/{use_case}?done=acted")
        assert ">Suspended<" in page.text and "Letters went out with wrong amounts." in page.text
        assert "Done. The use case is now “Suspended”." in page.text and 'value="resume"' in page.text
        removed = await admin.post(
            f"/console/governance/{use_case}/bindings/remove",
            data={"kind": "api_key", "subject_id": tenant_a.staff_key_id, "csrf_token": form_token(page.text)},
        )
        assert removed.status_code == 303
        assert await bindings.list_bindings(cli_principal("pytest")) == []
        assert "Nothing is bound to this use case." in (await admin.get(f"/console/governance/{use_case}")).text


async def test_the_assessment_is_one_question_a_page_with_back(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        action = f"/console/governance/{use_case}/assess"
        first = (await staff.get(f"{action}?lang=en")).text
        # one question, its answers as radio buttons, in a plain form: no script of the page's own
        assert first.count("<fieldset") == 1 and first.count("<legend>") == 1
        (form,) = forms(first, action)
        assert form["radios"] == [("answer-ai_system", "yes"), ("answer-ai_system", "no")]
        assert "Is the system an AI system as defined in the AI Act?" in first and "Art. 3(1)" in first
        assert first.count("<script") == 1  # the site's one script, which only enhances
        assert 'name="back"' not in first  # nothing to go back to
        # no answer chosen: the same question again, saying so
        unanswered = await staff.post(action, data=dict(form["hidden"]))
        assert unanswered.status_code == 422 and "Choose one of the answers." in unanswered.text
        page = first
        for question, choice in PATH[:3]:
            page = await answer(staff, use_case, page, question, choice)
        assert "Question 4" in page and "answer-prohibited_practice" in page
        assert carried(page, action)["answer-role"] == "deployer"  # the answers so far travel in the page
        # Back: the previous question again, its answer chosen, and no longer among the answers carried
        (form,) = forms(page, action)
        back = await staff.post(
            action, data={**dict(form["hidden"]), "answer-prohibited_practice": "none", "back": "1"}
        )
        assert back.status_code == 200 and "Question 3" in back.text
        assert "What is your organisation&#39;s role for this AI system?" in back.text
        assert 'value="deployer" checked' in back.text
        assert "answer-role" not in carried(back.text, action)
        assert "answer-prohibited_practice" not in carried(back.text, action)
        page = await answer(staff, use_case, back.text, "role", "both")
        assert carried(page, action)["answer-role"] == "both"
        for question, choice in PATH[3:7]:
            page = await answer(staff, use_case, page, question, choice)
        # the Art. 6(3) exception is not taken without a justification: a textarea asks for one
        assert 'name="justification-exception_6_3"' in page
        unjustified = await answer(staff, use_case, page, "exception_6_3", "preparatory_task")
        assert "This answer needs a justification" in unjustified and "Question 8" in unjustified
        assert 'value="preparatory_task" checked' in unjustified
        page = await answer(
            staff,
            use_case,
            unjustified,
            "exception_6_3",
            "preparatory_task",
            **{"justification-exception_6_3": "Only indexes files."},
        )
        assert "Question 9" in page and carried(page, action)["justification-exception_6_3"] == "Only indexes files."
        for question, choice in PATH[8:]:
            page = await answer(staff, use_case, page, question, choice)
        assert "Conclusion" in page and "Art. 6(3)" in page and "Only indexes files." in page
        save = f"{action}/save"
        assert 'name="back"' in page and f'action="{save}"' in page
        # Back from the conclusion: the last question again
        back = await staff.post(action, data={**carried(page, save), "back": "1"})
        assert "Question 12" in back.text and "Save the assessment" not in back.text
        # answers that are not the tree's are refused, never saved
        forged = await staff.post(save, data={**carried(page, save), "answer-ai_system": "perhaps"})
        assert forged.status_code == 422
        assert (await staff.post(save, data=carried(page, save))).status_code == 303
        saved = await app.state.platform.governance.ai_act_assessment(cli_principal("pytest"), use_case)
        assert saved.walk.complete and saved.walk.path[2] == ("role", "both")
        assert saved.assessment.answers["justifications"] == {"exception_6_3": "Only indexes files."}


async def test_auditors_read_other_organisations_see_nothing_and_every_page_speaks_three_languages(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, signed_in: SignIn
) -> None:
    await passwords(client, tenant_a, tenant_b)
    async with signed_in(f"staff@{tenant_a.slug}.example") as staff:
        use_case = await register(staff)
        conclusion = await assess(staff, use_case)
    pages = [
        "/console/governance",
        f"/console/governance/{use_case}",
        f"/console/governance/{use_case}/assess",
    ]
    async with signed_in(f"auditor@{tenant_a.slug}.example") as auditor:
        index = await auditor.get("/console/governance")
        assert index.status_code == 200 and REGISTER["name"] in index.text
        assert "/console/governance/new" not in index.text  # auditors register nothing
        page = await auditor.get(f"/console/governance/{use_case}")
        assert page.status_code == 200 and REGISTER["name"] in page.text
        assert "/act" not in page.text and "/bindings" not in page.text and "/assess" not in page.text
        refused = await auditor.post(
            f"/console/governance/{use_case}/act", data={"action": "submit", "csrf_token": form_token(page.text)}
        )
        assert refused.status_code == 403 and "Refused (403)" in refused.text
    async with signed_in(f"staff@{tenant_b.slug}.example") as other:
        assert REGISTER["name"] not in (await other.get("/console/governance")).text
        for path in pages[1:]:
            assert (await other.get(path)).status_code == 404
        token = form_token((await other.get("/console/governance")).text)
        submitted = await other.post(
            f"/console/governance/{use_case}/act", data={"action": "submit", "csrf_token": token}
        )
        assert submitted.status_code == 404
        save = f"/console/governance/{use_case}/assess/save"
        stolen = await other.post(save, data={**carried(conclusion, save), "csrf_token": token})
        assert stolen.status_code == 404
    english = {m for m in source_messages() if len(m) > 12}
    async with signed_in(f"org_admin@{tenant_a.slug}.example") as admin:
        for language in ("es", "en", "is"):
            for path in [*pages, f"/console/governance/{use_case}?done=acted"]:
                response = await admin.get(path, params={"lang": language})
                assert response.status_code == 200, path
                assert f'<html lang="{language}"' in response.text
                if language != "en":
                    text = " ".join(visible_text(response.text).split())
                    left = sorted(m for m in english if " ".join(m.split()) in text)
                    assert not left, f"{path} in {language} shows English text: {left[:3]}"
            # the assessment's question in the page's language
            question = (await admin.get(pages[2], params={"lang": language})).text
            expected = {"es": "¿Es el sistema un sistema de IA", "en": "Is the system an AI system", "is": "Er kerfið"}
            assert expected[language] in question
