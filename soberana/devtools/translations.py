"""Keep the interface catalogues in step with the code (``make translations``).

``python -m soberana.devtools.translations merge`` merges ``messages.pot`` (extracted by pybabel) into
the Spanish and Icelandic catalogues: new strings get an empty translation, strings gone from the code
are dropped, headers (plural forms included) and existing translations are kept.
``… fill FILE.json`` writes translations from ``{"es": {msgid: msgstr}, "is": {…}}`` (a plural
entry takes a list of forms).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

LOCALE_DIR = Path(__file__).resolve().parents[1] / "web" / "locale"
LANGUAGES = ("es", "is")
WIDTH = 100


def _path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def _write(language: str, catalog: Catalog) -> None:
    with _path(language).open("wb") as handle:
        write_po(handle, catalog, width=WIDTH, no_location=True, omit_header=False, ignore_obsolete=True)


def merge() -> dict[str, int]:
    """Merge the template into each catalogue; returns how many entries still need a translation."""
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    untranslated = {}
    for language in LANGUAGES:
        with _path(language).open("rb") as handle:
            catalog = read_po(handle, locale=language)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        _write(language, catalog)
        untranslated[language] = sum(1 for m in catalog if m.id and not (m.string and all(m.string)))
    return untranslated


def fill(source: Path) -> None:
    given = json.loads(source.read_text(encoding="utf-8"))
    for language in LANGUAGES:
        with _path(language).open("rb") as handle:
            catalog = read_po(handle, locale=language)
        for msgid, text in given.get(language, {}).items():
            message = catalog.get(msgid)
            if message is None:
                raise SystemExit(f"{language}: {msgid!r} is not in the catalogue (run `make translations` first)")
            message.string = tuple(text) if isinstance(text, list) else text
            message.flags.discard("fuzzy")
        _write(language, catalog)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("merge", help="merge messages.pot into the catalogues")
    filler = commands.add_parser("fill", help="write translations from a JSON file")
    filler.add_argument("file", type=Path)
    arguments = parser.parse_args()
    if arguments.command == "merge":
        for language, count in merge().items():
            sys.stdout.write(f"{language}: {count} strings to translate\n")
    else:
        fill(arguments.file)


if __name__ == "__main__":
    main()
