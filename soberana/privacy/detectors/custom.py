"""An organisation's own detectors: a deny-list of words and regular expressions with a label.

Configured per organisation in its data-protection policy, e.g. ``{"label": "CASE_NUMBER",
"pattern": "EXP-\\d{4}/\\d+"}`` or a list of the names of a sensitive programme's participants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from soberana.errors import InvalidRequest
from soberana.privacy.entities import Entity

MAX_PATTERN_LENGTH = 500


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A custom pattern, compiled, or a clear error naming what is wrong with it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidRequest(f"A custom pattern may be at most {MAX_PATTERN_LENGTH} characters long.")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidRequest(f"The custom pattern {pattern!r} is not a valid regular expression: {exc}.") from None


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
    """Whole-word, case-insensitive matches of listed terms."""

    name = "custom-deny-list"
    languages = None

    def __init__(self, terms: Sequence[str], label: str) -> None:
        words = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
        self.label = label
        self.pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)
            if words
            else None
        )

    def detect(self, text: str, language: str | None) -> list[Entity]:
        if self.pattern is None:
            return []
        return [Entity(m.start(), m.end(), self.label, 1.0, self.name) for m in self.pattern.finditer(text)]
