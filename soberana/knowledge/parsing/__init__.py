"""Uploaded files to structured documents: headings, paragraphs, lists, tables and code, in order.

Each supported format becomes one or more :class:`ParsedDocument` objects made of typed
:class:`Block` items, so that chunking can follow the document's own structure instead of cutting
text at arbitrary offsets. Only what a document *declares* is recorded (its language, dates,
canonical address); guessing is left to later stages.

One module per format (:mod:`.pdf`, :mod:`.docx`, :mod:`.html`, :mod:`.markdown`, :mod:`.text`,
:mod:`.jsonl`), what they share in :mod:`.common`. :func:`parse` reads a file in the calling
process; :class:`~soberana.knowledge.parsing.sandbox.SandboxedParser` reads files in worker
processes with memory and time limits, so that a crafted file fails alone instead of the server.

The parsing libraries (pypdf, python-docx, selectolax, markdown-it-py) are imported inside the
functions that use them: importing this package loads none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from soberana.knowledge.parsing.common import (
    SUPPORTED_EXTENSIONS,
    Block,
    BlockKind,
    DocumentFormat,
    DocumentParseError,
    ParsedDocument,
    UnsupportedFormat,
    detect_format,
)
from soberana.knowledge.parsing.docx import parse_docx
from soberana.knowledge.parsing.html import parse_html
from soberana.knowledge.parsing.jsonl import parse_jsonl
from soberana.knowledge.parsing.markdown import parse_markdown
from soberana.knowledge.parsing.pdf import parse_pdf
from soberana.knowledge.parsing.text import parse_text

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Block",
    "BlockKind",
    "DocumentFormat",
    "DocumentParseError",
    "ParsedDocument",
    "UnsupportedFormat",
    "detect_format",
    "parse",
]

_PARSERS: Final[dict[DocumentFormat, Callable[[bytes, str, str | None], list[ParsedDocument]]]] = {
    "pdf": parse_pdf,
    "docx": parse_docx,
    "html": parse_html,
    "markdown": parse_markdown,
    "text": parse_text,
    "jsonl": parse_jsonl,
}


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
