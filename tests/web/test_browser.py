"""The web application in a real browser: Debian's chromium, headless, driven by Playwright.

One server for the module, on the embedded SQLite database with what `make run` seeds (the demo
organisation and its public collection of Velmora's service pages, embedded by the real model).
Screenshots of the main pages are written to ``bench/results/screens/`` (linked from the README).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from soberana.auth.principal import Role, cli_principal
from soberana.auth.schemas import UserCreate, UserUpdate
from soberana.settings import Settings, ensure_secret_key
from soberana.web.app import create_app
from tests.gateway.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "bench" / "results" / "screens"
AIA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "governance" / "aia-eia-js"
PASSWORD = "correct horse battery staple"
ASK = "/ask/demo/city-services"


@dataclass
class Site:
    url: str
    app: Any
    loop: asyncio.AbstractEventLoop
    agency: str  # another origin: an agency's own site that embeds the widget

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)


def _cli(data_dir: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")}
    env["SOBERANA_DATA_DIR"] = str(data_dir)
    env["SOBERANA_EVALUATIONS_GATE"] = "warn"  # as `make run` seeds the demo
    subprocess.run([sys.executable, "-m", "soberana", *args], env=env, check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("site") / "var"
    for command in (["db", "upgrade"], ["demo", "seed"], ["demo", "knowledge"], ["demo", "governance"]):
        _cli(data_dir, *command)
    # every test signs in, asks and opens conversations from the same address, within a minute: the
    # limits are tested in test_pages.py and tests/knowledge/test_citizen_limits.py
    settings = ensure_secret_key(
        Settings(
            data_dir=data_dir,
            sign_in_attempts_per_minute=100,
            citizen_questions_per_minute=200,
            citizen_conversations_per_minute=200,
            citizen_handoffs_per_minute=100,
            web_handoff_poll_seconds=2,
            governance_aia_dir=str(AIA_DIR),  # Canada's questionnaire, from the project's shared data
            evaluations_gate="warn",  # as `make run` serves the demo: approvals record their evaluation gaps
        )
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        threading.Event().wait(0.05)
    agency, stop_agency = _agency_site(f"http://127.0.0.1:{port}")
    site = Site(f"http://127.0.0.1:{port}", app, loop, agency)
    site.run(_people(app))
    site.run(_allow_widget(app, agency))
    site.run(_handbook(app))
    yield site
    stop_agency()
    server.should_exit = True
    thread.join(30)
    loop.close()


def _agency_site(soberana: str) -> tuple[str, Any]:
    """A municipality's own web site, on another origin, with the widget's one script tag."""
    page = (
        '<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Ayuntamiento de Velmora</title></head>'
        "<body><main><h1>Ayuntamiento de Velmora</h1><p>Bienvenido.</p></main>"
        f'<script src="{soberana}/widget.js" data-collection="demo/city-services" data-lang="es" async></script>'
        "</body></html>"
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop


async def _allow_widget(app: Any, origin: str) -> None:
    from soberana.auth.principal import Origin
    from soberana.knowledge.schemas import CollectionUpdate

    collection, _ = await app.state.platform.citizens.public_assistant("demo/city-services")
    async with app.state.platform.db.write_session() as session:
        await app.state.platform.knowledge.update_collection(
            session, cli_principal("pytest"), collection.id, CollectionUpdate(widget_origins=[origin]), Origin()
        )


async def _handbook(app: Any) -> None:
    """An internal collection of the demo organisation, for the staff workspace."""
    from soberana.auth.principal import Origin
    from soberana.knowledge.schemas import CollectionCreate

    admin, root = app.state.platform.admin, cli_principal("pytest")
    async with app.state.platform.db.write_session() as session:
        org = await admin.organisation_by_slug(session, root, "demo")
        await app.state.platform.knowledge.create_collection(
            session,
            root,
            CollectionCreate(org_id=org.id, name="handbook", title="Staff handbook", visibility="internal"),
            Origin(),
        )


async def _people(app: Any) -> None:
    """The demo administrator and a staff member of the demo organisation, with passwords."""
    admin, root = app.state.platform.admin, cli_principal("pytest")
    async with app.state.platform.db.write_session() as session:
        org = await admin.organisation_by_slug(session, root, "demo")
        users, _ = await admin.list_users(session, root, org_id=org.id)
    demo_admin = next(u for u in users if u.email == "admin@demo.example")
    async with app.state.platform.db.write_session() as session:
        await admin.update_user(session, root, demo_admin.id, UserUpdate(password=PASSWORD))
    async with app.state.platform.db.write_session() as session:
        await admin.create_user(
            session,
            root,
            UserCreate(
                org_id=org.id, email="staff@demo.example", display_name="Ana Staff", role=Role.STAFF, password=PASSWORD
            ),
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():  # never skipped: these tests are the web application's acceptance
        pytest.fail("Debian's chromium is missing: `make test` installs it (packages chromium, chromium-driver)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1000, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Any, email: str) -> None:
    page.goto("/sign-in?lang=en")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/staff/cases"))


def no_serious_accessibility_problems(page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{page.url}: {serious}"


def screenshot(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=False)


def ask(page: Any, question: str) -> Any:
    page.fill("#question", question)
    with page.expect_response(lambda r: r.url.endswith("/stream")) as streamed:
        page.click("form[data-stream] button[type=submit]")
    answer = page.locator("#log li.message.assistant").last
    answer.and_(page.locator("[aria-busy=false]")).wait_for(timeout=60_000)
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    return answer


def test_a_citizen_asks_in_spanish_and_gets_a_streamed_answer_with_citations(page: Any) -> None:
    page.goto(f"{ASK}?lang=es")
    assert page.locator("html").get_attribute("lang") == "es"
    assert "Está hablando con un sistema de IA" in page.inner_text(".notice")
    answer = ask(page, "¿Cuánto cuesta la licencia de obra menor?")
    assert "60 €" in answer.inner_text()
    link = answer.locator("ol.citations a").first
    assert "/es/services/minor-works-permit" in (link.get_attribute("href") or "")
    assert answer.locator("ol.citations blockquote").count() >= 1
    no_serious_accessibility_problems(page)  # with the conversation, citations and feedback on the page
    screenshot(page, "citizen-assistant")
    page.reload()  # the conversation is kept: the answer is there after a reload
    assert "60 €" in page.inner_text("#log")


def test_without_javascript_the_question_is_a_plain_form(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{ASK}?lang=is")
    page.fill("#question", "Hvað kostar að láta sækja grófan úrgang?")
    page.click("form[data-stream] button[type=submit]")
    page.wait_for_url(re.compile(r"#msg-"))
    assert "25 €" in page.inner_text("#log li.message.assistant")
    context.close()


def test_the_assistant_works_with_the_keyboard_alone(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.goto(f"{ASK}?lang=en")
    for _ in range(30):  # Tab through the page until the question field has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "question":
            break
    assert page.evaluate("document.activeElement.id") == "question"
    page.keyboard.type("How much is the minor works permit?")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    page.keyboard.press("Enter")
    answer = page.locator("#log li.message.assistant").last
    answer.and_(page.locator("[aria-busy=false]")).wait_for(timeout=60_000)
    assert answer.locator("ol.citations a").count() >= 1  # an answer from the pages, with its sources

    def tab_to(found: str) -> None:  # Tab onwards until the element matching `found` has focus
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement.matches({found!r})"):
                return
        raise AssertionError(f"{found} cannot be reached with the Tab key")

    tab_to("form.feedback button[value=true]")  # rate the answer
    page.keyboard.press("Enter")
    page.locator(".notice.ok", has_text="Thank you for your feedback.").wait_for(timeout=10_000)
    tab_to("#reason")  # then ask for a person
    page.keyboard.type("I would like to speak to someone about the permit.")
    tab_to("#handoff button[type=submit]")
    page.keyboard.press("Enter")
    page.locator("#handoff", has_text="Your request has been sent.").wait_for(timeout=10_000)
    context.close()


def test_hand_off_reaches_the_staff_queue_and_the_reply_reaches_the_citizen(browser: Any, site: Site) -> None:
    citizen = browser.new_context(base_url=site.url).new_page()
    citizen.goto(f"{ASK}?lang=es")
    ask(citizen, "¿Cuándo recogen los residuos orgánicos?")
    citizen.fill("#reason", "Necesito reservar una recogida de muebles.")
    citizen.click("#handoff button[type=submit]")
    assert "Un miembro del personal le responderá" in citizen.inner_text("#handoff")

    staff = browser.new_context(base_url=site.url).new_page()
    sign_in(staff, "staff@demo.example")
    no_serious_accessibility_problems(staff)
    for language in ("es", "en", "is"):
        staff.goto(f"/staff/chat?lang={language}")
        no_serious_accessibility_problems(staff)
    staff.goto("/staff/cases?lang=en")
    staff.click("table tr:has-text('reservar una recogida de muebles') a")  # other tests open cases too
    assert "reservar una recogida de muebles" in staff.inner_text("main")
    assert "residuos orgánicos" in staff.inner_text(".log")
    screenshot(staff, "staff-case")
    no_serious_accessibility_problems(staff)
    staff.fill("#message", "Hemos reservado la recogida para el lunes.")
    staff.check("input[name=close]")
    staff.click("form[action$='/reply'] button[type=submit]")
    assert "Your reply has been sent" in staff.inner_text("main")

    # the citizen's open page shows the reply without a reload, and that the case is closed
    reply = citizen.locator("li.message.staff").last
    reply.wait_for(timeout=30_000)
    assert "Hemos reservado la recogida para el lunes." in reply.inner_text()
    citizen.locator("#handoff", has_text="ha respondido y ha cerrado").wait_for(timeout=30_000)
    citizen.reload()
    assert "Hemos reservado la recogida para el lunes." in citizen.locator("li.message.staff").last.inner_text()
    assert "Miembro del personal" in reply.inner_text()


def test_an_administrator_creates_a_key_and_sees_it_once(page: Any) -> None:
    sign_in(page, "admin@demo.example")
    page.goto("/console/keys?lang=en")
    no_serious_accessibility_problems(page)
    page.fill("#key-name", "citizen portal")
    page.click("form[action='/console/keys'] button[type=submit]")
    shown = page.inner_text("#new-key-value").strip()
    assert re.fullmatch(r"sob_[0-9A-Z]{12}_[A-Za-z0-9_-]{43}", shown)
    no_serious_accessibility_problems(page)  # the page that shows the key
    screenshot(page, "console-keys")
    page.goto("/console/keys")
    assert page.locator("#new-key-value").count() == 0
    assert shown not in page.content()
    assert "citizen portal" in page.inner_text("table")
    for path in (
        "/account/keys?lang=es",
        "/account/keys?lang=is",
        "/console/usage?lang=es",
        "/console/audit?lang=is",
        "/console/people?lang=es",
        "/console/models?lang=is",
        "/console/models?lang=es",
        "/console/usage?lang=is&group_by=day&model=multilingual-e5-small",
        "/console/usage?lang=en&group_by=model",
        "/console/usage?lang=es&split=model&metric=tokens",
    ):
        page.goto(path)
        no_serious_accessibility_problems(page)
    screenshot(page, "console-usage")


def test_sign_in_sign_out_and_csrf_refusal(page: Any) -> None:
    page.goto("/sign-in?lang=is")
    page.fill("#email", "staff@demo.example")
    page.fill("#password", "not the password at all")
    page.click("button[type=submit]")
    assert page.locator(".notice.error, .field-error").count() >= 1
    no_serious_accessibility_problems(page)  # the refusal, in Icelandic
    sign_in(page, "staff@demo.example")
    refused = page.request.post("/sign-out", form={"csrf_token": "not-the-token"})
    assert refused.status == 403
    page.goto("/staff/cases")
    assert page.url.endswith("/staff/cases")  # still signed in
    page.click("nav form[action='/sign-out'] button")
    page.wait_for_url(re.compile(r"/\?signed_out=1"))
    page.goto("/staff/cases")
    assert "/sign-in" in page.url


@pytest.mark.parametrize("language", ["es", "en", "is"])
def test_every_page_passes_axe(page: Any, language: str) -> None:
    pages = ["/", "/privacy", "/-/patterns", "/sign-in", ASK, "/ask/nobody/nothing", "/ask/city-services"]
    for path in pages:
        page.goto(f"{path}?lang={language}")
        no_serious_accessibility_problems(page)
    if language == "en":
        page.goto("/?lang=en")
        screenshot(page, "home")
        page.goto("/-/patterns")
        screenshot(page, "patterns")
        page.set_viewport_size({"width": 380, "height": 800})
        for path in ("/", "/privacy", "/sign-in", ASK):  # a citizen's pages fit a phone: no sideways scrolling
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        screenshot(page, "citizen-assistant-phone")


@pytest.mark.parametrize("language", ["es", "en", "is"])
def test_the_public_transparency_record_in_three_languages(page: Any, language: str) -> None:
    """What `make run` publishes: the demo assistant's record, found from the organisation's index."""
    page.goto(f"/transparency/demo?lang={language}")
    no_serious_accessibility_problems(page)
    page.click("main li a")
    page.wait_for_url(re.compile(r"/transparency/demo/uc_"))
    assert page.inner_text("h1") == "Velmora city services assistant"
    assert page.get_attribute("html", "lang") == language
    headings = page.locator("h2").all_inner_texts()
    expected = {"en": "Model and where it runs", "es": "Modelo y dónde se ejecuta", "is": "Líkan og hvar það keyrir"}
    assert expected[language] in headings
    no_serious_accessibility_problems(page)
    screenshot(page, f"transparency-record-{language}")


def test_the_widget_works_on_an_agency_site_of_another_origin(browser: Any, site: Site) -> None:
    page = browser.new_context().new_page()
    page.goto(site.agency)
    button = page.locator("#soberana-widget-button")
    assert button.inner_text() == "Pregunte al asistente"
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    frame = page.frame_locator("#soberana-widget-panel iframe")
    frame.locator("#question").fill("¿Cuánto cuesta la licencia de obra menor?")
    frame.locator("form[data-stream] button[type=submit]").click()
    answer = frame.locator("#log li.message.assistant").last
    answer.and_(frame.locator("[aria-busy=false]")).wait_for(timeout=60_000)
    assert "60 €" in answer.inner_text()
    assert frame.locator("header.site-header").count() == 0  # the embedded page has no site chrome
    # links leave the frame: the privacy notice and the sources open in a tab of their own
    assert frame.locator("a[href='/privacy']").get_attribute("target") == "_blank"
    assert answer.locator("ol.citations a").first.get_attribute("target") == "_blank"
    no_serious_accessibility_problems(page)  # the agency's page with the widget's button and open panel
    page.evaluate("window.scrollTo(0, 0)")
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "widget.png"))
    # framing is allowed only where the collection says: every other page refuses other sites
    embedded = page.request.get(f"{site.url}{ASK}?embed=1")
    assert embedded.headers["content-security-policy"].startswith(f"frame-ancestors 'self' {site.agency};")
    assert page.request.get(f"{site.url}/").headers["content-security-policy"].startswith("frame-ancestors 'self';")
    for language in ("es", "en", "is"):  # the page inside the panel, on its own
        page.goto(f"{site.url}{ASK}?embed=1&lang={language}")
        no_serious_accessibility_problems(page)
    assert page.locator("ol.citations a").first.get_attribute("target") == "_blank"  # as the page writes it


HANDBOOK = (
    "# Working from home\n\nStaff may work from home up to two days a week with their manager's agreement. "
    "Home working days are booked in the rota by Thursday of the week before.\n\n"
    "## Equipment\n\nThe municipality lends a laptop and a headset; a second screen can be requested from IT.\n"
)


def test_staff_upload_documents_with_progress_and_ask_the_internal_collection(page: Any, tmp_path: Path) -> None:
    sign_in(page, "staff@demo.example")
    page.goto("/staff/search?lang=en")
    no_serious_accessibility_problems(page)
    page.click("table a:has-text('Velmora')")  # a public collection: the line that embeds its assistant
    assert 'data-collection="demo/city-services"' in page.inner_text("#widget-tag")
    no_serious_accessibility_problems(page)
    page.goto("/staff/search?lang=en")
    page.click("table a:has-text('Staff handbook')")
    no_serious_accessibility_problems(page)
    handbook = tmp_path / "home-working.md"
    handbook.write_text(HANDBOOK, encoding="utf-8")
    page.set_input_files("#upload-files", [str(handbook)])
    page.click("form[data-upload] button[type=submit]")
    status = page.locator("#upload-status")
    status.filter(has_text="Finished: 1 added").wait_for(timeout=60_000)
    assert page.locator("#upload-bar").get_attribute("value") == page.locator("#upload-bar").get_attribute("max")
    screenshot(page, "staff-upload")
    job = page.locator("#upload-status").inner_text()
    assert "0 failed" in job
    page.click("#upload-job")
    assert "1 of 1 files processed." in page.inner_text("main")
    no_serious_accessibility_problems(page)
    page.goto("/staff/search?lang=en")
    page.fill("#search-query", "How many days a week can I work from home?")
    deadline = 60
    for _ in range(deadline):  # the new passages become searchable by meaning in the background
        page.click("main form button[type=submit]")
        if "two days a week" in page.inner_text("main"):
            break
        page.wait_for_timeout(1000)
    results = page.locator("#results")
    assert "two days a week" in results.inner_text()
    assert results.locator("ol.citations li").count() >= 1
    no_serious_accessibility_problems(page)  # the answer with its sources
    screenshot(page, "staff-search")
    for language in ("es", "is"):
        page.goto(f"/staff/search?lang={language}")
        no_serious_accessibility_problems(page)


def test_saved_conversations_are_listed_reopened_and_deleted(page: Any, site: Site) -> None:
    conversation = site.run(_saved_conversation(site.app))
    sign_in(page, "staff@demo.example")
    for language in ("es", "is", "en"):
        page.goto(f"/staff/chat?c={conversation}&lang={language}")
        no_serious_accessibility_problems(page)
    assert "Draft a letter about the bulky waste pick-up" in page.inner_text(".history")
    assert "A draft letter." in page.inner_text(".log")
    screenshot(page, "staff-chat")
    page.click(".history form button.danger")
    page.wait_for_url(re.compile(r"deleted=1"))
    assert "The conversation has been deleted" in page.inner_text("main")
    assert "Draft a letter" not in page.inner_text("main")


async def _saved_conversation(app: Any) -> str:
    from soberana.auth.principal import ROLE_SCOPES, Principal
    from soberana.gateway.clients import ChatReply
    from soberana.workspace.service import WorkspaceService

    class Model:
        async def converse(self, *args: Any, **kwargs: Any) -> ChatReply:
            return ChatReply("A draft letter.", "demo@local", "pseudonymised; PERSON=1")

    admin, root = app.state.platform.admin, cli_principal("pytest")
    async with app.state.platform.db.session() as session:
        org = await admin.organisation_by_slug(session, root, "demo")
        users, _ = await admin.list_users(session, root, org_id=org.id)
    staff = next(u for u in users if u.email == "staff@demo.example")
    me = Principal("user", staff.id, staff.email, org.id, Role.STAFF, ROLE_SCOPES[Role.STAFF])
    saved = await WorkspaceService(app.state.platform.db, admin, Model(), app.state.platform.privacy).send(
        me, None, "Draft a letter about the bulky waste pick-up for Ana López", "demo", None
    )
    return str(saved.id)


GOVERNED_PATH = [
    ("ai_system", "yes"),
    ("general_purpose", "no"),
    ("role", "deployer"),
    ("prohibited_practice", "none"),
    ("annex_i_product", "no"),
    ("annex_iii_area", "none"),
    ("interacts", "yes"),
    ("synthetic_content", "no"),
    ("emotion_or_biometric", "no"),
    ("deepfake_or_public_text", "no"),
]


async def _reviewer(app: Any) -> None:
    """A second administrator of the demo organisation: the second pair of eyes."""
    admin, root = app.state.platform.admin, cli_principal("pytest")
    async with app.state.platform.db.write_session() as session:
        org = await admin.organisation_by_slug(session, root, "demo")
        await admin.create_user(
            session,
            root,
            UserCreate(
                org_id=org.id,
                email="reviewer@demo.example",
                display_name="Rut Reviewer",
                role=Role.ORG_ADMIN,
                password=PASSWORD,
            ),
        )


def test_a_use_case_is_registered_assessed_approved_bound_and_suspended(browser: Any, site: Site, page: Any) -> None:
    """The register in the console, one question a page; with enforcement on, the key bound to the use case
    runs while it is approved and is refused once it is suspended through the page (the kill switch)."""
    import httpx

    site.run(_reviewer(site.app))
    sign_in(page, "admin@demo.example")
    page.goto("/console/governance?lang=en")
    no_serious_accessibility_problems(page)
    page.fill("#uc-name", "Letter drafting assistant")
    page.fill("#uc-description", "Drafts replies to residents' letters for a caseworker to check and send.")
    for field, text in (
        ("purpose", "Answer letters faster."),
        ("public_benefit", "Residents get answers within days."),
        ("owner", "Correspondence team"),
        ("senior_responsible_owner", "Head of Customer Services"),
        ("affected_people", "Residents who write to the city."),
        ("human_intervention", "A caseworker reads, edits and sends every reply."),
        ("legal_basis", "Municipal services regulation, art. 12."),
    ):
        page.fill(f"#uc-{field}", text)
    page.fill("#uc-contact_email", "ai-register@demo.example")
    page.select_option("#uc-models", ["smollm2-135m-demo"])
    page.evaluate("document.getElementById('register').scrollIntoView()")
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "governance-register.png"))  # the form, filled in
    page.click("form[action='/console/governance/new'] button[type=submit]")
    page.wait_for_url(re.compile(r"/console/governance/uc_\w+\?done=created"))
    use_case = page.url.split("?")[0]
    assert "The use case has been registered as a draft." in page.inner_text("main")
    # the EU AI Act assessment, one question a page
    page.click("a:has-text('Answer the assessment')")
    for number, (question, choice) in enumerate(GOVERNED_PATH, start=1):
        assert page.locator("fieldset").count() == 1 and f"Question {number}" in page.inner_text("main")
        if number == 1:
            no_serious_accessibility_problems(page)
        if question == "annex_iii_area":
            screenshot(page, "governance-assessment")
        page.check(f"input[name='answer-{question}'][value='{choice}']")
        page.click("form[action$='/assess'] button[type=submit]:not([name=back])")
    assert "Transparency duties" in page.inner_text("main")  # the conclusion: not high-risk, with Art. 50 duties
    no_serious_accessibility_problems(page)
    page.click("button:has-text('Save the assessment')")
    page.wait_for_url(re.compile(r"done=assessed"))
    page.click("form:has(input[name=action][value=submit]) button")
    page.wait_for_url(re.compile(r"done=acted"))
    assert "In review" in page.inner_text("main")
    no_serious_accessibility_problems(page)

    reviewer = browser.new_context(base_url=site.url, viewport={"width": 1000, "height": 800}).new_page()
    sign_in(reviewer, "reviewer@demo.example")
    reviewer.goto("/account/keys?lang=en")
    reviewer.fill("#key-name", "governed integration")
    reviewer.click("form[action='/account/keys'] button[type=submit]")
    key = reviewer.inner_text("#new-key-value").strip()
    reviewer.goto(use_case)
    reviewer.click("form:has(input[name=action][value=approve]) button")
    reviewer.wait_for_url(re.compile(r"done=acted"))
    assert "Approved" in reviewer.inner_text("dl")
    option = reviewer.locator("#bind-subject option", has_text="governed integration").get_attribute("value")
    reviewer.select_option("#bind-subject", option)
    reviewer.click("form[action$='/bindings'] button[type=submit]")
    reviewer.wait_for_url(re.compile(r"done=bound"))
    assert "governed integration" in reviewer.inner_text("#bindings ~ table")
    no_serious_accessibility_problems(reviewer)
    screenshot(reviewer, "governance-use-case")

    enforcer = site.app.state.platform.enforcer
    before, enforcer.mode = enforcer.mode, "enforce"
    try:
        chat = {"model": "smollm2-135m-demo", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8}
        headers = {"Authorization": f"Bearer {key}"}
        runs = httpx.post(f"{site.url}/v1/chat/completions", json=chat, headers=headers, timeout=120)
        assert runs.status_code == 200, runs.text
        reviewer.fill("#reason-suspend", "Replies quoted the wrong fees.")
        reviewer.click("form:has(input[name=action][value=suspend]) button")
        reviewer.wait_for_url(re.compile(r"done=acted"))
        assert "Suspended" in reviewer.inner_text("dl") and "Replies quoted the wrong fees." in reviewer.inner_text(
            "dl"
        )
        refused = httpx.post(f"{site.url}/v1/chat/completions", json=chat, headers=headers, timeout=120)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "use_case_suspended"
    finally:
        enforcer.mode = before
    for language in ("es", "is"):
        reviewer.goto(f"{use_case}?lang={language}")
        no_serious_accessibility_problems(reviewer)
    reviewer.context.close()


@pytest.mark.parametrize("language", ["es", "en", "is"])
def test_the_governance_records_pages_pass_axe(page: Any, language: str) -> None:
    """Incidents, a use case's transparency record and changing it, Canada's AIA (its first question), the
    policy and the suppliers: each page, with its forms, in three languages."""
    sign_in(page, "admin@demo.example")
    page.goto(f"/console/governance?lang={language}")
    page.click("main table a")
    use_case = page.url.split("?")[0]
    page.goto(f"{use_case}?lang={language}")
    no_serious_accessibility_problems(page)  # the requirement forms and the incident form
    page.fill("#inc-title", f"Slow answers ({language})")
    page.fill("#inc-description", "Answers took over a minute.")
    page.click("form[action$='/incidents'] button[type=submit]")
    page.wait_for_url(re.compile(r"/console/governance/incidents/inc_\w+\?done=reported"))
    no_serious_accessibility_problems(page)  # an incident's page: triage and suspend
    for path in ("/console/governance/incidents", "/console/governance/policy", "/console/governance/suppliers"):
        page.goto(f"{path}?lang={language}")
        no_serious_accessibility_problems(page)
    for tail in ("transparency", "change", "aia"):
        page.goto(f"{use_case}/{tail}?lang={language}")
        assert page.get_attribute("html", "lang") == language
        no_serious_accessibility_problems(page)


@pytest.mark.parametrize("language", ["es", "en", "is"])
def test_the_evaluations_pages_pass_axe(page: Any, language: str) -> None:
    """A use case's evaluations (required suites, the run form, the charts) and a run's page, in three
    languages; the run is started from the plain form."""
    sign_in(page, "admin@demo.example")
    page.goto(f"/console/governance?lang={language}")
    page.click("main table a")
    use_case = page.url.split("?")[0]
    page.goto(f"{use_case}/evaluations?lang={language}")
    assert page.get_attribute("html", "lang") == language
    no_serious_accessibility_problems(page)
    page.select_option("form[aria-labelledby=run] select", "off-topic")
    page.click("form[aria-labelledby=run] button[type=submit]")
    page.wait_for_url(re.compile(r"/console/evaluations/runs/evr_\w+"))
    page.goto(page.url.split("?")[0] + f"?lang={language}&refresh=off")
    assert page.locator("main h1").count() == 1
    no_serious_accessibility_problems(page)
    if language == "en":
        screenshot(page, "evaluation-run")


async def _newcomer(app: Any, email: str) -> None:
    admin, root = app.state.platform.admin, cli_principal("pytest")
    async with app.state.platform.db.write_session() as session:
        org = await admin.organisation_by_slug(session, root, "demo")
        user = UserCreate(
            org_id=org.id, email=email, display_name="Nuevo Funcionario", role=Role.STAFF, password=PASSWORD
        )
        await admin.create_user(session, root, user)


def _answer_perfectly(page: Any, course: Any, language: str) -> None:
    """Fill the quiz form with the answers that earn every point, as a keyboard user would choose them."""
    for question in course.quizzes[language]:
        field = f"q-{question.id}"
        if question.kind == "truefalse":
            page.check(f"input[name='{field}'][value='{str(question.answer).lower()}']")
        elif question.kind == "numeric":
            page.fill(f"input[name='{field}']", f"{next(n.value for n in question.numeric if n.weight == 1.0):g}")
        else:
            for index, choice in enumerate(question.choices):
                if choice.weight > 0:
                    page.check(f"input[name='{field}'][value='{index}']")


def test_a_newcomer_is_refused_the_chat_takes_the_baseline_course_in_spanish_and_then_chats(
    site: Site, page: Any
) -> None:
    training = site.app.state.platform.training
    before = training.gate
    training.gate = "enforce"  # the installation requires the baseline course (SOBERANA_TRAINING_GATE)
    try:
        site.run(_newcomer(site.app, "nuevo@demo.example"))
        sign_in(page, "nuevo@demo.example")
        page.goto("/staff/chat?lang=es")
        course_link = page.locator("main a[href='/training/courses/ai-literacy']").first
        assert course_link.is_visible()
        no_serious_accessibility_problems(page)
        course_link.click()
        page.wait_for_url(re.compile(r"/training/courses/ai-literacy"))
        assert page.get_attribute("html", "lang") == "es"
        no_serious_accessibility_problems(page)
        page.locator("main a[href*='/lessons/']").first.click()
        no_serious_accessibility_problems(page)
        screenshot(page, "training-lesson")
        page.goto("/training/courses/ai-literacy/quiz?lang=es")
        no_serious_accessibility_problems(page)
        _answer_perfectly(page, training.course("ai-literacy"), "es")
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_url(re.compile(r"/training/courses/ai-literacy/attempts/tra_\w+"))
        no_serious_accessibility_problems(page)
        screenshot(page, "training-result")
        page.locator("main a[href^='/training/certificates/']").first.click()
        no_serious_accessibility_problems(page)
        code = page.locator("main").inner_text()
        assert "Nuevo Funcionario" in code
        page.goto("/staff/chat?lang=es")
        assert page.locator("main a[href='/training/courses/ai-literacy']").count() == 0
        page.fill("#chat-message", "Hola, ¿qué puedes hacer?")
        with page.expect_response(lambda r: r.request.method == "POST" and "/staff/chat" in r.url) as sent:
            page.locator("form[action='/staff/chat#chat-error'] button[type=submit]").first.click()
        assert sent.value.status < 400  # the model answers: no training refusal any more
        assert page.locator("#chat-training").count() == 0
    finally:
        training.gate = before


@pytest.mark.parametrize("language", ["es", "en", "is"])
def test_the_training_pages_pass_axe(page: Any, language: str) -> None:
    """The list of courses, a course, a lesson, the quiz and the public verification page, in three languages."""
    sign_in(page, "admin@demo.example")
    for path in (
        "/training",
        "/training/courses/ai-literacy",
        "/training/courses/ai-literacy/lessons/what-a-language-model-is",
        "/training/courses/ai-literacy/quiz",
        "/verify?code=AAAA-BBBB-CCCC-DDDD",
    ):
        page.goto(f"{path}{'&' if '?' in path else '?'}lang={language}")
        assert page.get_attribute("html", "lang") == language, path
        no_serious_accessibility_problems(page)
    if language == "en":
        screenshot(page, "training-verify")
