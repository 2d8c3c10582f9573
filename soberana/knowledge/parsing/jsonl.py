"""JSON Lines: one document per record (``id``, ``title``, ``text``, ``url``, ``language``…)."""

from __future__ import annotations

import json

from soberana.knowledge.parsing.common import (
    Block,
    DocumentParseError,
    ParsedDocument,
    _charset_of,
    _clean,
    _decode,
    _document_from_fields,
    _split_paragraphs,
    _take,
    _text_blocks,
)


def parse_jsonl(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
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
