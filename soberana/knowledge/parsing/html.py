"""HTML (selectolax, Lexbor): the page's main content without its furniture, and its declared metadata.

selectolax is imported when a page is read, never with this module.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from soberana.knowledge.parsing.common import (
    _SNIFF_BYTES,
    Block,
    ParsedDocument,
    _absolute_url,
    _add,
    _charset_of,
    _clean,
    _decode,
    _first_heading,
    _iso_date,
    _language,
    _meaningful_title,
    _one_line,
)

if TYPE_CHECKING:
    from selectolax.lexbor import LexborHTMLParser, LexborNode


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
# What follows "charset" in a <meta> tag; possessive, so a run of spaces is never backtracked over.
_CHARSET_DECLARATION = re.compile(rb"charset\s*+=\s*+[\"']?\s*+([\w.:-]+)", re.IGNORECASE)


def parse_html(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
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
    """The charset that the first ``<meta …>`` tag declaring one declares (its last declaration).

    One pass, not a backtracking ``<meta[^>]+charset…`` search (quadratic on a flood of unclosed
    ``<meta``): a tag that declares nothing is skipped up to its ``>``, with any ``<meta`` inside it.
    """
    lowered = head.lower()
    position = lowered.find(b"<meta")
    while position != -1:
        start = position + len(b"<meta")
        end = lowered.find(b">", start)
        end = len(head) if end == -1 else end
        found = lowered.rfind(b"charset", start + 1, end)
        while found != -1:
            match = _CHARSET_DECLARATION.match(head, found, end)
            if match:
                return match.group(1).decode("ascii")
            found = lowered.rfind(b"charset", start + 1, found)
        position = lowered.find(b"<meta", end)
    return None


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
