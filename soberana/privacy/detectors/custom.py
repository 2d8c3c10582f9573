"""An organisation's own detectors: a deny-list of words and regular expressions with a label.

Configured per organisation in its data-protection policy, e.g. ``{"label": "CASE_NUMBER",
"pattern": "EXP-\\d{4}/\\d+"}`` or a list of the names of a sensitive programme's participants.

Both run on RE2 (:class:`~soberana.privacy.detectors.LinearPattern`): time linear in the text, memory
bounded, whatever an administrator writes. A pattern RE2 cannot run — lookaround, backreferences,
atomic groups, possessive quantifiers — is refused when the policy is saved.
"""

from __future__ import annotations

from collections.abc import Sequence

import re2  # type: ignore[import-untyped]  # google-re2: no type information

from soberana.errors import InvalidRequest
from soberana.privacy.detectors import AFTER_WORD, BEFORE_WORD, LinearError, LinearPattern, unicode_classes
from soberana.privacy.entities import Entity

MAX_PATTERN_LENGTH = 500
CUSTOM_MAX_MEM = 8 << 20  # bytes for one compiled pattern (program and automata): larger ones are refused
CUSTOM_LONGEST = 500  # characters: a custom pattern's longer matches are cut (see LinearPattern.finditer)
DENY_LIST_CHUNK_CHARS = 10_000  # a deny-list is matched by programs of at most this much (escaped) text

# constructs of Python's re that RE2 does not run (they are what makes backtracking necessary)
_UNSUPPORTED = (
    (("(?=", "(?!", "(?<=", "(?<!"), "lookahead and lookbehind ((?=…), (?!…), (?<=…), (?<!…)) are not supported"),
    ((*(f"\\{d}" for d in range(1, 10)), "(?P=", "\\g<", "\\k<"), "backreferences (\\1, (?P=name)) are not supported"),
    (("(?>",), "atomic groups ((?>…)) are not supported"),
    (("*+", "++", "?+", "}+"), "possessive quantifiers (*+, ++, ?+) are not supported"),
    (("\\Z",), "write \\z for the end of the text"),
)


def _explain(pattern: str, reason: str) -> str:
    """RE2's reason, preceded by what it means when the pattern uses a construct RE2 lacks."""
    for markers, explanation in _UNSUPPORTED:
        if any(marker in pattern for marker in markers):
            return f"{explanation} (RE2: {reason})"
    if "too large" in reason:
        return f"it is too large once compiled (RE2: {reason})"
    return reason


def compile_pattern(pattern: str) -> LinearPattern:
    """A custom pattern, compiled for RE2, or a clear error naming what is wrong with it.

    ``\\d``, ``\\w`` and ``\\s`` mean digits, letters and spaces of any script, as in Python; ``\\b``
    is RE2's (ASCII letters and digits)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidRequest(f"A custom pattern may be at most {MAX_PATTERN_LENGTH} characters long.")
    try:
        return LinearPattern(unicode_classes(pattern), entity=(), longest=CUSTOM_LONGEST, max_mem=CUSTOM_MAX_MEM)
    except LinearError as exc:
        raise InvalidRequest(
            f"The custom pattern {pattern!r} is not a valid regular expression for RE2, the linear-time "
            f"engine custom patterns run on: {_explain(pattern, str(exc))}."
        ) from None


class RegexDetector:
    name = "custom-regex"
    languages = None

    def __init__(self, pattern: str, label: str) -> None:
        self.pattern = compile_pattern(pattern)
        self.label = label

    def detect(self, text: str, language: str | None) -> list[Entity]:
        return [
            Entity(m.start(), m.end(), self.label, 1.0, self.name)
            for m in self.pattern.finditer(text)
            if m.end() > m.start()
        ]


class DenyListDetector:
    """Whole-word, case-insensitive matches of listed terms (longest first where they overlap)."""

    name = "custom-deny-list"
    languages = None

    def __init__(self, terms: Sequence[str], label: str) -> None:
        words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
        self.label = label
        # a list's terms, longest first, in programs of bounded size: a list of ten thousand names
        # must neither fail to compile nor take RE2 past its memory bound
        chunks: list[list[str]] = []
        size = DENY_LIST_CHUNK_CHARS
        for word in words:
            escaped = re2.escape(word)
            if size + len(escaped) > DENY_LIST_CHUNK_CHARS:
                chunks.append([])
                size = 0
            chunks[-1].append(escaped)
            size += len(escaped) + 1
        longest = len(words[0]) + 2 if words else 0  # a term and the characters either side
        # "whole word": no letter, digit or underscore right before or after the term
        self.patterns = [
            LinearPattern(
                f"{BEFORE_WORD}(?P<m>{'|'.join(chunk)}){AFTER_WORD}",
                ignore_case=True,
                longest=longest,
                max_mem=CUSTOM_MAX_MEM,
            )
            for chunk in chunks
        ]

    def detect(self, text: str, language: str | None) -> list[Entity]:
        spans = sorted(
            ((m.start(), m.end()) for pattern in self.patterns for m in pattern.finditer(text)),
            key=lambda span: (span[0], -span[1]),
        )
        found: list[Entity] = []
        for start, end in spans:
            if not found or start >= found[-1].end:
                found.append(Entity(start, end, self.label, 1.0, self.name))
        return found
