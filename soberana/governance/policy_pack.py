"""The organisation's AI usage policy (the "policy pack"), written from its live configuration.

A service gathers the facts (the models allowed for each data classification, the personal-data modes, the
retention periods, the approved use cases, the training duties, where to report an incident) into a
:class:`PolicyFacts`; this module, with no storage, turns them into the policy in English, Spanish or
Icelandic as accessible HTML (:func:`render_html`) or a Word document (:func:`render_docx`), gives the
facts a canonical form and hash so that each approved version can be kept and compared
(:func:`canonical`, :func:`digest`), and lists what changed since the last approved version
(:func:`changes`).

Both renderings are drawn from one list of blocks (headings, paragraphs, lists, tables), so that they say
the same. The fixed text is in :mod:`soberana.governance.policy_texts`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from babel.dates import format_date
from babel.units import format_unit
from markupsafe import Markup

from soberana.governance.policy_texts import TEXTS, Texts

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.text.paragraph import Paragraph

#: The policy's languages.
LANGUAGES: tuple[str, ...] = tuple(TEXTS)
#: Bumped when the canonical form changes shape (an old hash then no longer matches, on purpose).
FORMAT = 1
#: Days to report a serious incident to the market surveillance authority (EU AI Act Art. 73(2)-(4)); the
#: policy's fixed text says the same in each language.
REPORT_DAYS: Mapping[str, int] = MappingProxyType(
    {"other": 15, "death": 10, "widespread_or_critical_infrastructure": 2}
)
#: Classification levels in the platform's default order (least sensitive first), for levels the facts'
#: personal-data rules do not order.
DEFAULT_LEVELS = ("public", "internal", "confidential", "secret")
#: The Word document's language (Soberana writes British English).
WORD_LANGUAGE: Mapping[str, str] = MappingProxyType({"en": "en-GB", "es": "es-ES", "is": "is-IS"})

Kind = Literal["added", "removed", "changed"]
#: The sections :func:`changes` reports on, in the order it reports them.
SECTIONS = ("organisation", "models", "protection", "retention", "use_cases", "training", "incidents")


# -- the facts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedModel:
    """A model alias allowed for data of one classification, through one deployment."""

    classification: str
    alias: str
    deployment: str
    sovereignty: str  # where it runs: "on_premises", "national_cloud", "foreign_cloud", or the installation's own
    supplier: str | None = None


@dataclass(frozen=True)
class Protection:
    """The personal-data mode of one classification ("off", "detect", "pseudonymise", "redact", "block"...)."""

    classification: str
    mode: str


@dataclass(frozen=True)
class Retention:
    """How long records are kept; None is for ever."""

    usage_days: int | None
    citizen_conversation_days: int | None
    staff_conversation_days: int | None
    vault_hours: int | None

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"retention {item.name} must be a whole number of 0 or more, or None")


@dataclass(frozen=True)
class UseCase:
    """An approved use case as the policy lists it (the register's name is unique in an organisation)."""

    name: str
    status: str
    risk_group: str
    senior_responsible_owner: str
    review_date: dt.date | None = None


@dataclass(frozen=True)
class TrainingDuty:
    """A course that staff must take, and who must take it."""

    course: str
    audience: str


@dataclass(frozen=True)
class PolicyFacts:
    """Everything the policy says about one organisation. ``protection`` lists the classification levels
    least sensitive first (the allowed models are shown in that order); lists given as lists become tuples."""

    organisation: str
    slug: str
    generated: dt.date
    retention: Retention
    incident_contact: str  # an e-mail address or a URL
    models: tuple[AllowedModel, ...] = ()
    protection: tuple[Protection, ...] = ()
    use_cases: tuple[UseCase, ...] = ()
    training: tuple[TrainingDuty, ...] = ()

    def __post_init__(self) -> None:
        for name in ("models", "protection", "use_cases", "training"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _unique("allowed model", ((m.classification, m.alias, m.deployment) for m in self.models))
        _unique("classification", (p.classification for p in self.protection))
        _unique("use case", (u.name for u in self.use_cases))
        _unique("training course", (t.course for t in self.training))


def _unique(what: str, keys: Iterable[object]) -> None:
    seen: set[object] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what} {key!r} is listed twice")
        seen.add(key)


@dataclass(frozen=True)
class Change:
    """One difference between two versions of the facts; ``description`` is English, ``before`` and
    ``after`` the values as written in the configuration (None where there is none)."""

    section: str
    kind: Kind
    subject: str
    description: str
    before: str | None = None
    after: str | None = None


# -- helpers -----------------------------------------------------------------------------------------------


def _texts(language: str) -> Texts:
    try:
        return TEXTS[language]
    except KeyError:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}") from None


def _levels(facts: PolicyFacts) -> dict[str, int]:
    """Each classification's rank: the facts' own order, then the default order."""
    order = [p.classification for p in facts.protection]
    order += [level for level in DEFAULT_LEVELS if level not in order]
    return {level: i for i, level in enumerate(order)}


def _sorted_models(facts: PolicyFacts) -> list[AllowedModel]:
    rank = _levels(facts)
    return sorted(
        facts.models, key=lambda m: (rank.get(m.classification, len(rank)), m.classification, m.alias, m.deployment)
    )


def _period(value: int | None, unit: str, texts: Texts) -> str:
    return texts.forever if value is None else str(format_unit(value, unit, length="long", locale=texts.locale))


def _date(value: dt.date, texts: Texts) -> str:
    return format_date(value, format="long", locale=texts.locale)


def _href(contact: str) -> str | None:
    """A link for the incident contact: web addresses and e-mail addresses only (never ``javascript:``)."""
    value = contact.strip()
    if not value or any(ch.isspace() or ch in '<>"' for ch in value):
        return None
    lower = value.lower()
    if lower.startswith(("https://", "http://", "mailto:")):
        return value
    if "@" in value and not any(ch in ":/\\" for ch in value):
        return f"mailto:{value}"
    return None


# -- the document, once for both renderings ---------------------------------------------------------------


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class _Text:
    text: str
    contact: str | None = None  # shown after the text, as a link where it is one


@dataclass(frozen=True)
class _Items:
    items: tuple[str, ...]


@dataclass(frozen=True)
class _Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


_Block = _Heading | _Text | _Items | _Table


def _section(texts: Texts, name: str, rows: tuple[tuple[str, ...], ...]) -> list[_Block]:
    """Section ``name`` (``models``, ``privacy``...): its heading, then its introduction and table, or the
    sentence saying there is nothing to list."""
    table = _Table(getattr(texts, f"{name}_caption"), getattr(texts, f"{name}_columns"), rows)
    body = (_Text(getattr(texts, f"{name}_intro")), table) if rows else (_Text(getattr(texts, f"no_{name}")),)
    return [_Heading(2, getattr(texts, f"{name}_heading")), *body]


def _document(facts: PolicyFacts, texts: Texts) -> list[_Block]:
    """The policy as a list of blocks, in one language."""
    values = {"organisation": facts.organisation, "slug": facts.slug, "date": _date(facts.generated, texts)}
    level, kept = texts.classifications.get, facts.retention
    models = tuple(
        (
            level(m.classification, m.classification),
            m.alias,
            m.deployment,
            texts.sovereignty.get(m.sovereignty, m.sovereignty),
            m.supplier or texts.no_supplier,
        )
        for m in _sorted_models(facts)
    )
    modes = tuple(
        (level(p.classification, p.classification), *texts.modes.get(p.mode, (p.mode, texts.unknown_mode)))
        for p in facts.protection
    )
    days = [_period(n, "duration-day", texts) for n in (kept.usage_days, kept.citizen_conversation_days)]
    days += [_period(kept.staff_conversation_days, "duration-day", texts)]
    periods = tuple(zip(texts.retention_rows, (*days, _period(kept.vault_hours, "duration-hour", texts)), strict=True))
    cases = tuple(
        (
            u.name,
            texts.statuses.get(u.status, u.status),
            texts.risk_groups.get(u.risk_group, u.risk_group),
            u.senior_responsible_owner or "—",
            _date(u.review_date, texts) if u.review_date else texts.no_review_date,
        )
        for u in sorted(facts.use_cases, key=lambda u: u.name)
    )
    duties = tuple((t.course, t.audience) for t in sorted(facts.training, key=lambda t: t.course))
    return [
        _Heading(1, f"{texts.title} — {facts.organisation}"),
        _Text(texts.generated.format(**values)),
        _Heading(2, texts.purpose_heading),
        *(_Text(paragraph.format(**values)) for paragraph in texts.purpose),
        _Heading(2, texts.rules_heading),
        *(_Heading(3, texts.may_heading), _Items(texts.may), _Heading(3, texts.must_heading), _Items(texts.must)),
        *(_Heading(3, texts.must_not_heading), _Items(texts.must_not)),
        *_section(texts, "models", models),
        *_section(texts, "privacy", modes),
        *_section(texts, "retention", periods),
        *_section(texts, "use_cases", cases),
        *_section(texts, "training", duties),
        _Heading(2, texts.incidents_heading),
        _Text(texts.incidents_intro, contact=facts.incident_contact),
        *(_Text(texts.deadlines_intro), _Items(texts.deadlines), _Text(texts.incidents_closing)),
    ]


# -- HTML --------------------------------------------------------------------------------------------------


def _html(block: _Block) -> Markup:
    """One block as HTML; every value goes through ``Markup.format``, which escapes it."""
    if isinstance(block, _Heading):
        return Markup("<h{0}>{1}</h{0}>").format(block.level, block.text)
    if isinstance(block, _Text):
        if block.contact is None:
            return Markup("<p>{}</p>").format(block.text)
        href = _href(block.contact)
        if href is None:
            return Markup("<p>{} <strong>{}</strong></p>").format(block.text, block.contact)
        return Markup('<p>{} <a href="{}">{}</a></p>').format(block.text, href, block.contact)
    if isinstance(block, _Items):
        items = Markup("").join(Markup("<li>{}</li>").format(item) for item in block.items)
        return Markup("<ul>{}</ul>").format(items)
    head = Markup("").join(Markup('<th scope="col">{}</th>').format(column) for column in block.columns)
    body = Markup("\n").join(
        Markup('<tr><th scope="row">{}</th>{}</tr>').format(
            row[0], Markup("").join(Markup("<td>{}</td>").format(cell) for cell in row[1:])
        )
        for row in block.rows
    )
    return Markup("<table>\n<caption>{}</caption>\n<thead><tr>{}</tr></thead>\n<tbody>\n{}\n</tbody>\n</table>").format(
        block.caption, head, body
    )


def render_html(facts: PolicyFacts, language: str) -> str:
    """The policy as an HTML fragment (an ``<article>`` with its ``lang``), every value escaped."""
    texts = _texts(language)
    parts = [Markup('<article class="policy-pack" lang="{}">').format(language)]
    parts += [_html(block) for block in _document(facts, texts)]
    parts.append(Markup("</article>\n"))
    return str(Markup("\n").join(parts))


# -- Word --------------------------------------------------------------------------------------------------


def _set_language(document: WordDocument, tag: str) -> None:
    """Set the language of the document's text (spelling, reading aloud) in its default run properties."""
    from docx.oxml.ns import qn

    defaults = document.styles.element.find(qn("w:docDefaults"))
    lang = None if defaults is None else defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:lang')}")
    if lang is not None:
        lang.set(qn("w:val"), tag)


def _add_link(paragraph: Paragraph, text: str, href: str) -> None:
    """A real hyperlink run (python-docx has no call for one)."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    link = OxmlElement("w:hyperlink", {qn("r:id"): paragraph.part.relate_to(href, RELATIONSHIP_TYPE.HYPERLINK, True)})
    run = OxmlElement("w:r")
    properties = OxmlElement("w:rPr")
    properties.append(OxmlElement("w:color", {qn("w:val"): "0563C1"}))
    properties.append(OxmlElement("w:u", {qn("w:val"): "single"}))
    run.append(properties)
    words = OxmlElement("w:t", {qn("xml:space"): "preserve"})
    words.text = text
    run.append(words)
    link.append(run)
    paragraph._p.append(link)


def _add_table(document: WordDocument, block: _Table) -> None:
    """A caption, then a table whose first row is a header row (repeated on each page, read as headers)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document.add_paragraph(block.caption, style="Caption")
    table = document.add_table(rows=1, cols=len(block.columns))
    table.style = "Table Grid"
    table._tbl.tblPr.append(OxmlElement("w:tblCaption", {qn("w:val"): block.caption}))
    header = table.rows[0]
    header._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    for cell, column in zip(header.cells, block.columns, strict=True):
        cell.paragraphs[0].add_run(column).bold = True
    for row in block.rows:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = value


def render_docx(facts: PolicyFacts, language: str) -> bytes:
    """The policy as a Word document: headings in heading styles, tables with a header row, and the title
    and language in the document's properties."""
    from docx import Document

    texts = _texts(language)
    document = Document()
    properties = document.core_properties
    properties.title = f"{texts.title} — {facts.organisation}"
    properties.subject = texts.title
    properties.author = facts.organisation
    properties.comments = ""
    properties.language = WORD_LANGUAGE[language]
    properties.created = properties.modified = dt.datetime.combine(facts.generated, dt.time())
    _set_language(document, WORD_LANGUAGE[language])
    for block in _document(facts, texts):
        if isinstance(block, _Heading):
            document.add_heading(block.text, level=block.level)
        elif isinstance(block, _Text):
            paragraph = document.add_paragraph(block.text)
            if block.contact is not None:
                paragraph.add_run(" ")
                href = _href(block.contact)
                if href is None:
                    paragraph.add_run(block.contact).bold = True
                else:
                    _add_link(paragraph, block.contact, href)
        elif isinstance(block, _Items):
            for item in block.items:
                document.add_paragraph(item, style="List Bullet")
        else:
            _add_table(document, block)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# -- canonical form and hash -------------------------------------------------------------------------------


def _wording(texts: Texts) -> str:
    """A fingerprint of the fixed text, so that a new wording is a new version of the policy."""
    values = {f.name: getattr(texts, f.name) for f in dataclasses.fields(texts)}
    plain = json.dumps(values, sort_keys=True, ensure_ascii=False, default=dict)
    return hashlib.sha256(plain.encode()).hexdigest()[:16]


def _plain(facts: PolicyFacts) -> dict[str, Any]:
    """The facts as JSON values in a stable order, without the generation date."""
    return {
        "organisation": {"name": facts.organisation, "slug": facts.slug},
        "models": [dataclasses.asdict(m) for m in _sorted_models(facts)],
        "protection": [dataclasses.asdict(p) for p in facts.protection],  # the order of levels is configuration
        "retention": dataclasses.asdict(facts.retention),
        "use_cases": [
            {**dataclasses.asdict(u), "review_date": u.review_date.isoformat() if u.review_date else None}
            for u in sorted(facts.use_cases, key=lambda u: u.name)
        ],
        "training": [dataclasses.asdict(t) for t in sorted(facts.training, key=lambda t: t.course)],
        "incident_contact": facts.incident_contact,
    }


def canonical(facts: PolicyFacts, language: str) -> bytes:
    """The policy's canonical JSON (UTF-8, sorted keys, no spaces): the facts without the generation date,
    the language, and a fingerprint of the language's fixed text; equal configurations give equal bytes."""
    data = {"format": FORMAT, "language": language, "wording": _wording(_texts(language)), **_plain(facts)}
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def digest(facts: PolicyFacts, language: str) -> str:
    """The SHA-256 of :func:`canonical`, in hex, kept with each version of the policy."""
    return hashlib.sha256(canonical(facts, language)).hexdigest()


# -- what changed ------------------------------------------------------------------------------------------


def _shown(value: int | None, unit: str) -> str:
    return "kept for ever" if value is None else f"{value} {unit}"


_RETENTION = (
    ("usage_days", "Usage records", "days"),
    ("citizen_conversation_days", "Conversations with the public", "days"),
    ("staff_conversation_days", "Staff conversations", "days"),
    ("vault_hours", "Placeholder vault", "hours"),
)


def _items(facts: PolicyFacts | None, section: str) -> dict[tuple[str, ...], dict[str, str]]:
    """A section's items by key, each as its fields written out (in the order a change names them)."""
    if facts is None:
        return {}
    if section == "organisation":
        return {("organisation",): {"name": facts.organisation, "slug": facts.slug}}
    if section == "models":
        shown = {(m.classification, m.alias, m.deployment): (m.sovereignty, m.supplier or "none") for m in facts.models}
        return {key: {"where it runs": where, "supplier": supplier} for key, (where, supplier) in shown.items()}
    if section == "protection":
        return {(p.classification,): {"mode": p.mode} for p in facts.protection}
    if section == "retention":
        return {(label,): {"period": _shown(getattr(facts.retention, name), unit)} for name, label, unit in _RETENTION}
    if section == "use_cases":
        return {
            (u.name,): {
                "status": u.status,
                "risk group": u.risk_group,
                "senior responsible owner": u.senior_responsible_owner,
                "review date": u.review_date.isoformat() if u.review_date else "none",
            }
            for u in facts.use_cases
        }
    if section == "training":
        return {(t.course,): {"who": t.audience} for t in facts.training}
    return {("contact",): {"contact": facts.incident_contact}}


def _subject(section: str, key: tuple[str, ...]) -> str:
    if section == "models":
        classification, alias, deployment = key
        return f'model "{alias}" ({deployment}) for {classification} data'
    names = {"protection": "personal-data mode for {} data", "use_cases": 'use case "{}"', "training": 'course "{}"'}
    return names.get(section, "{}").format(key[-1])


def _order(section: str, facts: PolicyFacts) -> Callable[[tuple[str, ...]], tuple[int, tuple[str, ...]]]:
    """How a section's items are ordered: retention periods as the policy lists them, classifications by
    the current levels' order, everything else by name."""
    rank = {label: i for i, (_, label, _) in enumerate(_RETENTION)} if section == "retention" else _levels(facts)
    if section not in ("models", "protection", "retention"):
        rank = {}
    return lambda key: (rank.get(key[0], len(rank)), key)


def _section_changes(section: str, old: PolicyFacts | None, new: PolicyFacts) -> list[Change]:
    before, after = _items(old, section), _items(new, section)
    found: list[Change] = []
    for key in sorted(before.keys() | after.keys(), key=_order(section, new)):
        subject = _subject(section, key)
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            shown = ", ".join(f"{field} {value}" for field, value in now.items())
            found.append(Change(section, "added", subject, f"{subject} added ({shown})", after=shown))
        elif now is None and was is not None:
            shown = ", ".join(f"{field} {value}" for field, value in was.items())
            found.append(Change(section, "removed", subject, f"{subject} removed (was {shown})", before=shown))
        elif was is not None and now is not None:
            for field, value in now.items():
                if was[field] != value:
                    text = f"{subject}: {field} {was[field]} → {value}"
                    found.append(Change(section, "changed", subject, text, before=was[field], after=value))
    return found


def changes(previous: PolicyFacts | None, current: PolicyFacts) -> list[Change]:
    """What changed from ``previous`` (the last approved version; None: there is none, and everything is
    added) to ``current``, section by section in :data:`SECTIONS` order, each section's items in a fixed
    order. The generation date is not a change."""
    found: list[Change] = []
    for section in SECTIONS:
        found += _section_changes(section, previous, current)
        if section == "protection" and previous is not None:
            # the same levels in another order change which is "higher"
            was = [p.classification for p in previous.protection]
            now = [p.classification for p in current.protection]
            common = set(was) & set(now)
            was_order, now_order = [c for c in was if c in common], [c for c in now if c in common]
            if was_order != now_order:
                shown_was, shown_now = ", ".join(was_order), ", ".join(now_order)
                text = f"order of classification levels: {shown_was} → {shown_now}"
                found.append(Change(section, "changed", "classification levels", text, shown_was, shown_now))
    return found
