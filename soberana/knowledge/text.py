"""Language detection and the lexical analyser shared by indexing and search.

The analyser turns text into index terms: Unicode words, lower-cased, combining accents removed
(``información`` and ``informacion`` meet), stop words dropped, then stemmed — Snowball for the
languages it covers (Spanish, English and 30 more, through PyStemmer) and prefix truncation for
languages it does not (Icelandic, whose rich inflection mostly changes word endings). Documents and
questions go through the same analyser, chosen by their detected language.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Protocol

_WORD = re.compile(r"\w+", re.UNICODE)
_DETECT_CHARS = 2000  # language detection reads the start of a document; that is plenty

# Snowball algorithm names of the languages PyStemmer covers, by ISO 639-1 code.
SNOWBALL = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "et": "estonian",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hu": "hungarian",
    "it": "italian",
    "lt": "lithuanian",
    "nl": "dutch",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
}
# Languages without a Snowball stemmer: keep this many leading characters of each word.
TRUNCATE = {"is": 6}
DEFAULT_TRUNCATE = 7


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Short function-word lists: dropping them keeps OR-queries selective. Folded (no accents).
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": _word_set(
        "a an and are as at be been but by can could did do does for from had has have how i if in into is it its "
        "me my no not of on or our shall should so than that the their them then there these they this to was we "
        "were what when where which who whom why will with would you your"
    ),
    "es": _word_set(
        "a al algo como con cual cuales cuando de del desde donde el ella ellas ellos en entre era es esa ese eso "
        "esta este esto estos fue ha han hay la las le les lo los mas me mi mis muy nos o para pero por que quien "
        "se ser si sin sobre su sus te tiene tu un una uno unos y ya yo"
    ),
    "is": _word_set(
        "a af eda eftir ef eg en er eru fra fyrir hann hun hvad hvada hvar hvenaer hver hvernig hvort i med mig "
        "min mer ne og sem sig sin til um upp ur vid vera var voru thad thaer their thetta thvi thu ad"
    ),
}


def fold(text: str) -> str:
    """Lower-case and strip combining accents (``Información`` → ``informacion``; ``þ`` stays)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fold_ascii_icelandic(word: str) -> str:
    # Icelandic letters that are not accents: transliterated so stop words and users' spellings meet.
    return word.replace("þ", "th").replace("ð", "d").replace("æ", "ae").replace("ö", "o")


class _Stemmer(Protocol):
    def stemWords(self, words: Sequence[str]) -> list[str]: ...  # noqa: N802 - PyStemmer's name


@cache
def _snowball(algorithm: str) -> _Stemmer:
    import Stemmer

    stemmer: _Stemmer = Stemmer.Stemmer(algorithm)
    return stemmer


_stem_lock = threading.Lock()  # a PyStemmer object is not thread-safe


def analyse(text: str, language: str | None) -> list[str]:
    """Index terms of ``text`` read as ``language`` (``None``: no stop words, no stemming)."""
    words = [_fold_ascii_icelandic(w) for w in _WORD.findall(fold(text))]
    stops = STOP_WORDS.get(language or "", frozenset())
    words = [w for w in words if w not in stops and not (len(w) == 1 and not w.isdigit())]
    if language in SNOWBALL:
        with _stem_lock:
            return _snowball(SNOWBALL[language]).stemWords(words)
    cut = TRUNCATE.get(language or "", DEFAULT_TRUNCATE if language else 0)
    return [w[:cut] for w in words] if cut else words


# Cognates: Spanish "constitución" and English "constitution" share their first letters, and names
# and numbers are spelt alike in every language. A question's words meet a page in another language
# through their folded leading letters (``constitución`` → ``cons``), which no stemmer gives across
# languages. Search computes these terms for up to a hundred candidate passages per question, so they
# are found by regular expressions alone: the diacritics stripped are those of the combining-mark
# blocks (every accent of the Latin, Greek and Cyrillic alphabets), not every combining character.
COGNATE_PREFIX = 4  # leading characters kept of each word (numbers too); shorter words are left out
_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_COGNATE = re.compile(rf"(?<!\w)\w{{{COGNATE_PREFIX}}}")


def cognate_terms(text: str) -> list[str]:
    """Language-neutral terms of ``text`` for matching across languages: the first ``COGNATE_PREFIX``
    characters of each lower-cased, accent-stripped word or number at least that long."""
    return _COGNATE.findall(_COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", text.lower())))


def terms_text(parts: Iterable[str], language: str | None) -> str:
    """Analysed terms of several texts, space-separated: what the lexical index stores."""
    return " ".join(t for part in parts for t in analyse(part, language))


class LanguageDetector:
    """Detects the language of documents and questions among the configured languages (lingua).

    The detector's models load on first use, not at import or start-up.
    """

    def __init__(self, languages: Sequence[str]) -> None:
        self.languages = tuple(dict.fromkeys(code.lower() for code in languages))
        self._detector: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._detector is None:
                from lingua import IsoCode639_1, LanguageDetectorBuilder

                codes = [IsoCode639_1.from_str(code) for code in self.languages]
                if len(codes) == 1:
                    return None
                self._detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()
            return self._detector

    def detect(self, text: str, default: str | None = None) -> str | None:
        """The most likely language of ``text``, or ``default`` when it cannot tell."""
        if len(self.languages) == 1:
            return self.languages[0]
        sample = text[:_DETECT_CHARS].strip()
        if not sample:
            return default
        language = self._load().detect_language_of(sample)
        if language is None:
            return default
        return str(language.iso_code_639_1.name.lower())

    def detect_question(self, text: str, default: str | None = None) -> str | None:
        """The language of a question, read without its names: a question is short, and the names in it
        ("How many tickets did Mugison give out in Harpa?") are spelt in their own language, not the
        asker's. Capitalised words after the first are left out when at least three words remain."""
        words = text[:_DETECT_CHARS].split()
        kept = [
            w for i, w in enumerate(words) if i == 0 or not w[:1].isupper() or words[i - 1].endswith((".", "?", "!"))
        ]
        return self.detect(" ".join(kept) if len(kept) >= 3 else text, default)
