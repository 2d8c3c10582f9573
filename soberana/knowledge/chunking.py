"""Chunks of a parsed document that follow its structure, sized for retrieval.

A chunk belongs to one section: every heading starts a new one, and the chunk carries the path of
headings that encloses it. Within a section, blocks are gathered until the next one would pass the
target size. A block is split only when it alone exceeds the maximum size, and then only where its
kind allows: paragraphs between sentences, lists between items, tables between rows (each part
repeating the header row), code between lines. Pieces too small to stand alone join a neighbour of
the same section when the two fit within the maximum. The same document always gives the same chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from soberana.knowledge.parsing import Block, ParsedDocument

_MIN_WORDS: Final = 25  # a piece smaller than this joins a neighbour of its section when they fit

# The end of a sentence: terminal punctuation, closing quotes or brackets, whitespace, then the next
# sentence's first word (whose first letter, captured, must be upper-case or a digit).
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)\]]*\s+(?=[¿¡\"'«“‘(\[]?(\w))")
# Words that a period follows without ending the sentence (lower-case, final period left out);
# single letters (initials) are recognised on their own. English, Spanish and Icelandic.
_ABBREVIATIONS: Final = frozenset(
    {
        "approx", "art", "arts", "avda", "cf", "dept", "dr", "dra", "dña", "e.g", "fig", "gr",
        "i.e", "inc", "jr", "ltd", "m.a", "mr", "mrs", "ms", "nr", "nº", "núm", "o.s.frv", "p", "pp",
        "pág", "págs", "prof", "sbr", "sec", "skv", "sr", "sra", "srta", "st", "t.d", "ud", "uds",
        "vol", "vs", "þ.e",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document, the unit that is embedded, searched and cited."""

    ordinal: int  # 0-based position in the document
    text: str  # the passage, without its heading path
    heading_path: tuple[str, ...]  # enclosing headings, outermost first
    page: int | None  # page of the first block in the chunk
    words: int


@dataclass(slots=True)
class _Span:
    """A run of consecutive pieces, ``start`` to ``stop`` (exclusive), holding ``words`` words."""

    start: int
    stop: int
    words: int


def chunk_document(doc: ParsedDocument, *, target_words: int = 160, max_words: int = 280) -> list[Chunk]:
    """The chunks of ``doc``, in order, each of at most ``max_words`` words.

    The document title is not part of any heading path unless it is a heading in the body.
    """
    if not 0 < target_words <= max_words:
        raise ValueError(f"need 0 < target_words <= max_words, got {target_words} and {max_words}")
    chunks: list[Chunk] = []
    for heading_path, body in _sections(doc.blocks):
        pieces = [(piece, block.page) for block in body for piece in _fit(block, target_words, max_words)]
        for span in _group([_words(piece) for piece, _ in pieces], target_words, max_words):
            passage = "\n\n".join(piece for piece, _ in pieces[span.start : span.stop])
            chunks.append(Chunk(len(chunks), passage, heading_path, pieces[span.start][1], _words(passage)))
    return chunks


def _words(text: str) -> int:
    return len(text.split())


def _sections(blocks: Sequence[Block]) -> Iterator[tuple[tuple[str, ...], list[Block]]]:
    """Each section's heading path and body blocks; sections without a body are left out."""
    headings: list[Block] = []  # the open headings, outermost first
    body: list[Block] = []
    for block in blocks:
        if block.kind != "heading":
            body.append(block)
            continue
        if body:
            yield tuple(heading.text for heading in headings), body
            body = []
        while headings and headings[-1].level >= block.level:
            headings.pop()
        headings.append(block)
    if body:
        yield tuple(heading.text for heading in headings), body


def _group(sizes: Sequence[int], target: int, limit: int) -> list[_Span]:
    """Consecutive items gathered while they stay within ``target`` words.

    A span that is still tiny takes the next item as long as it stays within ``limit``; a tiny span
    that cannot joins the span before it when the two fit in ``limit``. Given items of at most
    ``limit`` words, no span exceeds ``limit``.
    """
    spans: list[_Span] = []
    for index, size in enumerate(sizes):
        last = spans[-1] if spans else None
        if last is None or (last.words + size > target and (last.words >= _MIN_WORDS or last.words + size > limit)):
            _merge_tiny_last(spans, limit)
            spans.append(_Span(index, index + 1, size))
        else:
            last.stop, last.words = index + 1, last.words + size
    _merge_tiny_last(spans, limit)
    return spans


def _merge_tiny_last(spans: list[_Span], limit: int) -> None:
    if len(spans) > 1 and spans[-1].words < _MIN_WORDS and spans[-2].words + spans[-1].words <= limit:
        tiny = spans.pop()
        spans[-1].stop, spans[-1].words = tiny.stop, spans[-1].words + tiny.words


def _fit(block: Block, target: int, limit: int) -> list[str]:
    """``block``'s text, whole when it fits in ``limit`` words, else split where its kind allows."""
    text = block.text
    if _words(text) <= limit:
        return [text]
    if block.kind == "table":
        header, *rows = text.split("\n")
        if rows and _words(header) <= limit // 2:
            return _pack(rows, target, limit, "\n", header=header)
        return _pack(text.split("\n"), target, limit, "\n")
    if block.kind == "list":
        return _pack(_list_items(text, limit), target, limit, "\n")
    if block.kind == "code":
        return _pack(text.split("\n"), target, limit, "\n")
    return _pack(_sentences(text), target, limit, " ")


def _pack(units: Sequence[str], target: int, limit: int, joiner: str, *, header: str = "") -> list[str]:
    """``units`` gathered into parts of at most ``limit`` words, ``header`` (if any) heading each part.

    A unit too long for a part on its own is cut between words, the last resort.
    """
    overhead = _words(header)
    room = limit - overhead
    pieces = [piece for unit in units for piece in _cut_words(unit, room, min(target, room))]
    parts: list[str] = []
    for span in _group([_words(piece) for piece in pieces], max(1, target - overhead), room):
        part = joiner.join(pieces[span.start : span.stop]).strip("\n")
        if part:
            parts.append(f"{header}\n{part}" if header else part)
    return parts


def _cut_words(unit: str, limit: int, size: int) -> list[str]:
    """``unit`` whole when it has at most ``limit`` words, else cut into runs of ``size`` words."""
    words = unit.split()
    if len(words) <= limit:
        return [unit]
    return [" ".join(words[start : start + size]) for start in range(0, len(words), size)]


def _list_items(text: str, limit: int) -> list[str]:
    """Top-level items with their nested lines; an item too long to keep whole gives its lines."""
    items: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith(" ") and items:
            items[-1].append(line)
        else:
            items.append([line])
    units: list[str] = []
    for item in items:
        whole = "\n".join(item)
        units.extend([whole] if _words(whole) <= limit else item)
    return units


def _sentences(text: str) -> list[str]:
    """``text`` cut after each sentence: where terminal punctuation meets a capital or a digit."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        first = match.group(1)
        if (first.isupper() or first.isdigit()) and not _is_abbreviation(text, match.start()):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def _is_abbreviation(text: str, end: int) -> bool:
    """Whether the period at ``end`` closes an abbreviation or an initial rather than a sentence."""
    if text[end] != ".":
        return False
    before = text[max(0, end - 16) : end].split()
    word = before[-1].lstrip("([¿¡\"'«“").lower() if before else ""
    return (len(word) == 1 and word.isalpha()) or word in _ABBREVIATIONS
