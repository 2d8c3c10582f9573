"""PDF (pypdf): text per page, split into headings and paragraphs by the layout of its lines.

pypdf is imported when a PDF is read, never with this module.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from soberana.knowledge.parsing.common import (
    _LIST_ITEM,
    _MAX_TITLE_CHARS,
    Block,
    DocumentParseError,
    ParsedDocument,
    _add,
    _clean,
    _first_heading,
    _iso_date,
    _language,
    _meaningful_title,
    _one_line,
)

if TYPE_CHECKING:
    from pypdf import PdfReader


def parse_pdf(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
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
