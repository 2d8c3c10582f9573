"""The web application over HTTP: translations complete, every page in three languages, sign-in with
sessions, CSRF refusal and the sign-in rate limit. (What needs a browser is in test_browser.py.)"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from soberana.auth.principal import ROLE_SCOPES, Origin, Principal, Role
from soberana.gateway.clients import ChatReply
from soberana.knowledge.schemas import HandoffIn
from soberana.web import i18n
from soberana.web.console_reports import CHART_WIDTH, LABEL_WIDTH, bar_chart
from soberana.workspace.service import WorkspaceService
from tests.conftest import Tenant
from tests.knowledge.conftest import make_collection

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
PASSWORD = "correct horse battery staple"


def source_messages() -> set[str]:
    """Every interface string in the code and templates, as `make translations` extracts them."""
    found: set[str] = set()
    for method, pattern in (("python", "soberana/web/**.py"), ("jinja2", "soberana/web/templates/web/**.html")):
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), method_map=[(pattern, method)], keywords=KEYWORDS, comment_tags=()
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(language: str) -> dict[str, Any]:
    with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in read_po(handle) if m.id}


@pytest.mark.parametrize("language", ["es", "is"])
def test_message_catalogues_are_complete(language: str) -> None:
    wanted = source_messages()
    assert len(wanted) > 100
    entries = catalogue(language)
    missing = sorted(wanted - set(entries))
    assert not missing, f"{language}: not in the catalogue (run `make translations`): {missing[:5]}"
    untranslated = sorted(
        m
        for m in wanted
        if not entries[m].string or (isinstance(entries[m].string, tuple) and not all(entries[m].string))
    )
    assert not untranslated, f"{language}: no translation for {untranslated[:5]}"
    assert not [m for m in wanted if entries[m].fuzzy], f"{language}: fuzzy entries"
    stale = sorted(set(entries) - wanted)
    assert not stale, f"{language}: entries no longer in the code: {stale[:5]}"


async def set_password(client: httpx.AsyncClient, tenant: Tenant, user_id: str) -> None:
    response = await client.patch(f"/admin/users/{user_id}", headers=tenant.headers(), json={"password": PASSWORD})
    assert response.status_code == 200, response.text


def form_token(page: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    form = await client.get("/sign-in")
    token = form_token(form.text)
    return await client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token, **extra})


class _Reply:
    async def converse(self, *args: Any, **kwargs: Any) -> ChatReply:
        return ChatReply("Una respuesta.", "test@model", "none")


def visible_text(page: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


async def test_every_page_speaks_the_chosen_language(app: Any, client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await set_password(client, tenant_a, tenant_a.admin_id)
    collection = await make_collection(client, tenant_a, "notes")
    job = (
        await client.post(
            f"/v1/collections/{collection['id']}/documents",
            headers=tenant_a.headers("staff"),
            files=[("files", ("broken.pdf", b"%PDF-1.7 not really"))],
        )
    ).json()
    public = await make_collection(client, tenant_a, "help", "public")
    conversation, token = await app.state.platform.citizens.open_conversation(public["id"], Origin())
    case = await app.state.platform.citizens.request_handoff(conversation.id, token, HandoffIn(reason="Hola"), Origin())
    admin = Principal("user", tenant_a.admin_id, "admin", tenant_a.org_id, Role.ORG_ADMIN, ROLE_SCOPES[Role.ORG_ADMIN])
    saved = await WorkspaceService(
        app.state.platform.db, app.state.platform.admin, _Reply(), app.state.platform.privacy
    ).send(admin, None, "Hola", "m", None)
    english = {m for m in source_messages() if len(m) > 12}  # short words may coincide across languages
    signed_out = ["/sign-in"]
    signed_in = [
        "/",
        "/privacy",
        "/-/patterns",
        "/staff/cases",
        "/staff/chat",
        "/console/keys",
        "/account/keys",
        "/console/people",
        "/console/models",
        "/console/usage",
        "/console/audit",
        "/ask/nobody/nothing",
        f"/ask/{tenant_a.slug}/help",
        "/ask/help",
        f"/staff/cases/{case.id}",
        "/staff/search",
        f"/staff/collections/{collection['id']}",
        f"/staff/jobs/{job['id']}",
        f"/staff/chat?c={saved.id}",
        f"/console/usage?group_by=day&model=mock-chat&org={tenant_a.org_id}",
    ]
    for pages in (signed_out, signed_in):
        if pages is signed_in:
            assert (await sign_in(client, f"org_admin@{tenant_a.slug}.example")).status_code == 303
        for language, path in [(lang, p) for lang in ("es", "is") for p in pages]:
            response = await client.get(path, params={"lang": language}, follow_redirects=True)
            assert response.status_code in (200, 404), (path, response.status_code)
            assert f'<html lang="{language}"' in response.text
            text = " ".join(visible_text(response.text).split())
            left = sorted(m for m in english if " ".join(m.split()) in text)
            assert not left, f"{path} in {language} shows English text: {left[:3]}"
    # switching language keeps the page's own query (here: the open conversation)
    chat = await client.get("/staff/chat", params={"c": saved.id, "lang": "is"})
    assert f'href="?c={saved.id}&amp;lang=es" hreflang="es"' in chat.text
    # the choice is remembered; without one, the browser's language counts
    assert '<html lang="is"' in (await client.get("/privacy")).text
    client.cookies.delete("soberana_lang")
    spanish = await client.get("/privacy", headers={"Accept-Language": "de-DE,es;q=0.9,en;q=0.5"})
    assert '<html lang="es"' in spanish.text


async def test_the_pattern_library_shows_every_component(client: httpx.AsyncClient) -> None:
    """Every class a template styles appears on /-/patterns, so design and accessibility reviews see it
    (page layouts are shown on their own pages: the staff chat's three parts, the widget's frame)."""
    templates = ROOT / "soberana" / "web" / "templates" / "web"
    used: set[str] = set()
    for template in templates.rglob("*.html"):
        for found in re.finditer(r'class="([^"]*)"', template.read_text(encoding="utf-8")):
            used.update(c for c in re.sub(r"{[{%].*?[%}]}", " ", found.group(1)).split())
    page = await client.get("/-/patterns", params={"lang": "en"})
    assert page.status_code == 200
    shown = {c for found in re.finditer(r'class="([^"]*)"', page.text) for c in found.group(1).split()}
    layouts = {"workspace", "chat", "history", "embedded"}
    assert len(used) > 40
    missing = sorted(used - shown - layouts)
    assert missing == [], missing
    for part in ('role="img"', 'type="file"', 'type="date"', "<dl>", "data-copy=", 'class="feedback"'):
        assert part in page.text, part


async def test_sign_in_sessions_and_sign_out(app: Any, client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await set_password(client, tenant_a, tenant_a.staff_id)
    assert (await client.get("/staff/cases")).headers["location"] == "/sign-in?next=/staff/cases"
    wrong = await sign_in(client, f"staff@{tenant_a.slug}.example", "not the password")
    assert wrong.status_code == 401 and "Wrong e-mail address or password." in wrong.text
    signed = await sign_in(client, f"staff@{tenant_a.slug}.example", next="/staff/cases")
    assert signed.status_code == 303 and signed.headers["location"] == "/staff/cases"
    cookie = signed.headers["set-cookie"]
    assert "soberana_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    queue = await client.get("/staff/cases")
    assert queue.status_code == 200 and "Hand-off queue" in queue.text
    session_token = client.cookies.get("soberana_session")
    csrf = form_token(queue.text)
    # staff may not open the administration console
    assert (await client.get("/console/keys")).status_code == 403
    out = await client.post("/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 303
    # the old cookie no longer opens anything, even if someone kept a copy
    client.cookies.set("soberana_session", session_token or "")
    assert (await client.get("/staff/cases")).status_code == 303
    # an outside address after sign-in is never followed
    again = await sign_in(client, f"staff@{tenant_a.slug}.example", next="//evil.example/x")
    assert again.headers["location"] == "/staff/cases"
    assert "Secure" not in again.headers["set-cookie"]  # development over plain HTTP
    # in production (or with SOBERANA_WEB_SECURE_COOKIES) the session cookie is sent over HTTPS only
    app.state.platform.settings = app.state.platform.settings.model_copy(update={"web_secure_cookies": True})
    client.cookies.clear()
    over_https = "https://soberana.test"
    form = await client.get(f"{over_https}/sign-in")
    token = form_token(form.text)
    secure = await client.post(
        f"{over_https}/sign-in",
        data={"email": f"staff@{tenant_a.slug}.example", "password": PASSWORD, "csrf_token": token},
    )
    assert secure.status_code == 303
    session_cookie = next(c for c in secure.headers.get_list("set-cookie") if c.startswith("soberana_session="))
    assert "; Secure" in session_cookie and "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie


async def test_a_password_is_the_persons_own(client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str) -> None:
    """An administrator who sets someone's password can sign in as them and read their saved
    conversations: only an account without one gets it from an administrator; a platform
    administrator's reset is recorded and signs the person out everywhere."""
    await set_password(client, tenant_a, tenant_a.staff_id)  # the first password: allowed
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    assert (await client.get("/staff/cases")).status_code == 200
    taken = await client.patch(
        f"/admin/users/{tenant_a.staff_id}", headers=tenant_a.headers(), json={"password": "the admin knows it"}
    )
    assert taken.status_code == 403 and taken.json()["error"]["code"] == "password_is_personal"
    # the person changes it: this browser stays signed in, with a new session
    page = await client.get("/account/keys")
    wrong = await client.post(
        "/account/password",
        data={"csrf_token": form_token(page.text), "current_password": "not it at all", "new_password": "x" * 12},
    )
    assert wrong.status_code == 400
    changed = await client.post(
        "/account/password",
        data={"csrf_token": form_token(page.text), "current_password": PASSWORD, "new_password": "a new password 123"},
    )
    assert changed.status_code == 303 and (await client.get("/staff/cases")).status_code == 200
    # a platform administrator's reset ends every session of the person, and is on the record
    reset = await client.patch(
        f"/admin/users/{tenant_a.staff_id}",
        headers={"Authorization": f"Bearer {platform_key}"},
        json={"password": "reset by the platform team"},
    )
    assert reset.status_code == 200
    assert (await client.get("/staff/cases")).status_code == 303
    entries = (await client.get("/admin/audit?action=user.update", headers=tenant_a.headers())).json()["data"]
    assert entries[0]["details"]["sessions_ended"] == 1


async def test_forms_without_the_csrf_token_are_refused(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    await set_password(client, tenant_a, tenant_a.staff_id)
    refused = await client.post("/sign-in", data={"email": f"staff@{tenant_a.slug}.example", "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "did not come from this site" in refused.text and "Traceback" not in refused.text
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    forged = await client.post("/sign-out", data={"csrf_token": "forged-token-from-another-site"})
    assert forged.status_code == 403
    assert (await client.get("/staff/cases")).status_code == 200  # still signed in


async def test_sign_in_attempts_are_rate_limited(client: httpx.AsyncClient, tenant_a: Tenant) -> None:
    statuses = [
        (await sign_in(client, f"staff@{tenant_a.slug}.example", "wrong password")).status_code for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    limited = await sign_in(client, f"staff@{tenant_a.slug}.example", "wrong password")
    assert int(limited.headers["retry-after"]) >= 1 and "Too many sign-in attempts" in limited.text


async def test_widget_origins_are_checked_and_frame_the_assistant_only_there(
    app: Any, client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    collection = await make_collection(client, tenant_a, "help", "public")
    assert collection["widget_origins"] == []
    for bad in (
        "javascript:alert(1)",
        "https://www.city.example/page",
        "ftp://city.example",
        "https://a.example *",
        "https://a.example;script-src *",
        "https://user:pw@city.example",
    ):
        refused = await client.patch(
            f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"), json={"widget_origins": [bad]}
        )
        assert refused.status_code == 422, bad
    allowed = await client.patch(
        f"/v1/collections/{collection['id']}",
        headers=tenant_a.headers("staff"),
        json={"widget_origins": ["https://WWW.City.example"]},
    )
    assert allowed.json()["widget_origins"] == ["https://www.city.example"]
    embedded = await client.get(f"/ask/{tenant_a.slug}/help?embed=1")
    assert embedded.headers["content-security-policy"].startswith("frame-ancestors 'self' https://www.city.example;")
    assert 'class="site-header"' not in embedded.text
    plain = await client.get(f"/ask/{tenant_a.slug}/help")
    assert plain.headers["content-security-policy"].startswith("frame-ancestors 'self';")
    # over HTTPS, the widget's cookies cross sites and are partitioned (kept where third-party cookies
    # are blocked, in a jar of the embedding site's own)
    app.state.platform.settings = app.state.platform.settings.model_copy(update={"web_secure_cookies": True})
    client.cookies.clear()
    framed = await client.get(f"/ask/{tenant_a.slug}/help?embed=1")
    cookie = framed.headers["set-cookie"]
    assert "soberana_csrf=" in cookie and "SameSite=none" in cookie and "Secure" in cookie
    assert cookie.endswith("; Partitioned")
    script = await client.get("/widget.js")
    assert script.headers["content-type"].startswith("text/javascript") and "data-collection" in script.text
    # staff set the sites from the collection's page, which gives the line to add to them
    app.state.platform.settings = app.state.platform.settings.model_copy(update={"web_secure_cookies": False})
    client.cookies.clear()
    await set_password(client, tenant_a, tenant_a.staff_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    page = await client.get(f"/staff/collections/{collection['id']}", params={"lang": "en"})
    assert f'data-collection="{tenant_a.slug}/help" async&gt;&lt;/script&gt;' in page.text
    token = form_token(page.text)
    sites = {"csrf_token": token, "origins": "https://www.city.example\r\n\r\n https://Agency.example \n"}
    saved = await client.post(f"/staff/collections/{collection['id']}/widget", data=sites)
    assert saved.status_code == 303
    stored = await client.get(f"/v1/collections/{collection['id']}", headers=tenant_a.headers("staff"))
    assert stored.json()["widget_origins"] == ["https://www.city.example", "https://agency.example"]
    bad = await client.post(
        f"/staff/collections/{collection['id']}/widget", data={**sites, "origins": "https://www.city.example/page"}
    )
    assert bad.status_code == 400 and "address only" in bad.text
    internal = await make_collection(client, tenant_a, "notes")
    assert "widget.js" not in (await client.get(f"/staff/collections/{internal['id']}")).text
    # its labels come from the message catalogues, in every interface language
    for label in ("Pregunte al asistente", "Spyrðu aðstoðarmanninn", "Loka aðstoðarmanninum", "Ask the assistant"):
        assert label in script.text


async def test_an_assistant_is_found_by_its_collection_alone(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    async def publish(tenant: Tenant, name: str, visibility: str = "public") -> dict[str, Any]:
        return await make_collection(client, tenant, name, visibility, title=f"{name} of {tenant.slug}")

    help_a = await publish(tenant_a, "help")
    await publish(tenant_b, "notes", visibility="internal")
    one = await client.get("/ask/help", params={"lang": "is", "embed": "1"})
    assert one.status_code == 303
    assert one.headers["location"] == f"/ask/{tenant_a.slug}/help?lang=is&embed=1"
    by_id = await client.get(f"/ask/{help_a['id']}")
    assert by_id.headers["location"] == f"/ask/{tenant_a.slug}/help"
    internal = await client.get("/ask/notes", headers={"Accept": "text/html"})
    assert internal.status_code == 404 and f"notes of {tenant_b.slug}" not in internal.text  # staff-only: hidden
    assert (await client.get("/ask/nothing")).status_code == 404
    await publish(tenant_b, "help")  # now two organisations publish an assistant of that name
    choose = await client.get("/ask/help", params={"lang": "en"})
    assert choose.status_code == 200
    links = re.findall(r'<a href="(/ask/[^"]+)">([^<]+)</a>', choose.text)
    expected = [(f"/ask/{t.slug}/help?lang=en", f"help of {t.slug}") for t in (tenant_a, tenant_b)]
    assert sorted(links) == sorted(expected)  # the choice keeps the query (language, embedding)


async def test_console_usage_charts_csv_and_audit_log(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant, app: Any, platform_key: str
) -> None:
    for tenant in (tenant_a, tenant_b):
        call = await client.post(
            "/v1/chat/completions",
            headers=tenant.headers("staff"),
            json={"model": "mock-chat", "messages": [{"role": "user", "content": "hola"}]},
        )
        assert call.status_code == 200
    await app.state.platform.gateway_service.meter.flush()
    await set_password(client, tenant_a, tenant_a.admin_id)
    await sign_in(client, f"org_admin@{tenant_a.slug}.example")
    usage = await client.get("/console/usage", params={"group_by": "organisation", "metric": "tokens"})
    assert usage.status_code == 200
    assert '<svg role="img" aria-labelledby="chart-caption"' in usage.text
    assert "Agency-A" in usage.text and "Agency-B" not in usage.text  # only its own organisations
    csv = await client.get("/console/usage.csv", params={"group_by": "model"})
    lines = csv.text.splitlines()
    assert lines[0].startswith("model,requests,errors") and lines[1].startswith("mock-chat,1,0")
    # one model, or one organisation, over time
    over_time = await client.get(
        "/console/usage", params={"group_by": "day", "model": "mock-chat", "org": tenant_a.org_id}
    )
    assert over_time.status_code == 200 and '<option value="mock-chat" selected>' in over_time.text
    assert "No model calls in this period." not in over_time.text
    other_model = await client.get("/console/usage", params={"group_by": "day", "model": "another-model"})
    assert "No model calls in this period." in other_model.text
    narrowed = await client.get("/console/usage.csv", params={"group_by": "model", "model": "another-model"})
    assert narrowed.text.splitlines()[1:] == []
    assert (await client.get("/console/usage", params={"org": tenant_b.org_id})).status_code == 404
    # one chart over time for each model with calls (the organisation's own calls only)
    split = await client.get("/console/usage", params={"group_by": "day", "split": "model", "lang": "en"})
    captions = re.findall(r'<figcaption id="series-\d+-caption">([^<]+)</figcaption>', split.text)
    assert captions == ["mock-chat"]
    # in Spanish: days, numbers and the audit outcome as Spanish writes them
    today = datetime.now(UTC).date()
    spanish = await client.get("/console/usage", params={"group_by": "day", "metric": "tokens", "lang": "es"})
    day = i18n.Translator("es").date(today, "medium")
    assert day.split()[1] in ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic")
    assert f"<td>{day}</td>" in spanish.text and f">{day}</text>" in spanish.text  # the table and the chart
    audit_es = await client.get("/console/audit", params={"action": "api_key.", "lang": "es"})
    assert "<td>Correcto</td>" in audit_es.text and "<td>success</td>" not in audit_es.text
    await client.get("/console/audit", params={"lang": "en"})
    blank = await client.get("/console/audit?action=&outcome=&since=&until=")  # the form sends every field
    assert blank.status_code == 200 and "api_key.create" in blank.text
    audit = await client.get("/console/audit", params={"action": "api_key."})
    assert audit.status_code == 200 and "api_key.create" in audit.text
    assert tenant_b.admin_key_id not in audit.text and "agency-b" not in audit.text.lower()
    assert "Verify the chain" not in audit.text  # the whole chain is for platform administrators
    csrf = form_token(audit.text)
    assert (await client.post("/console/audit/verify", data={"csrf_token": csrf})).status_code == 403

    # a platform administrator verifies the chain from the console
    client.cookies.clear()
    me = (await client.get("/admin/me", headers={"Authorization": f"Bearer {platform_key}"})).json()
    patched = await client.patch(
        f"/admin/users/{me['id']}", headers={"Authorization": f"Bearer {platform_key}"}, json={"password": PASSWORD}
    )
    assert patched.status_code == 200, patched.text
    await sign_in(client, "ops@platform.example")
    page = await client.get("/console/audit")
    csrf = form_token(page.text)
    assert "Verify the chain" in page.text
    verified = await client.post("/console/audit/verify", data={"csrf_token": csrf})
    assert "The chain is intact" in verified.text
    # the platform's administrators compare organisations over time
    split = await client.get("/console/usage", params={"split": "organisation", "metric": "tokens"})
    captions = re.findall(r'<figcaption id="series-\d+-caption">([^<]+)</figcaption>', split.text)
    assert sorted(captions) == ["Agency-A", "Agency-B"]

    # a name a spreadsheet would run as a formula is exported as text
    from datetime import timedelta

    from tests.privacy.test_retention import usage

    formula = '=HYPERLINK("https://evil.example","total")'
    app.state.platform.gateway_service.meter.record({**usage(tenant_a.org_id, timedelta()), "model": formula})
    await app.state.platform.gateway_service.meter.flush()
    import csv as spreadsheet
    import io

    exported = (await client.get("/console/usage.csv", params={"group_by": "model"})).text
    cells = [row[0] for row in spreadsheet.reader(io.StringIO(exported))]
    assert "'" + formula in cells and formula not in cells

    # staff see neither page
    await set_password(client, tenant_a, tenant_a.staff_id)
    client.cookies.clear()
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    assert (await client.get("/console/usage")).status_code == 403
    assert (await client.get("/console/audit")).status_code == 403


def test_a_message_already_in_the_page_language_is_recognised() -> None:
    spanish = i18n.Translator("es")
    assert spanish.speaks(spanish.gettext("Write a question first."))
    assert spanish.speaks(spanish.gettext("No public assistant is called %(name)s.", name="la ayuda\nde Velmora"))
    assert not spanish.speaks("No public assistant 'x/y'.")  # a service's English message
    assert not spanish.speaks("Ningún asistente público se llama .")  # a value is never empty
    # a long text made of a template's pieces over and over: scanned once, not searched every way
    assert not spanish.speaks("x documentos, y pasajes, " * 400)
    assert i18n.Translator("en").speaks("No public assistant 'x/y'.")  # English pages show them as they are


def test_small_multiples_share_one_scale() -> None:
    page: Any = SimpleNamespace(t=i18n.Translator("en"))
    rows = [SimpleNamespace(group="a", requests=5), SimpleNamespace(group="b", requests=10)]
    full = CHART_WIDTH - LABEL_WIDTH - 90
    assert [bar["width"] for bar in bar_chart(rows, "requests", page)["bars"]] == [full / 2, full]
    shared = bar_chart(rows, "requests", page, scale=20)  # another chart beside it reaches 20
    assert [bar["width"] for bar in shared["bars"]] == [full / 4, full / 2]


def test_dates_and_numbers_are_written_per_language() -> None:
    day = date(2026, 11, 27)
    written = {lang: i18n.Translator(lang) for lang in ("es", "en", "is")}
    assert {lang: t.date(day) for lang, t in written.items()} == {
        "es": "27 de noviembre de 2026",
        "en": "November 27, 2026",
        "is": "27. nóvember 2026",
    }
    assert {lang: t.number(12345.5, 2) for lang, t in written.items()} == {
        "es": "12.345,50",
        "en": "12,345.50",
        "is": "12.345,50",
    }


@pytest.mark.parametrize(
    ("header", "language"),
    [("de, en; q=0.5", "en"), ("es;q=0, is;q=0.4", "is"), ("is-IS", "is"), ("fr", "en"), ("es-ES,es;q=0.9", "es")],
)
def test_accept_language_is_read_as_the_standard_writes_it(header: str, language: str) -> None:
    from starlette.requests import Request

    scope = {"type": "http", "headers": [(b"accept-language", header.encode())], "query_string": b""}
    assert i18n.negotiate(Request(scope)) == language


async def test_a_browser_gets_error_pages_and_an_api_client_json(client: httpx.AsyncClient) -> None:
    page = await client.get("/no/such/page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and "Traceback" not in page.text
    api = await client.get("/v1/no-such-endpoint", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "unknown_url"
    plain = await client.get("/no/such/page")
    assert plain.headers["content-type"].startswith("application/json")
    # a message from the services underneath (English only) comes after an explanation in the page's
    # language, marked as English; the web's own messages are translated
    html_ = {"Accept": "text/html"}
    theirs = await client.get("/ask/nobody/nothing", params={"lang": "es"}, headers=html_)
    assert theirs.status_code == 404
    assert "No hay nada en esta dirección, o no es público." in theirs.text
    assert 'Detalles: <span lang="en">No public assistant &#39;nobody/nothing&#39;.</span>' in theirs.text
    ours = await client.get("/ask/nothing", params={"lang": "is"}, headers=html_)
    assert ours.status_code == 404
    assert "Enginn opinber aðstoðarmaður heitir nothing." in ours.text and "Nánar:" not in ours.text


async def test_console_keys_are_shown_once_and_revoked(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    await set_password(client, tenant_a, tenant_a.admin_id)
    await sign_in(client, f"org_admin@{tenant_a.slug}.example")
    form = await client.get("/console/keys")
    token = form_token(form.text)
    created = await client.post(
        "/console/keys",
        data={"csrf_token": token, "name": "portal", "owner": tenant_a.service_account_id, "scopes": ["inference"]},
    )
    assert created.status_code == 201
    shown = re.search(r'id="new-key-value"[^>]*>\s*([^<\s]+)', created.text)
    assert shown is not None
    key = {"Authorization": f"Bearer {shown.group(1)}"}
    assert (await client.get("/v1/models", headers=key)).status_code == 200
    assert shown.group(1) not in (await client.get("/console/keys")).text  # shown this once
    listed = (await client.get("/admin/keys", headers=tenant_a.headers())).json()["data"]
    portal = next(k for k in listed if k["name"] == "portal")
    revoked = await client.post(f"/console/keys/{portal['id']}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/console/keys?revoked=1"
    assert (await client.get("/v1/models", headers=key)).status_code == 401
    # another organisation's key cannot be revoked from here
    refused = await client.post(f"/console/keys/{tenant_b.admin_key_id}/revoke", data={"csrf_token": token})
    assert refused.status_code == 404
    assert (await client.get("/v1/models", headers=tenant_b.headers())).status_code == 200


async def test_people_make_their_own_keys_and_see_those_made_for_them(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    await set_password(client, tenant_a, tenant_a.staff_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    page = await client.get("/account/keys")
    assert page.status_code == 200 and "Your API keys" in page.text
    assert 'value="admin"' not in page.text  # only uses the person has are offered
    created = await client.post(
        "/account/keys", data={"csrf_token": form_token(page.text), "name": "my sheet", "scopes": ["inference"]}
    )
    assert created.status_code == 201
    shown = re.search(r'id="new-key-value"[^>]*>\s*([^<\s]+)', created.text)
    assert shown is not None
    me = await client.get("/admin/me", headers={"Authorization": f"Bearer {shown.group(1)}"})
    assert me.json()["id"] == tenant_a.staff_id
    # a key a platform administrator made for this person is on their page, marked
    await client.post(
        "/admin/keys",
        headers={"Authorization": f"Bearer {platform_key}"},
        json={"name": "made for you", "user_id": tenant_a.staff_id},
    )
    listed = await client.get("/account/keys")
    assert "made for you" in listed.text and "created for you by a platform administrator" in listed.text
    assert shown.group(1) not in listed.text
    # the console offers administrators service accounts only: no one else's name on a key
    await set_password(client, tenant_a, tenant_a.admin_id)
    client.cookies.clear()
    await sign_in(client, f"org_admin@{tenant_a.slug}.example")
    console = await client.get("/console/keys")
    assert f'value="{tenant_a.service_account_id}"' in console.text
    assert f'value="{tenant_a.staff_id}"' not in console.text


async def test_your_keys_page_reaches_no_one_elses_keys(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    await set_password(client, tenant_a, tenant_a.staff_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    page = await client.get("/account/keys")
    assert tenant_b.staff_key_id not in page.text and tenant_a.admin_key_id not in page.text
    token = form_token(page.text)
    for other in (tenant_b.staff_key_id, tenant_a.admin_key_id):  # another organisation's, a colleague's
        refused = await client.post(f"/account/keys/{other}/revoke", data={"csrf_token": token})
        assert refused.status_code in (403, 404)
    assert (await client.get("/admin/me", headers=tenant_b.headers("staff"))).status_code == 200
    assert (await client.get("/admin/me", headers=tenant_a.headers())).status_code == 200
    # and nobody signed out gets the page at all
    client.cookies.clear()
    assert (await client.get("/account/keys")).status_code == 303


async def test_console_people_add_change_role_and_deactivate(
    client: httpx.AsyncClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    await set_password(client, tenant_a, tenant_a.admin_id)
    await sign_in(client, f"org_admin@{tenant_a.slug}.example")
    page = await client.get("/console/people")
    assert page.status_code == 200
    assert f"staff@{tenant_a.slug}.example" in page.text and f"staff@{tenant_b.slug}.example" not in page.text
    assert "Platform administrator" not in page.text  # not a role an organisation administrator can give
    token = form_token(page.text)
    added = await client.post(
        "/console/people",
        data={
            "csrf_token": token,
            "org_id": tenant_a.org_id,
            "email": "new.person@agency-a.example",
            "display_name": "New Person",
            "role": "auditor",
            "password": PASSWORD,
        },
    )
    assert added.status_code == 303
    listing = await client.get("/console/people")
    assert "new.person@agency-a.example" in listing.text
    users = (await client.get("/admin/users", headers=tenant_a.headers())).json()["data"]
    person = next(u for u in users if u["email"] == "new.person@agency-a.example")
    assert person["role"] == "auditor"
    await client.post(f"/console/people/{person['id']}", data={"csrf_token": token, "role": "staff"})
    await client.post(f"/console/people/{person['id']}", data={"csrf_token": token, "active": "false"})
    changed = (await client.get(f"/admin/users/{person['id']}", headers=tenant_a.headers())).json()
    assert (changed["role"], changed["is_active"]) == ("staff", False)
    # another organisation's user cannot be changed from here
    other = await client.post(f"/console/people/{tenant_b.staff_id}", data={"csrf_token": token, "active": "false"})
    assert other.status_code == 404
    untouched = await client.get(f"/admin/users/{tenant_b.staff_id}", headers=tenant_b.headers())
    assert untouched.json()["is_active"] is True
    # organisations: one within yours, not at the top level; deactivate it, never another tenant's
    assert "top-level organisation" not in listing.text  # only platform administrators add those
    form = {"csrf_token": token, "name": "Parks Department", "slug": "parks-a", "kind": "agency"}
    top = await client.post("/console/organisations", data=form)
    assert top.status_code == 403
    bad = await client.post("/console/organisations", data={**form, "parent_id": tenant_a.org_id, "slug": "Parks A"})
    assert bad.status_code == 400 and "lower-case letters" in bad.text
    made = await client.post("/console/organisations", data={**form, "parent_id": tenant_a.org_id})
    assert made.status_code == 303
    orgs = (await client.get("/admin/organisations", headers=tenant_a.headers())).json()["data"]
    parks = next(o for o in orgs if o["slug"] == "parks-a")
    assert (parks["parent_id"], parks["kind"], parks["is_active"]) == (tenant_a.org_id, "agency", True)
    assert "Parks Department" in (await client.get("/console/people")).text
    off = await client.post(f"/console/organisations/{parks['id']}", data={"csrf_token": token, "active": "false"})
    assert off.status_code == 303
    parks_now = await client.get(f"/admin/organisations/{parks['id']}", headers=tenant_a.headers())
    assert parks_now.json()["is_active"] is False
    deactivate = {"csrf_token": token, "active": "false"}
    assert (await client.post(f"/console/organisations/{tenant_b.org_id}", data=deactivate)).status_code == 404
    assert (await client.get(f"/admin/organisations/{tenant_b.org_id}", headers=tenant_b.headers())).json()["is_active"]


async def test_console_models_show_where_models_run_and_switch_deployments(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    await set_password(client, tenant_a, tenant_a.admin_id)
    await sign_in(client, f"org_admin@{tenant_a.slug}.example")
    page = await client.get("/console/models")
    assert page.status_code == 200
    assert "mock-chat" in page.text and "on the administration's own servers" in html.unescape(page.text)
    assert "Switch off" not in page.text  # deployments are the platform administrators' business
    # a platform administrator switches a deployment added in the admin API
    ops = {"Authorization": f"Bearer {platform_key}"}
    created = await client.post("/admin/models/deployments", headers=ops, json={"alias": "extra", "provider": "mock"})
    assert created.status_code == 201, created.text
    me = (await client.get("/admin/me", headers=ops)).json()
    await client.patch(f"/admin/users/{me['id']}", headers=ops, json={"password": PASSWORD})
    client.cookies.clear()
    await sign_in(client, "ops@platform.example")
    listing = await client.get("/console/models")
    assert "Switch off" in listing.text
    csrf = form_token(listing.text)
    switched = await client.post(
        f"/console/models/deployments/{created.json()['id']}", data={"csrf_token": csrf, "enabled": "false"}
    )
    assert switched.status_code == 303
    states = (await client.get("/admin/models/deployments", headers=ops)).json()
    assert next(d for d in states if d["id"] == created.json()["id"])["enabled"] is False


async def test_console_forms_add_deployments_and_set_quotas_and_priorities(
    client: httpx.AsyncClient, tenant_a: Tenant, platform_key: str
) -> None:
    ops = {"Authorization": f"Bearer {platform_key}"}
    me = (await client.get("/admin/me", headers=ops)).json()
    await client.patch(f"/admin/users/{me['id']}", headers=ops, json={"password": PASSWORD})
    await sign_in(client, "ops@platform.example")
    page = (await client.get("/console/models")).text
    assert "Add a deployment" in page
    form = {
        "csrf_token": form_token(page),
        "alias": "city-llm",
        "provider": "mock",
        "sovereignty": "national_cloud",
        "capabilities": "chat",
        "max_concurrency": "0",  # not allowed: the page says which field, keeps what was typed
    }
    refused = await client.post("/console/models/deployments", data=form)
    assert refused.status_code == 422 and "max_concurrency" in refused.text
    assert 'value="city-llm"' in refused.text
    added = await client.post("/console/models/deployments", data={**form, "max_concurrency": "8"})
    assert added.status_code == 303 and added.headers["location"] == "/console/models?done=added"
    models = (await client.get("/v1/models", headers=tenant_a.headers("staff"))).json()["data"]
    assert "city-llm" in [m["id"] for m in models]  # serving at once
    stored = [d for d in (await client.get("/admin/models/deployments", headers=ops)).json() if d["source"] == "admin"]
    assert [(d["config"]["sovereignty"], d["config"]["max_concurrency"]) for d in stored] == [("national_cloud", 8)]
    again = await client.post("/console/models/deployments", data={**form, "max_concurrency": "8"})
    assert again.status_code == 409 and "already exists" in again.text
    removed = await client.post(
        f"/console/models/deployments/{stored[0]['id']}/delete", data={"csrf_token": form_token(page)}
    )
    assert removed.status_code == 303
    assert "city-llm" not in [
        m["id"] for m in (await client.get("/v1/models", headers=tenant_a.headers("staff"))).json()["data"]
    ]
    audit = await client.get("/admin/audit", params={"action": "model_deployment."}, headers=ops)
    assert [e["action"] for e in audit.json()["data"]] == ["model_deployment.delete", "model_deployment.create"]
    parent_set = await client.put(
        f"/admin/quotas/organisations/{tenant_a.org_id}", headers=ops, json={"requests_per_minute": 1000}
    )
    assert parent_set.status_code == 200, parent_set.text
    # an organisation's administrator sets quotas for its keys, creates keys with a priority class,
    # but adds no deployments and neither sets nor removes its own organisation's quota
    client.cookies.clear()
    await set_password(client, tenant_a, tenant_a.admin_id)
    await sign_in(client, f"org_admin@{tenant_a.slug}.example")
    page = (await client.get("/console/models")).text
    assert "Add a deployment" not in page and f"organisation:{tenant_a.org_id}" not in page
    token = form_token(page)
    sneaked = await client.post("/console/models/deployments", data={**form, "csrf_token": token})
    assert sneaked.status_code == 403
    quota = {"csrf_token": token, "subject": f"api_key:{tenant_a.staff_key_id}", "requests_per_minute": "2"}
    assert (await client.post("/console/models/quotas", data={**quota, "tokens_per_day": "-5"})).status_code == 422
    assert (await client.post("/console/models/quotas", data=quota)).status_code == 303
    statuses = [
        (
            await client.post(
                "/v1/chat/completions",
                headers=tenant_a.headers("staff"),
                json={"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]},
            )
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]  # the quota holds from the next request
    own = await client.post("/console/models/quotas", data={**quota, "subject": f"organisation:{tenant_a.org_id}"})
    assert own.status_code == 403 and "organisation above it" in own.text
    kept = await client.post(
        f"/console/models/quotas/organisation/{tenant_a.org_id}/delete", data={"csrf_token": token}
    )
    assert kept.status_code == 403
    assert f"/console/models/quotas/organisation/{tenant_a.org_id}/delete" not in page  # no button for it
    cleared = await client.post(
        f"/console/models/quotas/api_key/{tenant_a.staff_key_id}/delete", data={"csrf_token": token}
    )
    assert cleared.status_code == 303
    keys_page = (await client.get("/console/keys")).text
    created = await client.post(
        "/console/keys",
        data={
            "csrf_token": token,
            "name": "emergency line",
            "owner": tenant_a.service_account_id,
            "priority": "critical",
        },
    )
    assert created.status_code == 201 and "Critical (public services first)" in created.text
    listed = (await client.get("/admin/keys", headers=tenant_a.headers())).json()["data"]
    assert next(k for k in listed if k["name"] == "emergency line")["priority"] == "critical"
    assert "Priority when a model is at capacity" in keys_page


async def test_an_ended_session_sends_a_form_to_sign_in_and_pages_forbid_inline_scripts(
    client: httpx.AsyncClient, tenant_a: Tenant
) -> None:
    await set_password(client, tenant_a, tenant_a.staff_id)
    await sign_in(client, f"staff@{tenant_a.slug}.example")
    page = await client.get("/staff/chat")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy and "object-src 'none'" in policy
    client.cookies.set("soberana_session", "a-session-that-has-ended")
    form = {"csrf_token": form_token(page.text), "conversation": "wsc_x"}
    # the form's page is where the person comes back to after signing in (its address answers POST only)
    posted = await client.post(
        "/staff/chat/delete", data=form, headers={"Referer": "http://soberana.test/staff/chat?c=wsc_x"}
    )
    assert posted.status_code == 303 and posted.headers["location"] == "/sign-in?next=/staff/chat%3Fc%3Dwsc_x"
    elsewhere = await client.post("/staff/chat/delete", data=form, headers={"Referer": "https://evil.example/x"})
    assert elsewhere.headers["location"] == "/sign-in?next=/staff/cases"
