"""Interface languages: Spanish, English and Icelandic, through gettext catalogues and Babel.

The catalogues are ``soberana/web/locale/<lang>/LC_MESSAGES/messages.po`` (``make translations``
extracts new strings into ``messages.pot`` and merges them into each). They are compiled in memory on
first use: no binary ``.mo`` files are committed or built. A page's language comes from, in order:
``?lang=`` (which is then remembered in a cookie), the ``soberana_lang`` cookie, the browser's
``Accept-Language``, the default.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from starlette.requests import Request

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("es", "en", "is")  # the interface's languages; English is the source language
LANGUAGE_NAMES = {"es": "Español", "en": "English", "is": "Íslenska"}
COOKIE = "soberana_lang"


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark for translation, translate later"
    """Mark ``message`` for the catalogues; it is translated where it is shown."""
    return message


def _catalogue(language: str) -> Catalog | None:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.is_file():
        return None
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


@cache
def translations(language: str) -> Translations:
    """The compiled catalogue of ``language`` (English: the messages as written)."""
    catalog = _catalogue(language)
    if catalog is None:
        return Translations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def negotiate(request: Request, default: str = "en") -> str:
    """The language for this request."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(COOKIE)
    if remembered in LANGUAGES:
        return remembered
    header = request.headers.get("accept-language", "")
    preferred = []
    for part in header.split(","):
        tag, *parameters = (p.strip() for p in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            preferred.append((weight, tag.split("-")[0].lower()))
    for _, tag in sorted(preferred, key=lambda p: -p[0]):
        if tag in LANGUAGES:
            return tag
    return default


@cache
def _written(language: str) -> tuple[frozenset[str], tuple[tuple[str, ...], ...]]:
    """The translations of ``language``'s catalogue: as written, and those with ``%(name)s`` values as
    their fixed pieces (the text between the values)."""
    catalog = _catalogue(language)
    texts: set[str] = set()
    for message in catalog or ():
        if message.id:  # a plural entry has a translation per form
            strings = [message.string] if isinstance(message.string, str) else list(message.string or ())
            texts.update(text for text in strings if text)
    templates = [tuple(_VALUE.split(t)) for t in sorted(texts) if _VALUE.search(t)]
    # a template that is nearly all values (``%(name)s``) would take any text for its own
    return frozenset(texts), tuple(p for p in templates if len("".join(p).strip()) >= 4)


_VALUE = re.compile(r"%\([a-z_]+\)[sd]")
MAX_MESSAGE = 2000  # longer messages are never the interface's own


def _fills(pieces: tuple[str, ...], text: str) -> bool:
    """Whether ``text`` is the template whose fixed pieces are ``pieces``, with some value in each gap.
    A left-to-right scan for each piece in turn: linear in the text, whatever it holds."""
    first, *middle, last = pieces
    if not text.startswith(first):
        return False
    at = len(first)
    for piece in middle:
        found = text.find(piece, at + 1)  # a value is at least one character
        if found < 0:
            return False
        at = found + len(piece)
    return text.endswith(last) and len(text) - len(last) > at


@dataclass(frozen=True)
class Translator:
    """Everything a template needs to speak one language."""

    language: str

    @property
    def _catalog(self) -> Translations:
        return translations(self.language)

    def gettext(self, message: str, **values: Any) -> str:
        text = self._catalog.gettext(message)
        return text % values if values else text

    def speaks(self, text: str) -> bool:
        """Whether ``text`` is in this language: English, or one of the catalogue's translations (with
        its values filled in). Messages of the services underneath are written in English only."""
        if self.language == "en":
            return True
        exact, templates = _written(self.language)
        return text in exact or (len(text) <= MAX_MESSAGE and any(_fills(pieces, text) for pieces in templates))

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = self._catalog.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def date(self, value: date | datetime, size: str = "long") -> str:
        return format_date(value, format=size, locale=self.language)

    def datetime(self, value: datetime) -> str:
        return format_datetime(value, format="medium", locale=self.language)

    def number(self, value: float, digits: int = 0) -> str:
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=self.language)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.language)

    @property
    def direction(self) -> str:
        return Locale.parse(self.language).text_direction
