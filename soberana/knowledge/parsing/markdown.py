"""Markdown (markdown-it-py, CommonMark with tables), with simple ``key: value`` front matter.

markdown-it-py is imported when a file is read, never with this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from soberana.knowledge.parsing.common import (
    Block,
    ParsedDocument,
    _add,
    _charset_of,
    _clean,
    _decode,
    _document_from_fields,
    _first_heading,
    _one_line,
)

if TYPE_CHECKING:
    from markdown_it.token import Token


def parse_markdown(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
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
