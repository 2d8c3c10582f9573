"""Typed placeholders for personal data, and putting the originals back.

``<PERSON_1>`` stands for the first person named in a conversation, every time that person is
named again (the same value, compared case- and space-insensitively), in any later turn. A
:class:`PseudonymMap` holds one conversation's mapping; the vault keeps it between requests.

:func:`restore` puts the originals back in a model's answer. :class:`StreamRestorer` does the same
over a streamed answer, whose chunks may split a placeholder anywhere (``"<PER"``, ``"SON_1>"``):
text that could still be the start of a placeholder is held back until the next chunk decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from soberana.privacy.entities import Entity

PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_(\d{1,6})>")
REDACTED = "<{label}>"
_LONGEST_PLACEHOLDER = 48  # '<' + label + '_' + digits + '>' never runs longer than this
_PARTIAL = re.compile(r"<[A-Z_]*\d*$")


def normalise(value: str) -> str:
    """The form under which two mentions count as the same value."""
    return " ".join(value.casefold().split())


@dataclass
class PseudonymMap:
    """One conversation's placeholders: value ↔ ``<LABEL_n>``, numbered per label in order of appearance."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)  # (label, normalised) -> placeholder
    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> value as first written
    added: list[tuple[str, str, str]] = field(default_factory=list)  # (placeholder, label, value) new this request
    used: set[str] = field(default_factory=set)  # placeholders that replaced a value in this request

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str, str]]) -> PseudonymMap:
        """From stored ``(placeholder, label, value)`` triples (the vault's)."""
        mapping = cls()
        for placeholder, label, value in entries:
            mapping.by_value[(label, normalise(value))] = placeholder
            mapping.originals[placeholder] = value
        return mapping

    def _next_number(self, label: str) -> int:
        prefix = f"<{label}_"
        return 1 + sum(1 for p in self.originals if p.startswith(prefix))

    def placeholder(self, label: str, value: str) -> str:
        key = (label, normalise(value))
        found = self.by_value.get(key)
        if found is None:
            found = f"<{label}_{self._next_number(label)}>"
            self.by_value[key] = found
            self.originals[found] = value
            self.added.append((found, label, value))
        self.used.add(found)
        return found


def replace(text: str, entities: Sequence[Entity], substitute: Mapping[int, str]) -> str:
    """``text`` with ``entities[i]`` replaced by ``substitute[i]`` (entities sorted, not overlapping)."""
    parts: list[str] = []
    cursor = 0
    for i, entity in enumerate(entities):
        parts.append(text[cursor : entity.start])
        parts.append(substitute[i])
        cursor = entity.end
    parts.append(text[cursor:])
    return "".join(parts)


def pseudonymise(text: str, entities: Sequence[Entity], mapping: PseudonymMap) -> str:
    """Each entity replaced by its conversation-stable placeholder."""
    return replace(
        text, entities, {i: mapping.placeholder(e.label, text[e.start : e.end]) for i, e in enumerate(entities)}
    )


def redact(text: str, entities: Sequence[Entity]) -> str:
    """Each entity replaced by its type alone (``<PERSON>``): nothing can bring the value back."""
    return replace(text, entities, {i: REDACTED.format(label=e.label) for i, e in enumerate(entities)})


def restore(text: str, originals: Mapping[str, str]) -> str:
    """The placeholders of ``originals`` in ``text`` replaced by their values (others left alone)."""
    if "<" not in text:
        return text
    return PLACEHOLDER.sub(lambda m: originals.get(m.group(0), m.group(0)), text)


class StreamRestorer:
    """Restores placeholders across the pieces of a streamed answer.

    :meth:`feed` returns what can be shown now; :meth:`flush` what was held back when the stream ends.
    """

    def __init__(self, originals: Mapping[str, str]) -> None:
        self.originals = originals
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        cut = text.rfind("<")
        if cut != -1 and len(text) - cut <= _LONGEST_PLACEHOLDER and _PARTIAL.fullmatch(text, cut):
            text, self._held = text[:cut], text[cut:]
        return restore(text, self.originals)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return restore(held, self.originals)
