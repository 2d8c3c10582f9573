"""Contact details in generated answers: every link, telephone number and e-mail address must come
from the official sources retrieved for the answer.

A fake phone number planted in a poisoned page's neighbour, or invented by the model, is exactly the
harm a citizen cannot see: a detail that no retrieved passage, title or source address holds is
replaced by a note, and the answer is flagged ``unsupported_contact``. Detection uses the linear-time
patterns of :class:`~soberana.privacy.detectors.patterns.PatternDetector`; streamed text is checked
as it arrives by :class:`ContactGuard`, which holds back the tail that may still grow into a detail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

from soberana.knowledge.search import Hit
from soberana.privacy.detectors.patterns import PatternDetector
from soberana.privacy.entities import EMAIL, PHONE, URL, resolve

NOTES = {  # replaces a link, telephone number or e-mail address that no retrieved passage holds
    "en": "(contact detail left out: it is not in the official sources)",
    "es": "(dato de contacto omitido: no figura en las fuentes oficiales)",
    "is": "(samskiptaupplýsingum sleppt: þær eru ekki í opinberu heimildunum)",
}


def note(language: str | None) -> str:
    return NOTES.get(language or "en", NOTES["en"])


@cache
def _detector() -> PatternDetector:
    return PatternDetector(id_countries=())


_CONTACTS = (EMAIL, URL, PHONE)  # phones: validated or labelled (scores 0.8, 0.9), not bare shapes (0.5)
_FULL_STOP = re.compile(r"\.(?=\s|$)")
_DIGIT_RUN = re.compile(r"\+?[0-9][0-9 ().\u00a0\u202f–-]*")
_NUMBER_WORD = frozenset("0123456789+()-./")


def _digits(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def _web_form(text: str) -> str:
    return text.lower().replace("https://", "").replace("http://", "").replace("www.", "")


def _bounded_in(haystack: str, needle: str) -> bool:
    """Whether ``needle`` is in ``haystack`` as a whole address: not part of a longer name or path."""
    at = haystack.find(needle) if needle else -1
    while at >= 0:
        end = at + len(needle)
        before, after, then = haystack[at - 1 : at] or " ", haystack[end : end + 1] or " ", haystack[end + 1 : end + 2]
        inside = before.isalnum() or before in "-._%+" or after.isalnum() or after in "-_@"
        if not inside and not (after == "." and then.isalnum()):
            return True
        at = haystack.find(needle, at + 1)
    return False


@dataclass(slots=True, frozen=True)
class Sources:
    """What a contact detail in an answer may come from: the retrieved passages, titles and source URLs
    (lower-cased, without URL schemes and ``www.``), and the digits of their number-like runs."""

    text: str
    numbers: tuple[str, ...]

    @classmethod
    def of(cls, hits: Sequence[Hit]) -> Sources:
        text = "\n".join(p for hit in hits for p in (hit.title, hit.url or "", *hit.heading_path, hit.text))
        numbers = (_digits(m.group()) for m in _DIGIT_RUN.finditer(text))
        return cls(_web_form(text), tuple(n for n in numbers if len(n) >= 5))

    def supports(self, label: str, value: str) -> bool:
        if label != PHONE:
            return _bounded_in(self.text, _web_form(value).rstrip("/.,;:!?)"))
        number = _digits(value.lower().split("x")[0]).lstrip("0")  # by its digits, an extension aside
        return len(number) >= 5 and any(
            number in n or (len(n.lstrip("0")) >= 7 and number.endswith(n.lstrip("0"))) for n in self.numbers
        )


def check_contacts(text: str, sources: Sources, language: str | None, *, after: int = 0) -> tuple[str, int]:
    """``text`` with each link, telephone number and e-mail address (from ``after`` on) that no source
    holds replaced by a note, and how many were. Telephone numbers are those ``phonenumbers``
    validates or that follow a telephone label (PatternDetector's linear-time patterns)."""
    probe = _FULL_STOP.sub(" ", text)  # "see velmora.is." is a domain too: the detector wants no dot after one
    found = [
        e for e in _detector().detect(probe, language) if e.start >= after and e.label in _CONTACTS and e.score >= 0.8
    ]
    spans = [(e.label, e.start, _path_end(text, e.end) if e.label == URL else e.end) for e in resolve(found)]
    unsupported = [(start, end) for label, start, end in spans if not sources.supports(label, text[start:end])]
    for start, end in reversed(unsupported):
        text = text[:start] + note(language) + text[end:]
    return text, len(unsupported)


def _path_end(text: str, end: int) -> int:
    """The end of a bare domain's path ("velmora.is/permits"), which the detector leaves out."""
    if text[end : end + 1] == "/":
        while end < len(text) and not text[end].isspace() and text[end] not in "<>\"'()[]":
            end += 1
        end = len(text[:end].rstrip(".,;:!?"))
    return end


def _held_from(text: str) -> int:
    """Where the tail of streamed text that may still grow into a contact detail begins: its last
    word (unless a space ends it) and the number-like words before it ("Call 411" may go on " 1111")."""
    i = len(text)
    while i > 0 and not text[i - 1].isspace() and len(text) - i < 256:
        i -= 1
    while len(text) - i < 64:
        j = i
        while j > 0 and text[j - 1].isspace():
            j -= 1
        k = j
        while k > 0 and not text[k - 1].isspace() and j - k < 24:
            k -= 1
        word = text[k:j]
        if not any(c.isdigit() for c in word) or not set(word) <= _NUMBER_WORD:
            break
        i = k
    return i


class ContactGuard:
    """:func:`check_contacts` for text that arrives in pieces: the tail that may still grow into a link,
    number or address is held back until a word follows it, then passed on checked, with the text shown
    before it as context (a label such as "Tel."). The finished answer is checked whole as well."""

    def __init__(self, sources: Sources, language: str | None) -> None:
        self.sources, self.language = sources, language
        self._pending = self._context = ""

    def feed(self, piece: str) -> str:
        self._pending += piece
        cut = _held_from(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._release(ready)

    def close(self) -> str:
        ready, self._pending = self._pending, ""
        return self._release(ready)

    def _release(self, ready: str) -> str:
        text, after = self._context + ready, len(self._context)
        self._context = text[-48:]
        # a cheap test before the detector: a digit, an "@", or a dot or colon inside a word
        if any(c.isdigit() or c == "@" for c in ready) or any(
            a in ".:" and (b.isalnum() or b == "/") for a, b in pairwise(ready)
        ):
            return check_contacts(text, self.sources, self.language, after=after)[0][after:]
        return ready
