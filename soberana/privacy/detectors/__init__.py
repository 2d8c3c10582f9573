"""Detectors of personal data, and the registry plugins add theirs to.

A detector is any object with a ``name``, the ``languages`` it serves (``None``: all) and
``detect(text, language) -> list[Entity]``. Built-in detectors register through the
``register_pii_detectors`` hook like a third-party plugin's would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import re2  # type: ignore[import-untyped]  # google-re2: no type information

from soberana.errors import ConfigurationError
from soberana.privacy.entities import Entity


@runtime_checkable
class Detector(Protocol):
    name: str

    @property
    def languages(self) -> Sequence[str] | None:
        """The ISO 639-1 codes this detector serves, or None for every language."""
        ...

    def detect(self, text: str, language: str | None) -> list[Entity]:
        """Entities found in ``text`` (``language``: an ISO 639-1 code, or None when unknown)."""
        ...


class DetectorRegistry:
    """The detectors of one running platform, in registration order."""

    def __init__(self) -> None:
        self._detectors: dict[str, Detector] = {}

    def add(self, detector: Detector) -> None:
        if not isinstance(detector, Detector):
            raise ConfigurationError(f"{detector!r} is not a personal-data detector (name, languages, detect()).")
        if detector.name in self._detectors:
            raise ConfigurationError(f"A personal-data detector named '{detector.name}' is already registered.")
        self._detectors[detector.name] = detector

    def __iter__(self) -> Iterator[Detector]:
        return iter(self._detectors.values())

    def __len__(self) -> int:
        return len(self._detectors)

    def names(self) -> list[str]:
        return list(self._detectors)


# -- linear-time regular expressions ---------------------------------------------------------------
#
# Python's ``re`` backtracks: a pattern such as ``(?:[a-z]+\.)+com`` takes quadratic (or worse) time
# on text built to defeat it, and holds the interpreter lock all the while, freezing every request of
# the process. Detectors therefore match with RE2 (``google-re2``), whose automata run in time linear
# in the text whatever the pattern. RE2 has no lookaround: a pattern states the character before or
# after a match as a group of its own, and the entity is one named group (``m``, or the first of
# ``entity`` that took part); an empty group named ``cut`` that took part ends the entity early (where
# Python's ``\b`` stood inside a pattern). After a match, the scan resumes at the end of the entity,
# so that the character after one match can be the character before the next.

_WORD = r"\p{L}\p{N}_"  # Python's \w: letters and digits of every script, and the underscore
_SPACE = r"\s\x0b\x1c-\x1f\x{85}\p{Z}"  # Python's \s: str.isspace()
_CLASSES = {
    "\\d": (r"\p{Nd}", r"\p{Nd}"),
    "\\w": (f"[{_WORD}]", _WORD),
    "\\s": (f"[{_SPACE}]", _SPACE),
}
NOT_WORD = f"[^{_WORD}]"
BEFORE_WORD = f"(?:^|{NOT_WORD})"  # where Python's \b precedes a pattern that starts with a letter or digit
AFTER_WORD = f"(?:$|{NOT_WORD})"  # where Python's \b follows a pattern that ends with a letter or digit

BUILTIN_MAX_MEM = 8 << 20  # bytes per compiled pattern (RE2's default): program and automata caches
BUILTIN_LONGEST = 1000  # characters: the longest match a built-in pattern looks for (see finditer)


def _char_start(data: bytes, offset: int) -> int:
    """``offset``, moved forward to the start of a UTF-8 character."""
    while offset < len(data) and data[offset] & 0xC0 == 0x80:
        offset += 1
    return offset


def unicode_classes(pattern: str) -> str:
    r"""``pattern`` with ``\d``, ``\w`` and ``\s`` as Python reads them in text (any script), not as
    RE2 does (ASCII only). ``\b`` is left as it is (ASCII in RE2): write word edges as groups."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if pair in _CLASSES:
                out.append(_CLASSES[pair][1 if in_class else 0])
            else:
                out.append(pair)
            i += 2
            continue
        if in_class and pattern.startswith("[:", i) and ":]" in pattern[i + 2 :]:
            close = pattern.index(":]", i + 2) + 2  # a POSIX class inside a class: [[:alpha:]\d]
            out.append(pattern[i:close])
            i = close
            continue
        if ch == "[" and not in_class:
            in_class = True
            opening = 2 if pattern.startswith("[^", i) else 1
            if pattern.startswith("]", i + opening):  # "[]…]", "[^]…]": a first "]" is a character
                opening += 1
            out.append(pattern[i : i + opening])
            i += opening
            continue
        if ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


class LinearError(ValueError):
    """A pattern RE2 cannot run (lookaround, backreferences, a syntax error), or too large."""


class Found:
    """One match of a :class:`LinearPattern`, in characters of the text."""

    __slots__ = ("_entity", "_names", "_spans", "_text")

    def __init__(self, text: str, spans: list[tuple[int, int]], names: dict[str, int], entity: int) -> None:
        self._text = text
        self._spans = spans
        self._names = names
        self._entity = entity

    def _index(self, group: int | str | None) -> int:
        if group is None:
            return self._entity
        return self._names[group] if isinstance(group, str) else group

    def start(self, group: int | str | None = None) -> int:
        return self._spans[self._index(group)][0]

    def end(self, group: int | str | None = None) -> int:
        return self._spans[self._index(group)][1]

    def group(self, group: int | str | None = None) -> str | None:
        start, end = self._spans[self._index(group)]
        return None if start < 0 else self._text[start:end]

    def value(self) -> str:
        """The entity's text."""
        start, end = self._spans[self._entity]
        return self._text[start:end]


class _Offsets:
    """Byte offsets of UTF-8 text to character offsets, walking forward (a scan's offsets grow)."""

    __slots__ = ("_byte", "_char", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._byte = 0
        self._char = 0

    def __call__(self, offset: int) -> int:
        if offset < 0:
            return -1
        if offset >= self._byte:
            self._char += len(self._data[self._byte : offset].decode())
        else:
            self._char -= len(self._data[offset : self._byte].decode())
        self._byte = offset
        return self._char


class LinearPattern:
    """A regular expression run by RE2: time linear in the text, memory bounded by ``max_mem``."""

    __slots__ = ("_cut", "_entity", "_groups", "_names", "_regexp", "longest", "pattern")

    def __init__(
        self,
        pattern: str,
        *,
        ignore_case: bool = False,
        entity: tuple[str, ...] = ("m",),
        cut: str | None = None,
        longest: int = BUILTIN_LONGEST,
        max_mem: int = BUILTIN_MAX_MEM,
    ) -> None:
        options = re2.Options()
        options.case_sensitive = not ignore_case
        options.max_mem = max_mem
        options.log_errors = False
        try:
            self._regexp: Any = re2.compile(pattern, options)
        except re2.error as exc:
            message = exc.args[0] if exc.args else exc
            raise LinearError(message.decode() if isinstance(message, bytes) else str(message)) from None
        self.pattern = pattern
        self.longest = longest
        self._groups: int = self._regexp.groups
        self._names: dict[str, int] = dict(self._regexp.groupindex)
        self._entity = tuple(self._names[name] for name in entity if name in self._names) or (0,)
        self._cut = self._names.get(cut) if cut else None

    def finditer(self, text: str) -> Iterator[Found]:
        """Non-overlapping matches, left to right; the next search starts where the entity ended.

        Each search reads a window of a few times ``longest`` characters, not the rest of the text:
        RE2 is linear in what it reads, but a pattern whose preferred alternative can run far
        (``a*b|a`` on "aaaa…") would otherwise read the rest of the text at every match. A match
        found is kept only if it starts early enough in the window that every match of at most
        ``longest`` characters starting there was seen whole: the result is then RE2's on the whole
        text, for matches up to ``longest`` characters (longer ones are cut)."""
        data = text.encode("utf-8", "replace")  # a lone surrogate (from JSON) becomes one "?"
        ascii_only = len(data) == len(text)
        chars = None if ascii_only else _Offsets(data)
        reach = self.longest * (1 if ascii_only else 4)  # in bytes of UTF-8
        window = 2 * reach + 64
        pos, end = 0, len(data)
        while pos <= end:
            stop = min(end, pos + window)
            m = self._regexp.search(data, pos, stop)
            if stop < end and (m is None or m.start() > stop - reach):
                pos = _char_start(data, stop - reach)  # nothing starts before there: slide on
                continue
            if m is None:
                return
            byte_spans = [m.span(g) for g in range(self._groups + 1)]
            entity = next((g for g in self._entity if byte_spans[g][0] >= 0), 0)
            if self._cut is not None and byte_spans[self._cut][0] >= 0:
                byte_spans[entity] = (byte_spans[entity][0], byte_spans[self._cut][0])
            spans = byte_spans if chars is None else [(chars(s), chars(e)) for s, e in byte_spans]
            yield Found(text, spans, self._names, entity)
            resume = byte_spans[entity][1]
            pos = resume if resume > pos else _char_start(data, pos + 1)  # an empty entity: step on

    def search(self, text: str) -> Found | None:
        """The first match in ``text`` (pass a slice to search part of a text: RE2 has no ``endpos``
        that ends the text for ``$``)."""
        return next(self.finditer(text), None)

    def fullmatch(self, text: str) -> bool:
        return self._regexp.fullmatch(text) is not None
