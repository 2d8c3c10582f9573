"""Word documents (python-docx): paragraphs by style, lists, tables, in document order.

python-docx is imported when a document is read, never with this module.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from soberana.knowledge.parsing.common import (
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
    from docx.document import Document as WordDocument
    from docx.table import Table
    from docx.text.paragraph import Paragraph

# A DOCX whose parts inflate beyond this is refused before python-docx reads it (a zip bomb). python-docx
# holds every part in memory and lxml's tree of an XML part is several times its size, so 64 MiB is
# already a few hundred MB of memory; a genuine document rarely comes near it (the upload limit is 50 MB
# and the images that make large DOCX files large are stored compressed, so they inflate by little).
_MAX_UNZIPPED_BYTES: Final = 64 * 1024 * 1024


def parse_docx(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
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
