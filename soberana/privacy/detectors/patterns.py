"""Personal data with a recognisable form, each candidate confirmed by a well-kept validator.

Candidates come from regular expressions, run on RE2 in time linear in the text whatever it holds
(see :class:`~soberana.privacy.detectors.LinearPattern`); a candidate becomes an entity only when its validator
accepts it: ``python-stdnum`` for IBANs, card numbers and national identity numbers (checksums),
``phonenumbers`` for telephone numbers, :mod:`ipaddress` for IP addresses. Numbers whose form
alone says little (a patient record number, a licence number) are taken only after a label that
names them ("NHC:", "passport no.", "kennitala").
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.at import vnr
from stdnum.be import nn
from stdnum.bg import egn
from stdnum.cz import rc as cz_rc
from stdnum.de import idnr
from stdnum.dk import cpr
from stdnum.ee import ik
from stdnum.es import cif, dni, nie
from stdnum.fi import hetu
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.gr import amka
from stdnum.hr import oib
from stdnum.ie import pps
from stdnum.is_ import kennitala
from stdnum.it import codicefiscale
from stdnum.lt import asmens
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.pt import cc as pt_cc
from stdnum.ro import cnp
from stdnum.se import personnummer
from stdnum.si import emso
from stdnum.sk import rc as sk_rc
from stdnum.us import ssn

from soberana.privacy.detectors import (
    AFTER_WORD,
    BEFORE_WORD,
    Found,
    LinearPattern,
    unicode_classes,
)
from soberana.privacy.detectors.addresses import find_addresses
from soberana.privacy.entities import (
    AGE,
    CREDIT_CARD,
    DATE,
    EMAIL,
    IBAN,
    ID_NUMBER,
    IP_ADDRESS,
    PHONE,
    URL,
    Entity,
)

# Every pattern that reads the text runs on RE2 (linear time: see ``LinearPattern``), written with
# Python's meaning of ``\d``, ``\w`` and ``\s`` (``unicode_classes``). Python's lookarounds and word
# edges (``\b``) become groups for the character before and after the entity (``BEFORE_WORD``,
# ``AFTER_WORD``): RE2 then looks for the match Python's backtracking would have found.


def _linear(pattern: str, *, ignore_case: bool = False, entity: tuple[str, ...] = ("m",)) -> LinearPattern:
    return LinearPattern(unicode_classes(pattern), ignore_case=ignore_case, entity=entity, cut="cut")


def _word_edges(pattern: str) -> str:
    r"""``\b…\b`` around a pattern that starts and ends with a letter or digit, for RE2."""
    assert pattern.startswith(r"\b") and pattern.endswith(r"\b"), pattern
    return rf"{BEFORE_WORD}(?P<m>{pattern[2:-2]}){AFTER_WORD}"


_EMAIL = _linear(
    r"(?:^|[^\w.+-])(?P<m>[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})" + AFTER_WORD
)
_IBAN = _linear(_word_edges(r"\b[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}\b"))
_CARD = _linear(r"(?:^|[^\d-])(?P<m>(?:\d[ -]?){12,18}\d)(?:$|[^\d-])")
_IPV4 = _linear(r"(?:^|[^\d.])(?P<m>(?:\d{1,3}\.){3}\d{1,3})(?:$|[^\d.])")
_IPV6 = _linear(r"(?:^|[^\w:])(?P<m>(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4})(?:$|[^\w:])")
_URL = _linear(
    BEFORE_WORD + r"(?:(?P<m>(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?])"
    r"|(?P<domain>(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}\.)+(?:com|org|net|edu|gov|info|biz|io|eu|[a-z]{2}))(?:$|[^@\w.-]))",
    entity=("m", "domain"),
)
_ABBREVIATIONS = {"e.g", "i.e", "p.ej", "t.d", "o.s", "s.s", "a.m", "p.m", "dr", "sr", "sra"}

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|"
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    "janúar|febrúar|mars|apríl|maí|júní|júlí|ágúst|september|október|nóvember|desember"
)
# Python's \b after "mar." needs a letter or digit next, else it gives the full stop back: "3 mar"
# before a space, "3 mar." before "2016" (this one detail differs: "3 mar" here)
_DATE = _linear(
    BEFORE_WORD + r"(?P<m>\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"  # ISO, with a time
    r"|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"  # 03/03/1946, 3.3.46, 7/30/1964
    rf"|\d{{1,2}}\.?\s+(?:de\s+)?(?:{_MONTHS})(?:\.?\s+(?:de(?:l)?\s+)?\d{{4}})?"  # 3 de marzo de 2016, 3. mars 2016
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"  # March 3, 2016
    rf"|(?:{_MONTHS})\s+(?:de(?:l)?\s+)?\d{{4}}"  # marzo de 2016, March 2016
    r")" + AFTER_WORD,
    ignore_case=True,
)
_AGE_UNIT = r"años|año|meses|years?[- ]old|years?|yrs?|ára|árs|mánaða"
# the unit's \b, inside the pattern, stays RE2's (ASCII) one: a unit followed by a non-ASCII letter
# ("añosñ") is taken as a unit here
_AGE = _linear(
    BEFORE_WORD + rf"(?:(?:aged?|edad(?:\s+de)?)\s*:?\s*(?P<age>\d{{1,3}}(?:\s*(?:{_AGE_UNIT})\b)?)"
    rf"|(?P<bare>\d{{1,3}}\s*(?:{_AGE_UNIT})){AFTER_WORD})",
    ignore_case=True,
    entity=("age", "bare"),
)

# Identity numbers checked by python-stdnum. ``strong``: the checksum (or a strict format) makes a
# false match unlikely, so no label is needed near the number; the others need one (``ID_CONTEXT``).
_ID_FORMS: list[tuple[str, Callable[[str], bool], str, bool]] = [
    # country, validator, candidate pattern (between word edges), strong
    ("es", dni.is_valid, r"\b\d{8}[- ]?[A-Za-z]\b", True),
    ("es", nie.is_valid, r"\b[XYZxyz][- ]?\d{7}[- ]?[A-Za-z]\b", True),
    ("es", cif.is_valid, r"\b[ABCDEFGHJNPQRSUVW][- ]?\d{7}[- ]?[0-9A-J]\b", True),
    ("is", kennitala.is_valid, r"\b\d{6}[- ]?\d{4}\b", True),
    ("gb", lambda v: is_nino(v), r"\b[A-Za-z]{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[A-Da-d]\b", True),
    ("gb", nhs.is_valid, r"\b\d{3}[ ]?\d{3}[ ]?\d{4}\b", False),
    ("us", ssn.is_valid, r"\b\d{3}[- ]\d{2}[- ]\d{4}\b", True),
    ("us", ssn.is_valid, r"\b\d{9}\b", False),
    ("it", codicefiscale.is_valid, r"\b[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]\b", True),
    ("fr", nir.is_valid, r"\b[12][ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}\b", True),
    ("be", nn.is_valid, r"\b\d{2}[.]?\d{2}[.]?\d{2}[- ]?\d{3}[.]?\d{2}\b", True),
    ("bg", egn.is_valid, r"\b\d{10}\b", False),
    ("cz", cz_rc.is_valid, r"\b\d{6}/?\d{3,4}\b", False),
    ("dk", cpr.is_valid, r"\b\d{6}-?\d{4}\b", False),
    ("ee", ik.is_valid, r"\b[1-6]\d{10}\b", False),
    ("fi", hetu.is_valid, r"\b\d{6}[-+A-FU-Ya-fu-y]\d{3}[0-9A-Ya-y]\b", True),
    ("gr", amka.is_valid, r"\b\d{11}\b", False),
    ("hr", oib.is_valid, r"\b\d{11}\b", False),
    ("ie", pps.is_valid, r"\b\d{7}[A-Wa-w][A-IWa-iw]?\b", True),
    ("lt", asmens.is_valid, r"\b[1-6]\d{10}\b", False),
    ("nl", bsn.is_valid, r"\b\d{9}\b", False),
    ("pl", pesel.is_valid, r"\b\d{11}\b", False),
    ("pt", pt_cc.is_valid, r"\b\d{8}[ ]?\d[ ]?[A-Za-z]{2}\d\b", True),
    ("ro", cnp.is_valid, r"\b[1-9]\d{12}\b", True),
    ("se", personnummer.is_valid, r"\b(?:\d{2})?\d{6}[-+]?\d{4}\b", False),
    ("si", emso.is_valid, r"\b\d{13}\b", False),
    ("sk", sk_rc.is_valid, r"\b\d{6}/?\d{3,4}\b", False),
    ("at", vnr.is_valid, r"\b\d{4}[ ]?\d{6}\b", False),
    ("de", idnr.is_valid, r"\b\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{3}\b", False),
]
# Python's re, safe here: it only ever reads one candidate of the NINO's form (at most 13 characters)
_NINO = re.compile(r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")


def is_nino(value: str) -> bool:
    """A UK National Insurance number by HMRC's format rules (it has no check digit)."""
    return _NINO.fullmatch(value.replace(" ", "").upper()) is not None


ID_COUNTRIES = tuple(dict.fromkeys(c for c, *_ in _ID_FORMS))

# Labels that say the number after them identifies someone (any language the product serves).
_ID_LABELS = (
    r"NHC|N\.?\s*H\.?\s*C|NASS|Episodio|N[ºo°]\s*(?:de\s+)?episodio|CIPA?|nhc/|N[ºo°]\.?\s*(?:de\s+)?(?:col(?:egiado)?|SS|historia|afiliaci[oó]n|tarjeta|"
    r"pasaporte|expediente)|N[ºo°]\s*Col|CIP|NUSS|NIF|NIE|DNI|pasaporte|historia\s+cl[ií]nica|"
    r"n[uú]mero\s+de\s+(?:historia|afiliaci[oó]n|colegiado|la\s+seguridad\s+social|pasaporte|tarjeta\s+sanitaria)|"
    r"SSN|social\s+security(?:\s+number)?|driver'?s?\s+licen[cs]e(?:\s+(?:number|no\.?|#))?|licen[cs]e\s+(?:number|no\.?)|"
    r"passport(?:\s+(?:number|no\.?))?|national\s+insurance(?:\s+number)?|NINO|NI\s+number|"
    r"kennitala|kennitölu|kt\.|vegabréf(?:snúmer)?"
)
_LABELLED_ID = _linear(
    rf"(?:{_ID_LABELS})\s*(?:is|es|er|number|no\.?|n[ºo°]\.?)?\s*[:#.=\-–]?\s*"
    r"(?P<value>[A-Za-z]{0,3}\d[\dA-Za-z]*(?:[ /.-]\d[\dA-Za-z]*){0,4})",
    ignore_case=True,
    entity=("value",),
)
ID_CONTEXT_CHARS = 40  # how far before a weak identifier its label may be
# searched in the 40 characters before a candidate (a slice: "ID" at its start has a word edge)
ID_CONTEXT = _linear(
    rf"(?:{_ID_LABELS}|identity|identidad|número|number|{BEFORE_WORD}ID{AFTER_WORD})", ignore_case=True
)

# searched in the 40 characters before a number (a slice, so that $ is where the number starts): a
# telephone word, what qualifies it ("Tel. no.", "Phone (mobile)"), and a verb or possessive between it
# and the number ("her contact number is", "su teléfono es el", "síminn hjá henni er")
_PHONE_WORDS = (
    r"tel(?:éfono|efono|ephone|\.)?|tfno\.?|tlf\.?|telf\.?|móvil|movil|celular|fax|phone|mobile|cell(?:phone)?|desk|"
    r"office|contact(?:o)?|n[uú]mero|number|sími|síma|símann|símans|síminn|símanúmer(?:ið|i)?|farsími|farsíma|"
    r"farsímanúmer(?:ið|i)?|GSM"
)
_PHONE_LABELS = _linear(
    rf"(?:(?:{_PHONE_WORDS})(?:\s*\(\w+\))?(?:\s+(?:no\.?|nr\.?|number|n[uú]mero|núm\.?))?"
    r"|reach\s+(?:me|him|her|us|them)\s+(?:at|on)|(?:call|answering|ring|text)(?:\s+\w+){0,3}\s+(?:on|at)|registered)"
    r"(?:\s+(?:is|es|er|was|era|el|de|del|hans|hennar|hjá|henni|honum|mitt|minn|mín|his|her|my|their)){0,3}"
    r"\s*[:.\-=,]?\s*[(+]*$"
    rf"|(?:{_PHONE_WORDS})(?:\s+\w+){{1,3}}\s*:\s*[(+]*$",  # "Teléfono móvil del paciente: "
    ignore_case=True,
)
_PHONE_CONTEXT_CHARS = 40
_PHONE_NAMED = _linear(
    r"(?:tel(?:éfono|efono|ephone|\.)|tfno|tlf|telf|móvil|movil|celular|fax|phone|mobile|cell|sími|síma|farsím)",
    ignore_case=True,
)
_ID_NAMED = _linear(rf"(?:{_ID_LABELS})", ignore_case=True)


def _phone_context(before: str) -> bool:
    """A telephone is named before a number, and no identifier is ("su número de teléfono es el …")."""
    return _PHONE_NAMED.search(before) is not None and _ID_NAMED.search(before) is None


# a label right after the number: "082 490 1693-Office", "3660170548 (fax)"; read in the 64
# characters after the number (Python's re took quadratic time on a long run of spaces there)
_PHONE_LABEL_AFTER = _linear(
    r"^\s*[-–(]?\s*(?:office|fax|mobile|cell|home|work|tel|phone|móvil|movil|fijo|sími|farsími)" + AFTER_WORD,
    ignore_case=True,
)
_AFTER_CHARS = 64
# phone-shaped without a label: 7 to 15 digits in 2 to 5 groups of 2 to 4 (a leading group of up
# to 5 when it starts with 0 or +), not followed by a capitalised word (house numbers in addresses)
_PHONE_SHAPE = _linear(
    r"(?:^|[^\w./-])(?P<m>(?P<number>(?:\+\d{1,3}[ -]?)?(?:\(\d{1,4}\)[ -]?)?(?:0\d{1,4}|\d{2,4})(?:[ .-]\d{2,4}){1,4})"
    r"(?:\s*(?:x|ext\.?)\s*\d{1,6})?)"
    # what may follow: not a letter, digit, "/" or "-"; "." or "," only if no digit comes next; spaces
    # only if no capitalised word comes next
    r"(?:$|[^\w\s/.,-]|[.,](?:$|[^\d])|\s+(?:$|[^A-Z\s]|[A-Z](?:$|[^a-z])))",
)
_PHONE_RUN = _linear(r"(?P<m>\+?\(?\d[\d ()./-]{5,20}\d(?:\s*(?:x|ext\.?)\s*\d{1,6})?)")
_PHONE_EXTENSION = _linear(r"^(?P<m>\s*(?:x|ext\.?)\s*\d{1,6})", ignore_case=True)
_REGIONS = {"en": ("US", "GB"), "es": ("ES",), "is": ("IS",)}
_SHAPE_SCORE = 0.5  # a number with a phone number's shape, neither validated nor labelled
_LABELLED_SCORE = 0.9  # a number after (or before) a telephone label


@dataclass(frozen=True, slots=True)
class IdForm:
    country: str
    is_valid: Callable[[str], bool]
    pattern: LinearPattern
    strong: bool


def _id_forms(countries: tuple[str, ...]) -> list[IdForm]:
    return [IdForm(c, valid, _form_pattern(p), strong) for c, valid, p, strong in _ID_FORMS if c in countries]


@functools.cache
def _form_pattern(pattern: str) -> LinearPattern:
    """Compiled once per process; a form shared by several countries is one object (scanned once)."""
    return _linear(_word_edges(pattern))


def _valid_iban(value: str) -> bool:
    """The IBAN checksum (ISO 13616, mod 97) and the country's length and format; national check
    digits inside the account number are not required (they differ by country and bank)."""
    try:
        stdnum_iban.validate(value, check_country=False)
    except ValueError:
        return False
    return True


def _windows(text: str, matches: Iterable[Found], margin: int) -> Iterator[tuple[int, str]]:
    """(offset, text) of the stretches around ``matches``, overlapping ones merged."""
    start = end = -1
    for m in matches:
        lo, hi = max(0, m.start() - margin), min(len(text), m.end() + margin)
        if lo <= end:
            end = max(end, hi)
            continue
        if end > start:
            yield start, text[start:end]
        start, end = lo, hi
    if end > start:
        yield start, text[start:end]


@functools.cache
def _shortest_number(region: str) -> int:
    """The fewest digits of a valid national number of ``region`` (9 for Spain, 10 for the US)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    lengths = metadata.general_desc.possible_length if metadata and metadata.general_desc else ()
    return min(lengths, default=1)


def _inside(entity: Entity, spans: list[Entity]) -> bool:
    return any(span.start <= entity.start and entity.end <= span.end for span in spans)


def _clipped(text: str, address: Entity, others: list[Entity]) -> Entity:
    """``address`` without what overlaps ``others``: the longer part before or after them."""
    start, end = address.start, address.end
    for other in sorted(others, key=lambda e: e.start):
        before, after = (start, min(end, other.start)), (max(start, other.end), end)
        start, end = max((before, after), key=lambda span: span[1] - span[0])
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not (text[end - 1].isalnum() or text[end - 1] in ".)"):
        end -= 1
    return Entity(start, end, address.label, address.score, address.detector)


def _extension_end(text: str, end: int) -> int:
    """The end of a telephone extension ("x12", "ext. 4") right after ``end``, else ``end``."""
    window = text[end : end + _AFTER_CHARS]
    extension = _PHONE_EXTENSION.search(window)
    return end + extension.end() if extension else end


def _label_after(text: str, end: int) -> bool:
    window = text[end : end + _AFTER_CHARS]
    label = _PHONE_LABEL_AFTER.search(window)
    # a label cut by the window's edge is no label
    return label is not None and (label.end(0) < len(window) or end + len(window) == len(text))


class PatternDetector:
    """E-mail addresses, telephone numbers, IBANs, payment cards, IP addresses, URLs, dates, ages
    and national identity numbers."""

    name = "patterns"
    languages = None  # every language

    def __init__(self, *, id_countries: tuple[str, ...] = ID_COUNTRIES, phone_regions: tuple[str, ...] = ()) -> None:
        self.id_forms = _id_forms(id_countries)
        self.phone_regions = phone_regions

    def detect(self, text: str, language: str | None) -> list[Entity]:
        found: list[Entity] = []
        for finder in (self._emails, self._ibans, self._cards, self._ips, self._urls, self._ids, self._dates):
            found.extend(finder(text))
        addresses = find_addresses(text, language, self.name)
        # digits inside an address that no label calls a phone number are its postcode or number (a
        # ZIP+4 code): an address never takes the digits of a phone number after its parts (see addresses)
        phones = [e for e in self._phones(text, language) if e.score >= _LABELLED_SCORE or not _inside(e, addresses)]
        found.extend(phones)
        found.extend(self._ages(text))
        # an address that reaches into a finding that outranks it keeps its other part (else it is lost)
        for address in addresses:
            clipped = _clipped(text, address, [e for e in found if e.label != DATE and e.overlaps(address)])
            if clipped == address or any(ch.isdigit() for ch in clipped.value(text)):
                found.append(clipped)
        return found

    def _entity(self, match: Found, label: str, score: float = 1.0) -> Entity:
        return Entity(match.start(), match.end(), label, score, self.name)

    def _emails(self, text: str) -> Iterator[Entity]:
        if "@" in text:
            for m in _EMAIL.finditer(text):
                yield self._entity(m, EMAIL)

    def _ibans(self, text: str) -> Iterator[Entity]:
        for m in _IBAN.finditer(text):
            value = m.value()
            # the pattern may run into a following word: shorten until the checksum holds
            while len(value) >= 15:
                if _valid_iban(value):
                    yield Entity(m.start(), m.start() + len(value), IBAN, 1.0, self.name)
                    break
                value = value[:-1].rstrip()

    def _cards(self, text: str) -> Iterator[Entity]:
        for m in _CARD.finditer(text):
            digits = "".join(ch for ch in m.value() if ch.isdigit())
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
                yield self._entity(m, CREDIT_CARD)
            elif 13 <= len(digits) <= 19 and digits[0] == "1" and luhn.is_valid(digits):
                yield self._entity(m, CREDIT_CARD, score=0.6)

    def _ips(self, text: str) -> Iterator[Entity]:
        for m in _IPV4.finditer(text):
            try:
                ipaddress.IPv4Address(m.value())
            except ValueError:
                continue
            yield self._entity(m, IP_ADDRESS)
        if "::" in text or text.count(":") >= 5:
            for m in _IPV6.finditer(text):
                try:
                    ipaddress.IPv6Address(m.value())
                except ValueError:
                    continue
                yield self._entity(m, IP_ADDRESS)

    def _urls(self, text: str) -> Iterator[Entity]:
        for m in _URL.finditer(text):
            value = m.value()
            if value.lower().rstrip(".") in _ABBREVIATIONS or all(ch == "." or ch.isdecimal() for ch in value):
                continue
            if "://" not in value and not value.lower().startswith("www.") and value.count(".") == 1:
                stem, tld = value.rsplit(".", 1)
                if len(tld) == 2 and (len(stem) < 3 or not tld.islower()):
                    continue  # "Sr.de", "kt.is": abbreviations, not domains
            yield self._entity(m, URL, score=0.8)

    def _ids(self, text: str) -> Iterator[Entity]:
        if not any(ch.isdigit() for ch in text):
            return
        for m in _LABELLED_ID.finditer(text):
            start = m.start()
            value = m.value().rstrip(".-/ ")
            if sum(ch.isdigit() for ch in value) >= 3:
                yield Entity(start, start + len(value), ID_NUMBER, 0.9, self.name)
        candidates: dict[str, list[Found]] = {}  # several countries share a form: scan it once
        for form in self.id_forms:
            matches = candidates.get(form.pattern.pattern)
            if matches is None:
                matches = candidates[form.pattern.pattern] = list(form.pattern.finditer(text))
            for m in matches:
                if not form.is_valid(m.value()):
                    continue
                before = text[max(0, m.start() - ID_CONTEXT_CHARS) : m.start()]
                if form.strong or (ID_CONTEXT.search(before) and not _phone_context(before)):
                    yield self._entity(m, ID_NUMBER, score=1.0 if form.strong else 0.8)

    def _dates(self, text: str) -> Iterator[Entity]:
        for m in _DATE.finditer(text):
            yield self._entity(m, DATE, score=0.7)

    def _ages(self, text: str) -> Iterator[Entity]:
        for m in _AGE.finditer(text):
            yield self._entity(m, AGE, score=0.7)

    def _phones(self, text: str, language: str | None) -> Iterator[Entity]:
        regions = self.phone_regions or (*_REGIONS.get(language or "", ()), "US", "GB", "ES", "IS")
        seen: set[tuple[int, int]] = set()
        runs = list(_PHONE_RUN.finditer(text))
        # phonenumbers' matcher is pure Python and scans every character: give it only the windows
        # around digit runs (a few per text) instead of the whole text, once per region
        for offset, window in _windows(text, runs, margin=4):
            covered: set[int] = set()
            digits = sum(ch.isdigit() for ch in window)
            # a region none of whose valid numbers has so few digits cannot find one here (a number
            # written with "+" is found by every region alike, so one region always reads the window)
            possible = [r for r in dict.fromkeys(regions) if _shortest_number(r) <= digits] or list(regions[:1])
            for region in possible:
                if covered and all(not ch.isdigit() or i in covered for i, ch in enumerate(window)):
                    break  # every digit of the window is in a number found for an earlier region
                for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
                    covered.update(range(match.start, match.end))
                    start, end = offset + match.start, offset + match.end
                    end = _extension_end(text, end)
                    if (start, end) not in seen:
                        seen.add((start, end))
                        yield Entity(start, end, PHONE, 0.8, self.name)
        # a number right after (or right before) a telephone label, whatever its form
        for m in runs:
            digits = sum(ch.isdigit() for ch in m.value())
            if 6 <= digits <= 15 and (
                _PHONE_LABELS.search(text[max(0, m.start() - _PHONE_CONTEXT_CHARS) : m.start()])
                or _label_after(text, m.end())
            ):
                yield self._entity(m, PHONE, score=_LABELLED_SCORE)
        for m in _PHONE_SHAPE.finditer(text):
            number = m.group("number") or ""
            if 7 <= sum(ch.isdigit() for ch in number) <= 15 and not _DATE.fullmatch(number):
                yield self._entity(m, PHONE, score=_SHAPE_SCORE)
