"""What every format shares: the document model, its errors, format detection and text clean-up.

:class:`Block` and :class:`ParsedDocument` are what parsing produces; :func:`detect_format` tells the
format of an upload by its name, content type or first bytes. The helpers (underscored: private to
this package) clean text the same way whatever the format: Unicode NFC, no NUL, control or invisible
formatting characters, runs of whitespace collapsed inside paragraphs and headings, and line
structure kept in lists, tables and code; addresses kept only when they are absolute ``http(s)``
URLs, dates only when they are real calendar dates (``YYYY-MM-DD``).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import Final, Literal
from urllib.parse import urlsplit

from soberana.errors import InvalidRequest

BlockKind = Literal["heading", "paragraph", "list", "table", "code"]
DocumentFormat = Literal["pdf", "docx", "html", "markdown", "text", "jsonl"]


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document, its text already normalised.

    ``list`` text has one item per line, prefixed ``- `` (or ``1. `` when ordered) and indented two
    spaces per nesting level; ``table`` text has one row per line, cells joined by `` | ``, header first.
    """

    kind: BlockKind
    text: str
    level: int = 0  # heading level 1..6, else 0
    page: int | None = None  # 1-based page number (PDF), else None


@dataclass(slots=True)
class ParsedDocument:
    """A document read from an upload; a JSON Lines file gives one per record."""

    key: str  # the filename, or f"{filename}#{record id or line number}" for JSON Lines
    title: str | None
    blocks: list[Block]
    source_url: str | None = None
    language: str | None = None  # declared by the document only, as a primary subtag ("es")
    published: str | None = None  # YYYY-MM-DD
    modified: str | None = None  # YYYY-MM-DD
    page_count: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All block texts joined by blank lines."""
        return "\n\n".join(block.text for block in self.blocks)


class DocumentParseError(InvalidRequest):
    """An uploaded file could not be read as a document; the message names the file."""

    default_code = "document_unreadable"


class UnsupportedFormat(InvalidRequest):
    """An uploaded file is in none of the supported formats; the message lists them."""

    default_code = "unsupported_format"


_FORMAT_BY_EXTENSION: Final[dict[str, DocumentFormat]] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".jsonl": "jsonl",
}
SUPPORTED_EXTENSIONS: Final[tuple[str, ...]] = tuple(_FORMAT_BY_EXTENSION)

_FORMAT_BY_CONTENT_TYPE: Final[dict[str, DocumentFormat]] = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/x-ndjson": "jsonl",
}

_SNIFF_BYTES: Final = 64 * 1024  # a DOCX's "word/" entries are named well within this
_MAX_TITLE_CHARS: Final = 200

# NUL, C0/C1 controls other than tab and newline, and invisible formatting characters.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]")
_ISO_DATE = re.compile(r"\s*(?:D:)?(\d{4})-?(\d{2})-?(\d{2})")
_LANGUAGE_SUBTAG = re.compile(r"[a-z]{2,3}")
_NOT_A_LANGUAGE: Final = frozenset({"und", "mul", "zxx", "mis"})
_FILE_NAME_TITLE = re.compile(r"\.(?:docx?|pdf|odt|rtf|txt|indd|pptx?|xlsx?)\s*$", re.IGNORECASE)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# A line that opens a list item in plain text or PDF: a bullet, or "1." / "1)".
_LIST_ITEM = re.compile(r"^(\s*)(?:([-*•●▪◦‣–])|(\d{1,3})[.)])\s+(\S.*)$")

# Fields that documents with key/value metadata (Markdown front matter, JSON Lines) may declare.
_TITLE_KEYS: Final = ("title",)
_URL_KEYS: Final = ("url", "source_url", "canonical_url")
_LANGUAGE_KEYS: Final = ("language", "lang")
_PUBLISHED_KEYS: Final = ("published", "date", "created")
_MODIFIED_KEYS: Final = ("updated", "modified", "last_modified", "lastmod")


def detect_format(filename: str, content_type: str | None = None, head: bytes = b"") -> DocumentFormat:
    """The format of an upload: by extension, else by content type, else by the first bytes ``head``.

    Raises :class:`UnsupportedFormat` when none of them names a supported format.
    """
    found = (
        _FORMAT_BY_EXTENSION.get(PurePath(filename).suffix.lower())
        or _FORMAT_BY_CONTENT_TYPE.get((content_type or "").split(";", 1)[0].strip().lower())
        or _sniff(head[:_SNIFF_BYTES])
    )
    if found is None:
        raise UnsupportedFormat(
            f"{filename!r} is not in a supported document format; supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    return found


def _sniff(head: bytes) -> DocumentFormat | None:
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04") and b"word/" in head:
        return "docx"
    if b"<html" in head[:1024].lower():
        return "html"
    return None


# --- Text clean-up shared by every format ---------------------------------------------------------


def _clean(text: str) -> str:
    """Unix newlines, no control or invisible formatting characters, Unicode NFC."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", text))


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def _keep_indent(line: str) -> str:
    """``line`` with its inner whitespace collapsed and its leading indentation kept."""
    body = _one_line(line)
    return " " * (len(line) - len(line.lstrip())) + body if body else ""


def _normalise(kind: BlockKind, text: str) -> str:
    text = _clean(text)
    if kind == "code":
        return "\n".join(line.rstrip() for line in text.expandtabs(4).split("\n")).strip("\n")
    if kind in ("list", "table"):
        return "\n".join(filter(None, map(_keep_indent, text.split("\n"))))
    return _one_line(text)


def _add(blocks: list[Block], kind: BlockKind, text: str, *, level: int = 0, page: int | None = None) -> None:
    """Append a block of ``text`` normalised for its kind; text that is blank adds nothing."""
    text = _normalise(kind, text)
    if text:
        blocks.append(Block(kind, text, min(max(level, 1), 6) if kind == "heading" else 0, page))


def _decode(data: bytes, charset: str | None) -> str:
    """Bytes to text: by byte-order mark, else the declared charset, else UTF-8, else Windows-1252.

    Bytes that are not valid UTF-8 almost always come from a legacy 8-bit encoding, and
    Windows-1252 keeps the accented letters of Spanish and Icelandic readable where U+FFFD would not.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    if charset:
        try:
            return data.decode(charset, errors="replace")
        except LookupError:  # an unknown charset, or a codec that is not a text encoding
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _charset_of(content_type: str | None) -> str | None:
    match = _CHARSET_PARAM.search(content_type or "")
    return match.group(1) if match else None


def _iso_date(value: object) -> str | None:
    """``YYYY-MM-DD`` from a date, a PDF date (``D:20240131…``) or an ISO 8601 string; else None."""
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    match = _ISO_DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return date(*map(int, match.groups())).isoformat()
    except ValueError:
        return None


def _language(tag: object) -> str | None:
    """The primary subtag of a language tag, lower-case ("es-ES" → "es"); None when there is none."""
    if not isinstance(tag, str):
        return None
    primary = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return primary if _LANGUAGE_SUBTAG.fullmatch(primary) and primary not in _NOT_A_LANGUAGE else None


def _absolute_url(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL (the only kind a citation may link to), else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _meaningful_title(value: object) -> str | None:
    """A declared title, unless it is blank, "untitled" or a file name left by the authoring tool."""
    title = _one_line(_clean(value)) if isinstance(value, str) else ""
    if not title or title.lower() == "untitled" or _FILE_NAME_TITLE.search(title):
        return None
    return title[:_MAX_TITLE_CHARS]


def _first_heading(blocks: Sequence[Block]) -> str | None:
    """The text of the first level-1 heading, else of the first heading of any level."""
    headings = [block for block in blocks if block.kind == "heading"]
    top = next((block for block in headings if block.level == 1), headings[0] if headings else None)
    return top.text[:_MAX_TITLE_CHARS] if top else None


def _take(fields: dict[str, str], *keys: str) -> str | None:
    """Remove ``keys`` from ``fields``; the first non-blank value among them."""
    values = [fields.pop(key, "").strip() for key in keys]
    return next(filter(None, values), None)


def _document_from_fields(
    key: str, blocks: list[Block], fields: dict[str, str], *, default_title: str | None = None
) -> ParsedDocument:
    """A document whose title, address, language and dates come from declared ``key: value`` fields.

    Fields that are none of those are kept as metadata.
    """
    rest = dict(fields)
    return ParsedDocument(
        key=key,
        title=_meaningful_title(_take(rest, *_TITLE_KEYS)) or default_title,
        blocks=blocks,
        source_url=_absolute_url(_take(rest, *_URL_KEYS)),
        language=_language(_take(rest, *_LANGUAGE_KEYS)),
        published=_iso_date(_take(rest, *_PUBLISHED_KEYS)),
        modified=_iso_date(_take(rest, *_MODIFIED_KEYS)),
        metadata={name: _one_line(value) for name, value in rest.items() if value.strip()},
    )


_HEADING_MAX_WORDS = 12


def _heading_like(paragraph: str, following: str | None) -> bool:
    """A plain-text heading: one short line that starts with a capital, does not end like a sentence,
    and is followed by more text (GOV.UK-style pages exported one element per line look like this)."""
    line = paragraph.strip()
    return (
        following is not None
        and "\n" not in line
        and 0 < len(line.split()) <= _HEADING_MAX_WORDS
        and line[0].isupper()
        and line[-1] not in ".,;:!?…)\"'”’"
        and _LIST_ITEM.match(line) is None
        and not line.replace(" ", "").isdigit()
    )


def _text_blocks(paragraphs: Sequence[str], blocks: list[Block]) -> None:
    """Plain-text paragraphs as blocks: lists, headings (see :func:`_heading_like`) and paragraphs."""
    for index, paragraph in enumerate(paragraphs):
        following = paragraphs[index + 1] if index + 1 < len(paragraphs) else None
        items = _text_list(paragraph)
        if items:
            _add(blocks, "list", items)
        elif _heading_like(paragraph, following):
            _add(blocks, "heading", paragraph, level=2)
        else:
            _add(blocks, "paragraph", paragraph)


def _split_paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines; with no blank line at all, by line breaks."""
    separator = r"\n[ \t]*\n" if re.search(r"\n[ \t]*\n", text) else r"\n"
    return [part for part in re.split(separator, text) if part.strip()]


def _text_list(paragraph: str) -> str | None:
    """The paragraph as list lines when every line of it is a list item ("- a", "• a", "1. a"), else None."""
    lines: list[str] = []
    for line in paragraph.strip("\n").split("\n"):
        match = _LIST_ITEM.match(line)
        if match is None:
            return None
        indent, bullet, number, body = match.groups()
        lines.append(f"{indent}{'-' if bullet else f'{number}.'} {body}")
    return "\n".join(lines)
