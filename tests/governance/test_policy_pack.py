"""The AI usage policy written from an organisation's facts: the Word document read back with python-docx,
the HTML parsed with the standard library's parser, the hash and the list of changes between versions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import json
from html.parser import HTMLParser

import docx
import pytest
from docx.oxml.ns import qn
from docx.table import Table
from markupsafe import escape

from soberana.governance.incidents import REPORT_DAYS
from soberana.governance.policy_pack import (
    LANGUAGES,
    AllowedModel,
    PolicyFacts,
    Protection,
    Retention,
    TrainingDuty,
    UseCase,
    canonical,
    changes,
    digest,
    render_docx,
    render_html,
)
from soberana.governance.policy_pack import (
    REPORT_DAYS as POLICY_REPORT_DAYS,
)
from soberana.governance.policy_texts import TEXTS

HOSTILE = "<script>alert('x')</script>"
MODELS = (
    AllowedModel("secret", "local-chat", "local-chat@llamacpp", "on_premises"),
    AllowedModel("public", "gpt-4o-mini", "gpt-4o-mini@azure", "foreign_cloud", "Microsoft"),
    AllowedModel("confidential", "mistral-small", "mistral-small@scaleway", "national_cloud", "Scaleway"),
)
PROTECTION = (
    Protection("public", "detect"),
    Protection("internal", "pseudonymise"),
    Protection("confidential", "pseudonymise"),
    Protection("secret", "block"),
)
USE_CASES = (
    UseCase("Benefit letters assistant", "live", "minimal", "Director of Housing", dt.date(2026, 9, 30)),
    UseCase("Meeting minutes", "approved", "transparency", "Head of Secretariat"),
)
FACTS = PolicyFacts(
    organisation="City of Example",
    slug="example",
    generated=dt.date(2026, 3, 1),
    retention=Retention(usage_days=400, citizen_conversation_days=30, staff_conversation_days=90, vault_hours=24),
    incident_contact="ai-incidents@example.org",
    models=MODELS,
    protection=PROTECTION,
    use_cases=USE_CASES,
    training=(TrainingDuty("AI basics", "All staff who use AI"),),
)


class Outline(HTMLParser):
    """The tags of an HTML fragment, the text of each heading and caption, and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[tuple[int, str]] = []
        self.captions: list[str] = []
        self._open: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in {"h1", "h2", "h3", "caption"}:
            self._open, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            text = "".join(self._text)
            if tag == "caption":
                self.captions.append(text)
            else:
                self.headings.append((int(tag[1]), text))
            self._open = None


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    parser.close()
    return parser


def word(facts: PolicyFacts, language: str) -> docx.document.Document:
    return docx.Document(io.BytesIO(render_docx(facts, language)))


def cells(table: Table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def table_headed(document: docx.document.Document, columns: tuple[str, ...]) -> list[list[str]]:
    found = [cells(t) for t in document.tables if cells(t)[0] == list(columns)]
    assert len(found) == 1, f"one table headed {columns}"
    return found[0]


# -- the Word document ---------------------------------------------------------------------------------------


def test_docx_opens_again_with_the_allowed_models_in_a_table() -> None:
    document = word(FACTS, "en")
    rows = table_headed(document, ("Classification", "Model", "Deployment", "Where it runs", "Supplier"))
    # least sensitive first, in the order of the personal-data rules; a missing supplier is said to be none
    assert rows[1:] == [
        ["Public", "gpt-4o-mini", "gpt-4o-mini@azure", "In a foreign cloud", "Microsoft"],
        ["Confidential", "mistral-small", "mistral-small@scaleway", "In a national cloud", "Scaleway"],
        ["Secret", "local-chat", "local-chat@llamacpp", "On the administration's own servers", "none"],
    ]
    header = document.tables[0].rows[0]._tr
    assert header.trPr is not None and header.trPr.find(qn("w:tblHeader")) is not None


def test_docx_has_use_case_and_retention_tables_headings_and_properties() -> None:
    document = word(FACTS, "es")
    texts = TEXTS["es"]
    assert table_headed(document, texts.retention_columns)[1:] == [
        [texts.retention_rows[0], "400 días"],
        [texts.retention_rows[1], "30 días"],
        [texts.retention_rows[2], "90 días"],
        [texts.retention_rows[3], "24 horas"],
    ]
    assert table_headed(document, texts.use_cases_columns)[1:] == [
        [
            "Benefit letters assistant",
            "En producción",
            "Riesgo mínimo",
            "Director of Housing",
            "30 de septiembre de 2026",
        ],
        ["Meeting minutes", "Aprobado", "Obligaciones de transparencia", "Head of Secretariat", "Sin fecha"],
    ]
    headings = [(p.style.name, p.text) for p in document.paragraphs if p.style and p.style.name.startswith("Heading")]
    assert headings[0] == ("Heading 1", "Política de uso de la inteligencia artificial — City of Example")
    assert ("Heading 2", "Modelos autorizados") in headings
    assert ("Heading 2", "Comunicación de incidentes") in headings
    assert document.core_properties.title == "Política de uso de la inteligencia artificial — City of Example"
    assert document.core_properties.language == "es-ES"


def test_docx_keeps_hostile_text_as_text_and_says_no_training_is_required() -> None:
    facts = dataclasses.replace(FACTS, organisation=HOSTILE, training=())
    document = word(facts, "en")
    assert document.core_properties.title == f"AI usage policy — {HOSTILE}"
    texts = [p.text for p in document.paragraphs]
    assert "No training is required yet." in texts
    assert not any(cells(t)[0] == list(TEXTS["en"].training_columns) for t in document.tables)


# -- the HTML ------------------------------------------------------------------------------------------------


def test_html_escapes_hostile_names_and_links_no_script() -> None:
    facts = dataclasses.replace(
        FACTS,
        organisation=HOSTILE,
        models=(AllowedModel("public", HOSTILE, "x@y", "on_premises", '"><img src=x onerror=alert(1)>'),),
        incident_contact="javascript:alert(1)",
    )
    html = render_html(facts, "en")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    parsed = outline(html)
    assert not any(tag == "a" for tag, _ in parsed.tags)  # a javascript: contact is shown, never linked
    assert parsed.headings[0] == (1, f"AI usage policy — {HOSTILE}")


def test_html_is_one_article_with_lang_captions_and_headers() -> None:
    html = render_html(FACTS, "is")
    parsed = outline(html)
    root, attrs = parsed.tags[0]
    assert root == "article" and attrs["lang"] == "is"
    tables = [tag for tag, _ in parsed.tags if tag == "table"]
    assert len(tables) == 5  # models, personal data, retention, use cases, training
    assert len(parsed.captions) == len(tables) and all(parsed.captions)
    assert "Leyfð líkön eftir gagnaflokkum" in parsed.captions
    scopes = [attrs.get("scope") for tag, attrs in parsed.tags if tag == "th"]
    assert scopes and set(scopes) == {"col", "row"}
    # headings go down one level at a time
    levels = [level for level, _ in parsed.headings]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in itertools.pairwise(levels))
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert links == ["mailto:ai-incidents@example.org"]


def test_languages_have_their_own_headings() -> None:
    headings = {
        language: [text for _, text in outline(render_html(FACTS, language)).headings] for language in LANGUAGES
    }
    assert set(headings) == {"en", "es", "is"}
    assert len({tuple(h) for h in headings.values()}) == 3
    assert "Approved use cases" in headings["en"]
    assert "Casos de uso aprobados" in headings["es"]
    assert "Samþykkt notkunartilvik" in headings["is"]
    assert all(len(h) == len(headings["en"]) for h in headings.values())
    for language in LANGUAGES:
        assert outline(render_html(FACTS, language)).tags[0][1]["lang"] == language


def test_empty_sections_say_so_and_unknown_values_are_shown_as_they_are() -> None:
    facts = dataclasses.replace(
        FACTS,
        models=(AllowedModel("restricted", "m", "m@x", "orbit"),),
        protection=(Protection("restricted", "shuffle"),),
        use_cases=(),
        training=(),
        retention=Retention(None, 30, 30, None),
    )
    html = render_html(facts, "en")
    assert "No training is required yet." in html
    assert "No use case has been approved yet." in html
    assert "<td>orbit</td>" in html and "shuffle" in html and escape(TEXTS["en"].unknown_mode) in html
    assert html.count("Kept indefinitely") == 2


def test_incident_deadlines_are_the_ai_acts_in_every_language() -> None:
    assert dict(POLICY_REPORT_DAYS) == REPORT_DAYS
    for language in LANGUAGES:
        deadlines = TEXTS[language].deadlines
        for text, days in zip(deadlines, (15, 10, 2), strict=True):
            assert f" {days} " in text
        assert "73" in TEXTS[language].deadlines_intro


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="language"):
        render_html(FACTS, "fr")
    with pytest.raises(ValueError, match="language"):
        digest(FACTS, "fr")


# -- hash and changes ----------------------------------------------------------------------------------------


def test_digest_ignores_the_date_and_row_order_but_not_a_retention_period() -> None:
    later = dataclasses.replace(FACTS, generated=dt.date(2027, 1, 15), models=tuple(reversed(MODELS)))
    assert digest(later, "en") == digest(FACTS, "en")
    assert "2026-03-01" not in canonical(FACTS, "en").decode()
    data = json.loads(canonical(FACTS, "en"))
    assert data["retention"]["citizen_conversation_days"] == 30 and data["language"] == "en"
    shorter = dataclasses.replace(FACTS, retention=dataclasses.replace(FACTS.retention, citizen_conversation_days=10))
    assert digest(shorter, "en") != digest(FACTS, "en")
    assert digest(FACTS, "es") != digest(FACTS, "en")
    assert len(digest(FACTS, "en")) == 64


def test_changes_reports_an_added_model_a_shorter_retention_and_a_removed_use_case() -> None:
    current = dataclasses.replace(
        FACTS,
        generated=dt.date(2026, 6, 1),
        models=(*MODELS, AllowedModel("confidential", "local-chat", "local-chat@llamacpp", "on_premises")),
        retention=dataclasses.replace(FACTS.retention, citizen_conversation_days=10),
        use_cases=USE_CASES[:1],
    )
    found = changes(FACTS, current)
    assert [(c.section, c.kind, c.subject) for c in found] == [
        ("models", "added", 'model "local-chat" (local-chat@llamacpp) for confidential data'),
        ("retention", "changed", "Conversations with the public"),
        ("use_cases", "removed", 'use case "Meeting minutes"'),
    ]
    retention = found[1]
    assert (retention.before, retention.after) == ("30 days", "10 days")
    assert "30 days → 10 days" in retention.description
    assert "on_premises" in found[0].description


def test_changes_is_empty_for_the_same_facts_and_names_a_retired_use_case() -> None:
    assert changes(FACTS, dataclasses.replace(FACTS, generated=dt.date(2030, 1, 1))) == []
    retired = dataclasses.replace(FACTS, use_cases=(dataclasses.replace(USE_CASES[0], status="retired"), USE_CASES[1]))
    [change] = changes(FACTS, retired)
    assert (change.section, change.kind, change.before, change.after) == ("use_cases", "changed", "live", "retired")


def test_changes_from_nothing_adds_everything_in_a_fixed_order() -> None:
    first = changes(None, FACTS)
    assert {c.kind for c in first} == {"added"}
    sections = [c.section for c in first]
    assert sections == sorted(
        sections, key=["organisation", "models", "protection", "retention", "use_cases", "training", "incidents"].index
    )
    assert len([c for c in first if c.section == "models"]) == 3
    assert first == changes(None, dataclasses.replace(FACTS, models=tuple(reversed(MODELS))))


def test_reordered_levels_are_a_change() -> None:
    swapped = dataclasses.replace(FACTS, protection=(PROTECTION[1], PROTECTION[0], *PROTECTION[2:]))
    [change] = changes(FACTS, swapped)
    assert change.section == "protection" and change.before == "public, internal, confidential, secret"


def test_duplicates_and_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        dataclasses.replace(FACTS, use_cases=(USE_CASES[0], USE_CASES[0]))
    with pytest.raises(ValueError, match="twice"):
        dataclasses.replace(FACTS, models=(MODELS[0], MODELS[0]))
    with pytest.raises(ValueError, match="retention"):
        Retention(-1, None, None, None)
