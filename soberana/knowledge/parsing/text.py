"""Plain text: paragraphs by blank lines, with the lists and headings their shape shows."""

from __future__ import annotations

from collections.abc import Sequence

from soberana.knowledge.parsing.common import (
    _MAX_TITLE_CHARS,
    Block,
    ParsedDocument,
    _charset_of,
    _clean,
    _decode,
    _one_line,
    _split_paragraphs,
    _text_blocks,
)


def parse_text(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    paragraphs = _split_paragraphs(_clean(_decode(data, _charset_of(content_type))))
    blocks: list[Block] = []
    _text_blocks(paragraphs, blocks)
    return [ParsedDocument(key=filename, title=_text_title(paragraphs), blocks=blocks)]


def _text_title(paragraphs: Sequence[str]) -> str | None:
    """The first paragraph when it is one short line that does not end like a sentence."""
    first = paragraphs[0].strip() if len(paragraphs) > 1 else ""
    if not first or "\n" in first or len(first.split()) > 12 or first[-1] in ".,;:!?":
        return None
    return _one_line(first)[:_MAX_TITLE_CHARS]
