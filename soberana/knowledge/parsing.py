"""Uploaded files to structured documents: headings, paragraphs, lists, tables and code, in order.

Each supported format becomes one or more :class:`ParsedDocument` objects made of typed
:class:`Block` items, so that chunking can follow the document's own structure instead of cutting
text at arbitrary offsets. Only what a document *declares* is recorded (its language, dates,
canonical address); guessing is left to later stages.

Text is cleaned the same way whatever the format: Unicode NFC, no NUL, control or invisible
formatting characters, runs of whitespace collapsed inside paragraphs and headings, and line
structure kept in lists, tables and code. Addresses are kept only when they are absolute
``http(s)`` URLs, and dates only when they are real calendar dates (as ``YYYY-MM-DD``).

The parsing libraries (pypdf, python-docx, selectolax, markdown-it-py) are imported inside the
functions that use them: importing this module loads none of them.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePath
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

from soberana.errors import InvalidRequest

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from markdown_it.token import Token
    from pypdf import PdfReader
    from selectolax.lexbor import LexborHTMLParser, LexborNode

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
_MAX_UNZIPPED_BYTES: Final = 256 * 1024 * 1024  # a DOCX that inflates beyond this is refused (zip bomb)
_MAX_TITLE_CHARS: Final = 200

# NUL, C0/C1 controls other than tab and newline, and invisible formatting characters.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b\u2060\ufeff]")
_ISO_DATE = re.compile(r"\s*(?:D:)?(\d{4})-?(\d{2})-?(\d{2})")
_LANGUAGE_SUBTAG = re.compile(r"[a-z]{2,3}")
_NOT_A_LANGUAGE: Final = frozenset({"und", "mul", "zxx", "mis"})
_FILE_NAME_TITLE = re.compile(r"\.(?:docx?|pdf|odt|rtf|txt|indd|pptx?|xlsx?)\s*$", re.IGNORECASE)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
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


def parse(data: bytes, filename: str, content_type: str | None = None) -> list[ParsedDocument]:
    """The documents in one uploaded file: one, or one per record for JSON Lines.

    Raises :class:`UnsupportedFormat` for a format that is not supported and
    :class:`DocumentParseError`, naming the file, for one that cannot be read or holds no text.
    """
    parser = _PARSERS[detect_format(filename, content_type, data)]
    try:
        documents = parser(data, filename, content_type)
    except RecursionError as exc:
        raise DocumentParseError(f"{filename} is nested too deeply to read.") from exc
    if not documents or not all(document.blocks for document in documents):
        raise DocumentParseError(f"{filename} contains no text.")
    return documents


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


# --- PDF --------------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    reader = _open_pdf(data, filename)
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        declared_language = reader.root_object.get("/Lang")
    except Exception as exc:  # pypdf raises many kinds of error on damaged files
        raise DocumentParseError(f"{filename} is a damaged PDF and could not be read.") from exc
    blocks = [block for number, text in enumerate(pages, start=1) for block in _pdf_page_blocks(text, number)]
    if not blocks:
        raise DocumentParseError(f"{filename} contains no text (a scanned PDF needs OCR first).")
    metadata = {} if info is None else {"author": info.author, "subject": info.subject, "keywords": info.keywords}
    return [
        ParsedDocument(
            key=filename,
            title=_meaningful_title(info and info.title) or _first_heading(blocks) or _first_line(pages),
            blocks=blocks,
            language=_language(declared_language),
            published=_iso_date(info and info.creation_date_raw),
            modified=_iso_date(info and info.modification_date_raw),
            page_count=len(pages),
            metadata={name: _one_line(_clean(value)) for name, value in metadata.items() if value},
        )
    ]


def _open_pdf(data: bytes, filename: str) -> PdfReader:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        locked = reader.is_encrypted and not _opens_without_password(reader)
    except Exception as exc:  # pypdf raises many kinds of error on damaged files
        raise DocumentParseError(f"{filename} is not a readable PDF.") from exc
    if locked:
        raise DocumentParseError(f"{filename} is encrypted; upload a copy without a password.")
    return reader


def _opens_without_password(reader: PdfReader) -> bool:
    """Whether an encrypted PDF opens with the empty user password (an owner password only)."""
    from pypdf.errors import DependencyError, PdfReadError

    try:
        return bool(reader.decrypt(""))
    except (DependencyError, PdfReadError, NotImplementedError):  # e.g. AES without `cryptography`
        return False


def _pdf_page_blocks(text: str, page: int) -> list[Block]:
    """Headings and paragraphs of one page of extracted text.

    A paragraph ends at a blank line, before a list item, or after a line that ends a sentence well
    short of the page's widest line. A heading is a short standalone line followed by text.
    """
    lines = [_one_line(line) for line in _join_hyphenated(_clean(text)).split("\n")]
    width = max(map(len, lines), default=0)
    blocks: list[Block] = []
    paragraph: list[str] = []
    for index, line in enumerate(lines):
        level = 0 if paragraph else _pdf_heading_level(line, _next_text(lines, index))
        if not line or level or _LIST_ITEM.match(line):
            _add(blocks, "paragraph", " ".join(paragraph), page=page)
            paragraph.clear()
        if level:
            _add(blocks, "heading", line, level=level, page=page)
        elif line:
            paragraph.append(line)
            if line[-1] in '.!?:;…»”"' and len(line) < 0.8 * width:
                _add(blocks, "paragraph", " ".join(paragraph), page=page)
                paragraph.clear()
    _add(blocks, "paragraph", " ".join(paragraph), page=page)
    return blocks


def _join_hyphenated(text: str) -> str:
    """Rejoin words hyphenated across a line break; the word's end moves up, so lines stay where they were."""
    return re.sub(r"(?<=[^\W\d_])-\n([a-zß-öø-ÿ]+)[ \t]*\n?", r"\1\n", text)


def _next_text(lines: Sequence[str], index: int) -> str:
    return next((line for line in lines[index + 1 :] if line), "")


def _pdf_heading_level(line: str, following: str) -> int:
    """The heading level a PDF line seems to have (0: not a heading).

    Numbered lines ("2.1 Scope") take their depth, ALL-CAPS lines level 1 and Title Case lines level 2,
    when they are short, do not end like a sentence and are followed by more text.
    """
    words = line.split()
    if not following or not 0 < len(words) <= 12 or len(line) > 100 or line[-1] in ".,;:!?":
        return 0
    numbered = re.match(r"(\d{1,2}(?:\.\d{1,2}){0,5})\.?\s+(\S)", line)
    if numbered:
        return min(numbered.group(1).count(".") + 1, 6) if numbered.group(2).isupper() else 0
    letters = [char for char in line if char.isalpha()]
    if len(letters) >= 3 and all(char.isupper() for char in letters):
        return 1
    significant = [word for word in words if len(word) > 3 and word[0].isalpha()]
    title_case = bool(significant) and words[0][0].isupper() and all(word[0].isupper() for word in significant)
    return 2 if title_case else 0


def _first_line(pages: Sequence[str]) -> str | None:
    for text in pages:
        for line in text.split("\n"):
            if cleaned := _one_line(_clean(line)):
                return cleaned[:_MAX_TITLE_CHARS]
    return None


# --- DOCX -------------------------------------------------------------------------------------------


def _parse_docx(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    document = _open_docx(data, filename)
    blocks, title_paragraph = _docx_blocks(document)
    core = document.core_properties
    metadata = {"author": core.author, "subject": core.subject, "keywords": core.keywords}
    return [
        ParsedDocument(
            key=filename,
            title=_meaningful_title(core.title) or title_paragraph or _first_heading(blocks),
            blocks=blocks,
            language=_language(core.language),
            published=_iso_date(core.created),
            modified=_iso_date(core.modified),
            metadata={
                name: _one_line(_clean(value))
                for name, value in metadata.items()
                if isinstance(value, str) and value.strip()
            },
        )
    ]


def _open_docx(data: bytes, filename: str) -> WordDocument:
    import zipfile

    from docx import Document

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(entry.file_size for entry in archive.infolist())
        document = Document(io.BytesIO(data)) if unzipped <= _MAX_UNZIPPED_BYTES else None
    except Exception as exc:  # zipfile, lxml and python-docx raise many kinds of error on damaged files
        raise DocumentParseError(f"{filename} is not a readable Word document (.docx).") from exc
    if document is None:
        raise DocumentParseError(f"{filename} unzips to more than {_MAX_UNZIPPED_BYTES >> 20} MiB; it is refused.")
    return document


def _docx_blocks(document: WordDocument) -> tuple[list[Block], str | None]:
    """The blocks of the body in document order, and the text of its first "Title" paragraph.

    Consecutive list paragraphs (a "List…" style, or numbering properties) make one list block;
    empty paragraphs between them do not break the list.
    """
    from docx.text.paragraph import Paragraph

    blocks: list[Block] = []
    items: list[str] = []
    title: str | None = None
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            if not item.text.strip():
                continue
            if (line := _docx_list_line(item)) is not None:
                items.append(line)
                continue
        _add(blocks, "list", _renumber(items))
        items.clear()
        if isinstance(item, Paragraph):
            level = _docx_heading_level(item)
            _add(blocks, "heading" if level else "paragraph", item.text, level=level)
            if title is None and _style_name(item) == "Title":
                title = _one_line(_clean(item.text))[:_MAX_TITLE_CHARS]
        else:
            _add(blocks, "table", _docx_table_text(item))
    _add(blocks, "list", _renumber(items))
    return blocks, title


def _style_name(paragraph: Paragraph) -> str:
    style = paragraph.style
    return (style.name or "") if style is not None else ""


def _docx_heading_level(paragraph: Paragraph) -> int:
    """1..6 for the "Title" and "Heading N" styles (levels below 6 become 6), else 0."""
    name = _style_name(paragraph)
    if name == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", name)
    return min(int(match.group(1)), 6) if match else 0


def _docx_list_line(paragraph: Paragraph) -> str | None:
    """The paragraph as a list line ("- item", "#. item" when numbered, indented by level); None if not a list item."""
    name = _style_name(paragraph)
    if _docx_heading_level(paragraph):  # numbered headings are headings
        return None
    numbered = paragraph._p.xpath("./w:pPr/w:numPr[w:numId/@w:val != '0']")
    if "List" not in name and not numbered:
        return None
    style_level = re.search(r"(\d)\s*$", name)
    direct_level = paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
    if direct_level and str(direct_level[0]).isdigit():
        depth = int(direct_level[0])
    else:
        depth = int(style_level.group(1)) - 1 if style_level else 0
    marker = "#." if "Number" in name else "-"
    return f"{'  ' * depth}{marker} {_one_line(_clean(paragraph.text))}"


def _renumber(lines: Sequence[str]) -> str:
    """List lines with the "#." placeholders of ordered items replaced by 1., 2., … counted per level."""
    counters: dict[int, int] = {}
    numbered: list[str] = []
    for line in lines:
        depth = len(line) - len(line.lstrip(" "))
        counters = {level: count for level, count in counters.items() if level <= depth}
        if line.lstrip(" ").startswith("#. "):
            counters[depth] = counters.get(depth, 0) + 1
            line = f"{' ' * depth}{counters[depth]}.{line.lstrip(' ')[2:]}"
        numbered.append(line)
    return "\n".join(numbered)


def _docx_table_text(table: Table) -> str:
    """One line per row, its cells joined by " | "; a cell merged across columns counts once."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is not previous:
                cells.append(_one_line(_clean(cell.text)))
            previous = cell._tc
        text = " | ".join(cells)
        if text.strip(" |"):
            rows.append(text)
    return "\n".join(rows)


# --- HTML -------------------------------------------------------------------------------------------

_NOISE_TAGS: Final = frozenset({"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template"})
_BLOCK_TAGS: Final = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_HEADING_TAGS: Final = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LIST_TAGS: Final = frozenset({"ul", "ol"})
_PUBLISHED_META: Final = (
    "article:published_time",
    "dcterms.issued",
    "dcterms.created",
    "dc.date.issued",
    "dc.date.created",
    "datepublished",
    "dc.date",
    "date",
)
_MODIFIED_META: Final = (
    "article:modified_time",
    "dcterms.modified",
    "dc.date.modified",
    "datemodified",
    "og:updated_time",
    "last-modified",
)
_LANGUAGE_META: Final = ("content-language", "dc.language", "dcterms.language", "language")


def _parse_html(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    from selectolax.lexbor import LexborHTMLParser

    charset = _charset_of(content_type) or _meta_charset(data[:_SNIFF_BYTES])
    tree = LexborHTMLParser(_decode(data, charset))
    meta = _html_meta(tree)
    blocks: list[Block] = []
    root = _html_content_root(tree)
    if root is not None:
        _html_walk(root, blocks)
    html = tree.css_first("html")
    title = tree.css_first("title")
    canonical = tree.css_first("link[rel~=canonical][href]")
    return [
        ParsedDocument(
            key=filename,
            title=_meaningful_title(title.text() if title else None) or _first_heading(blocks),
            blocks=blocks,
            source_url=_absolute_url(canonical.attributes.get("href") if canonical else None)
            or _absolute_url(meta.get("og:url")),
            language=_language(html.attributes.get("lang") if html else None)
            or _language(next((meta[name] for name in _LANGUAGE_META if name in meta), None)),
            published=next(filter(None, (_iso_date(meta.get(name)) for name in _PUBLISHED_META)), None),
            modified=next(filter(None, (_iso_date(meta.get(name)) for name in _MODIFIED_META)), None),
            metadata={name: _one_line(_clean(meta[name])) for name in ("author", "description") if name in meta},
        )
    ]


def _meta_charset(head: bytes) -> str | None:
    match = _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def _html_meta(tree: LexborHTMLParser) -> dict[str, str]:
    """``<meta>`` contents by lower-cased name, property, http-equiv or itemprop; the first one wins."""
    found: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        attributes = node.attributes
        name = next(filter(None, map(attributes.get, ("name", "property", "http-equiv", "itemprop"))), None)
        content = attributes.get("content")
        if name and content:
            found.setdefault(name.strip().lower(), content.strip())
    return found


def _html_content_root(tree: LexborHTMLParser) -> LexborNode | None:
    """``<main>``, else the page's only ``<article>``, else ``<body>``."""
    main = tree.css_first("main, [role=main]")
    if main is not None:
        return main
    articles = tree.css("article")
    return articles[0] if len(articles) == 1 else tree.body


def _is_noise(node: LexborNode) -> bool:
    """Whether an element is page furniture (navigation, scripts, forms…) rather than content."""
    tag = node.tag or ""
    if tag == "header":  # an article's own header holds its title; the page's header is furniture
        return not _has_ancestor(node, {"article", "main"})
    if tag == "form":  # ASP.NET pages wrap the whole page in one form: keep a form that holds headings
        return node.css_first("h1, h2, h3, main, article") is None
    attributes = node.attributes
    return (
        tag in _NOISE_TAGS
        or "hidden" in attributes
        or attributes.get("aria-hidden") == "true"
        or attributes.get("role") == "navigation"
    )


def _has_ancestor(node: LexborNode, tags: set[str]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.parent
    return False


def _html_walk(container: LexborNode, blocks: list[Block]) -> None:
    """Blocks from the children of ``container``: loose inline content between blocks is a paragraph."""
    inline: list[str] = []
    for child in container.iter(include_text=True):
        if child.is_comment_node or (child.is_element_node and _is_noise(child)):
            continue
        if child.is_text_node or child.tag not in _BLOCK_TAGS:
            inline.append(_inline_text(child))
            continue
        _add(blocks, "paragraph", "".join(inline))
        inline.clear()
        _html_block(child, blocks)
    _add(blocks, "paragraph", "".join(inline))


def _html_block(node: LexborNode, blocks: list[Block]) -> None:
    tag = node.tag or ""
    if tag in _HEADING_TAGS:
        _add(blocks, "heading", _inline_text(node), level=int(tag[1]))
    elif tag == "p":
        _add(blocks, "paragraph", _inline_text(node))
    elif tag in _LIST_TAGS:
        _add(blocks, "list", "\n".join(_html_list_lines(node, 0)))
    elif tag == "pre":
        _add(blocks, "code", node.text())
    elif tag == "table" and not _is_layout_table(node):
        caption = node.css_first("caption")
        _add(blocks, "paragraph", _inline_text(caption) if caption else "")
        _add(blocks, "table", _html_table_text(node))
    elif tag != "hr":
        _html_walk(node, blocks)


def _inline_text(node: LexborNode, *, skip: frozenset[str] = frozenset()) -> str:
    """The text of ``node`` without page furniture; block elements and ``<br>`` are set apart by spaces."""
    if node.is_text_node:
        return node.text_content or ""
    parts: list[str] = []
    for child in node.iter(include_text=True):
        if child.is_comment_node or (child.is_element_node and (_is_noise(child) or child.tag in skip)):
            continue
        text = _inline_text(child)
        parts.append(f" {text} " if child.tag in _BLOCK_TAGS or child.tag == "br" else text)
    return "".join(parts)


def _html_list_lines(node: LexborNode, depth: int) -> list[str]:
    """One line per item, nested lists indented under their item (and flattened into the same block)."""
    lines: list[str] = []
    number = 0
    for item in node.iter():
        if item.tag in _LIST_TAGS:  # a list directly inside a list: invalid HTML, but common
            lines.extend(_html_list_lines(item, depth + 1))
        if item.tag != "li":
            continue
        number += 1
        text = _one_line(_clean(_inline_text(item, skip=_LIST_TAGS)))
        if text:
            lines.append(f"{'  ' * depth}{f'{number}.' if node.tag == 'ol' else '-'} {text}")
        for nested in item.iter():
            if nested.tag in _LIST_TAGS:
                lines.extend(_html_list_lines(nested, depth + 1))
    return lines


def _is_layout_table(table: LexborNode) -> bool:
    """Whether a table lays out a page (it holds another table or headings) rather than data."""
    return len(table.css("table")) > 1 or table.css_first("h1, h2, h3, h4, h5, h6") is not None


def _html_table_text(table: LexborNode) -> str:
    rows: list[str] = []
    for row in _html_rows(table):
        cells = [_one_line(_clean(_inline_text(cell))) for cell in row.iter() if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _html_rows(table: LexborNode) -> list[LexborNode]:
    """The rows of ``table`` itself (not of tables nested in it), in document order."""
    rows: list[LexborNode] = []
    for child in table.iter():
        if child.tag == "tr":
            rows.append(child)
        elif child.tag in ("thead", "tbody", "tfoot"):
            rows.extend(row for row in child.iter() if row.tag == "tr")
    return rows


# --- Markdown ---------------------------------------------------------------------------------------


def _parse_markdown(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    from markdown_it import MarkdownIt

    fields, body = _front_matter(_clean(_decode(data, _charset_of(content_type))))
    blocks = _markdown_blocks(MarkdownIt("commonmark").enable("table").parse(body))
    return [_document_from_fields(filename, blocks, fields, default_title=_first_heading(blocks))]


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Simple ``key: value`` lines between a leading pair of ``---`` lines, and the rest of the text.

    Lines of any other shape (YAML lists, nested values, comments) are skipped; without a single
    ``key: value`` line the leading ``---`` is a thematic break and the text is returned whole.
    """
    match = re.match(r"---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", text, re.DOTALL | re.MULTILINE)
    if match is None:
        return {}, text
    fields: dict[str, str] = {}
    for line in match.group(1).split("\n"):
        pair = re.fullmatch(r"([A-Za-z][\w.-]*)[ \t]*:[ \t]*(.*?)\s*", line)
        if pair and (value := pair.group(2).strip("\"'").strip()):
            fields[pair.group(1).lower()] = _one_line(value)
    return (fields, text[match.end() :]) if fields else ({}, text)


def _markdown_blocks(tokens: Sequence[Token]) -> list[Block]:
    """Blocks from markdown-it's token stream; raw HTML blocks and thematic breaks give none."""
    blocks: list[Block] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type in ("bullet_list_open", "ordered_list_open", "table_open"):
            end = _closing(tokens, index)
            if token.type == "table_open":
                _add(blocks, "table", _markdown_table(tokens[index:end]))
            else:
                _add(blocks, "list", _markdown_list(tokens[index:end]))
            index = end
        elif token.type == "heading_open":
            _add(blocks, "heading", _markdown_inline(tokens[index + 1].children), level=int(token.tag[1:]))
        elif token.type == "paragraph_open":  # paragraphs of list items were consumed with their list
            _add(blocks, "paragraph", _markdown_inline(tokens[index + 1].children))
        elif token.type in ("fence", "code_block"):
            _add(blocks, "code", token.content)
        index += 1
    return blocks


def _closing(tokens: Sequence[Token], start: int) -> int:
    """The index of the token that closes the one at ``start``."""
    closing_type = tokens[start].type.replace("_open", "_close")
    level = tokens[start].level
    return next(i for i in range(start + 1, len(tokens)) if tokens[i].type == closing_type and tokens[i].level == level)


def _markdown_inline(children: Sequence[Token] | None) -> str:
    """Plain text of inline tokens: emphasis and links reduced to their text, images to their alt text."""
    parts: list[str] = []
    for child in children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_markdown_inline(child.children))
    return "".join(parts)


def _markdown_list(tokens: Sequence[Token]) -> str:
    """One line per item, nested items indented; an item's paragraphs are joined on its line."""
    items: list[tuple[str, list[str]]] = []
    counters: list[int | None] = []  # per open list: the next number, or None for a bullet list
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            start = token.attrGet("start") if token.type == "ordered_list_open" else None
            counters.append(None if token.type == "bullet_list_open" else int(start or 1))
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            counters.pop()
        elif token.type == "list_item_open":
            number = counters[-1]
            if number is not None:
                counters[-1] = number + 1
            items.append((f"{'  ' * (len(counters) - 1)}{'-' if number is None else f'{number}.'} ", []))
        elif token.type == "inline":
            items[-1][1].append(_one_line(_markdown_inline(token.children)))
        elif token.type in ("fence", "code_block"):
            items[-1][1].append(_one_line(token.content))
    return "\n".join(prefix + " ".join(parts) for prefix, parts in items if any(parts))


def _markdown_table(tokens: Sequence[Token]) -> str:
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline":
            rows[-1].append(_one_line(_markdown_inline(token.children)))
    return "\n".join(" | ".join(cells) for cells in rows)


# --- Plain text -------------------------------------------------------------------------------------


def _parse_text(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    paragraphs = _split_paragraphs(_clean(_decode(data, _charset_of(content_type))))
    blocks: list[Block] = []
    _text_blocks(paragraphs, blocks)
    return [ParsedDocument(key=filename, title=_text_title(paragraphs), blocks=blocks)]


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


def _text_title(paragraphs: Sequence[str]) -> str | None:
    """The first paragraph when it is one short line that does not end like a sentence."""
    first = paragraphs[0].strip() if len(paragraphs) > 1 else ""
    if not first or "\n" in first or len(first.split()) > 12 or first[-1] in ".,;:!?":
        return None
    return _one_line(first)[:_MAX_TITLE_CHARS]


# --- JSON Lines -------------------------------------------------------------------------------------


def _parse_jsonl(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    """One document per non-blank line; any bad line fails the whole file, naming the line."""
    documents: list[ParsedDocument] = []
    keys: set[str] = set()
    for number, line in enumerate(_clean(_decode(data, _charset_of(content_type))).split("\n"), start=1):
        if not line.strip():
            continue
        document = _jsonl_document(line, filename, number)
        if document.key in keys:
            raise DocumentParseError(f"{filename} line {number} repeats the id of an earlier record.")
        keys.add(document.key)
        documents.append(document)
    return documents


def _jsonl_document(line: str, filename: str, number: int) -> ParsedDocument:
    where = f"{filename} line {number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DocumentParseError(f"{where} is not valid JSON ({exc.msg}).") from exc
    if not isinstance(record, dict):
        raise DocumentParseError(f"{where} is not a JSON object.")
    fields = {str(key).lower(): text for key, value in record.items() if (text := _scalar_text(value)) is not None}
    text = _take(fields, "text", "content", "body")
    identity = _take(fields, "id", "doc_id")
    blocks: list[Block] = []
    _text_blocks(_split_paragraphs(_clean(text or "")), blocks)
    if not blocks:
        raise DocumentParseError(f"{where} has no text (expected a 'text', 'content' or 'body' field).")
    return _document_from_fields(f"{filename}#{identity or number}", blocks, fields)


def _scalar_text(value: object) -> str | None:
    """A JSON string, number or boolean as text (cleaned); None for null, arrays and objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return _clean(str(value))
    return None


_PARSERS: Final[dict[DocumentFormat, Callable[[bytes, str, str | None], list[ParsedDocument]]]] = {
    "pdf": _parse_pdf,
    "docx": _parse_docx,
    "html": _parse_html,
    "markdown": _parse_markdown,
    "text": _parse_text,
    "jsonl": _parse_jsonl,
}
