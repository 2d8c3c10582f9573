"""Person names found by rule, beside the statistical recognisers.

* A name after a title, a form field, a greeting or a phrase that introduces one ("Ms Carter",
  "Nombre: Lucía", "Dear Maria", "Kæri Jón", "my name is …"), first names alone included.
* A name found in full once is a name wherever its words come back in the same text ("Maria Lopez
  applied … Maria withdrew", "… Ms Lopez").
* Surnames with particles ("de la Fuente", "van der Berg") stay whole.
* Given-name lists confirm what a recogniser calls a place or an organisation ("Carmen de la Fuente"
  as a place) and single first names in Spanish: English from the US Census Bureau's 1990 lists
  (public domain), Spanish written by the project (``given_names/``). Icelandic names come from BÍN,
  through the Icelandic detector.

Every pattern runs on RE2, in time linear in the text (see
:class:`~soberana.privacy.detectors.LinearPattern`); a rule reads at most six words after its title.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

from soberana.privacy.detectors import BEFORE_WORD, LinearPattern, unicode_classes
from soberana.privacy.entities import ADDRESS, PERSON, Entity

_NAME_WORD = r"(?:Mc|Mac|O['’]|D['’])?\p{Lu}{1,2}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?|\p{Lu}\."
CONNECTOR = (
    r"(?:de(?:l| la| las| los)?|van(?: der| den| de)?|von(?: der| dem)?|y|i|e|der|den|ter|ten|da|do|dos|das|di|du|"
    r"le|la|bin|ibn)"
)
NAME = rf"(?:{_NAME_WORD})(?:[ \t]+(?:{CONNECTOR}[ \t]+)?(?:{_NAME_WORD})){{0,5}}"
_SHORT_NAME = rf"(?:{_NAME_WORD})(?:[ \t]+(?:{CONNECTOR}[ \t]+)?(?:{_NAME_WORD})){{0,3}}"
TITLES = (
    r"Dr\.?|Dra\.|Drs\.|Doctor|Doctora|doctor|doctora|Prof\.?|Profa\.|Professor|Sr\.|Sra\.|Srta\.|Sres\.|D\.|Dña\.|Don|"
    r"Doña|Señor|Señora|Señorita|señor|señora|señorita|Mr\.?|Mrs\.?|Ms\.?|Miss|Mx\.?|Mister|Sir|Dame|Lady|Lord|Herra|"
    r"herra|Frú|frú|Séra|séra"
)
FIELDS = (
    r"Nombre(?:\s+y\s+apellidos)?|Apellidos?|M[ée]dico(?:\s+responsable)?|Paciente|Enfermer[oa]|Responsable|"
    r"Autor(?:es|a)?|Remitido\s+por|Emitido\s+por|Responsable\s+cl[ií]nico|Firmado\s+por|Firmado|Name|Surname|"
    r"First\s+name|Last\s+name|Full\s+name|Patient|Applicant|Contact|Nafn|Fullt\s+nafn"
)
_SALUTATIONS = (
    r"[Dd]ear|[Dd]earest|[Hh]i|[Hh]ello|[Hh]ey|Good\s+(?:morning|afternoon|evening)|[Ee]stimad[oa]s?|[Qq]uerid[oa]s?|"
    r"[Aa]preciad[oa]|[Dd]istinguid[oa]|[Hh]ola|Buen(?:os|as)\s+(?:días|tardes|noches)|[Kk]æri|[Kk]æra|[Kk]æru|[Ss]æll|"
    r"[Ss]æl|Komdu\s+sæll?|Hæ|Halló|[Bb]lessaður|[Bb]lessuð|Góðan\s+dag(?:inn)?"
)
GREETINGS = _SALUTATIONS  # words a recogniser may take into the name after them ("Hola Pedro")
_SIGN_OFFS = (
    r"Best\s+wishes|Best\s+regards|Kind\s+regards|Warm\s+regards|Regards|Best|Cheers|Thanks|Thank\s+you|Many\s+thanks|"
    r"Yours\s+sincerely|Yours\s+faithfully|Yours\s+truly|Sincerely|Love|Saludos(?:\s+cordiales)?|Un\s+saludo|"
    r"Atentamente|Cordialmente|Muchas\s+gracias|Gracias|Kveðja|Bestu\s+kveðjur|Með\s+kveðju|Virðingarfyllst|Takk"
)
_INTRODUCTIONS = (
    r"[Mm]e\s+llamo|[Ll]lame\s+a|[Ll]lamar\s+a|[Hh]able\s+con|a\s+nombre\s+de|de\s+parte\s+de|reclamaci[oó]n\s+de|"
    r"[Mm]y\s+name\s+is|[Cc]all|[Cc]ontact|[Ss]poke\s+(?:to|with)|[Éé]g\s+heiti|[Hh]afðu\s+samband\s+við"
)


def _linear(pattern: str) -> LinearPattern:
    return LinearPattern(unicode_classes(pattern), entity=("name",), longest=200)


# after a title or a form field (a title after the field too): "Dra. Estefanía Romero", "Nombre: Ana"
_TITLED = _linear(
    BEFORE_WORD + rf"(?:(?:{TITLES})\s*|(?:{FIELDS})\s*:\s*(?:(?:{TITLES})\s*)?)(?P<name>{NAME})",
)
_INTRODUCED = _linear(BEFORE_WORD + rf"(?:{_INTRODUCTIONS})\s+(?P<name>{NAME})")
_GREETED = _linear(BEFORE_WORD + rf"(?:{_SALUTATIONS})[ \t]*,?[ \t]*(?:(?:{TITLES})[ \t]*)?(?P<name>{_SHORT_NAME})")
# a signature: a sign-off, then a name that ends its line ("Best wishes,\nTom", "Thanks, Ana")
_SIGNED = _linear(
    BEFORE_WORD + rf"(?:{_SIGN_OFFS})(?:[ \t]*,[ \t]*(?:\r?\n[ \t]*)?|[ \t]*\r?\n[ \t]*)(?P<name>{_SHORT_NAME})"
    r"[ \t]*(?:$|\r?\n|,)"
)
_TITLE_SET = {t.replace("\\", "").replace("?", "") for t in TITLES.split("|")} | {
    t.replace("\\", "").replace(".?", "") for t in TITLES.split("|") if t.endswith(".?")
}
_ADDRESS_WORDS = {"Apt", "Apartment", "Suite", "Flat", "Unit", "Calle", "Avenida", "Plaza", "Street", "Road", "Avenue"}
_CONNECTOR_WORDS = {
    "de",
    "del",
    "la",
    "las",
    "los",
    "y",
    "i",
    "e",
    "van",
    "von",
    "der",
    "den",
    "ter",
    "ten",
    "da",
    "do",
}
_CONNECTOR_WORDS |= {"dos", "das", "di", "du", "le", "bin", "ibn"}
# words that follow a greeting or a title and are no name
NOT_NAMES = {
    "Sir", "Sirs", "Madam", "Madame", "Mesdames", "All", "Team", "Customer", "Customers", "Colleague", "Colleagues",
    "Friend", "Friends", "Everyone", "Everybody", "Member", "Members", "Applicant", "Applicants", "Resident",
    "Residents", "Citizen", "Citizens", "Parent", "Parents", "Partner", "Partners", "Student", "Students", "Manager",
    "Hiring", "World", "There", "Folks", "Guys", "Señor", "Señora", "Señores", "Señoras", "Sres", "Cliente", "Clientes",
    "Ciudadano", "Ciudadana", "Ciudadanos", "Vecino", "Vecina", "Vecinos", "Todos", "Todas", "Equipo", "Compañero",
    "Compañera", "Compañeros", "Amigo", "Amiga", "Amigos", "Director", "Directora", "Usuario", "Usuaria", "Usuarios",
    "Viðskiptavinur", "Viðskiptavinir", "Félagi", "Félagar", "Allir", "Vinir", "Starfsfólk", "The", "Our", "Your",
    "My", "Support", "Service", "Editor", "Reader", "Readers", "Valued", "Future", "Council", "Department", "Office",
    "Datos", "Informe", "Fecha", "Edad", "Sexo", "Servicio", "Hospital", "Calle", "Avenida", "España", "El", "La",
    "Los", "Las", "Hi", "Hello", "Dear", "Thanks", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
    "Sunday", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December", "Lunes", "Martes", "Miércoles", "Jueves", "Viernes", "Sábado", "Domingo", "Enero",
    "Febrero", "Marzo", "Abril", "Mayo", "Junio", "Julio", "Agosto", "Septiembre", "Octubre", "Noviembre", "Diciembre",
    "Mr", "Mrs", "Ms", "Dr", "Sr", "Sra", "Don", "Doña", "Miss", "Best", "Regards", "Kind", "Many", "Thank", "Yours",
    "Atentamente", "Saludos", "Gracias", "Kveðja", "Takk", "I", "We", "You", "He", "She", "They", "It", "This", "That",
    "Us", "Centre", "Center", "Now", "Today", "Please", "Housing", "Services",
}  # fmt: skip


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    """``start``, ``end`` without leading titles (a title the rule read as part of the name: "Sr. D. Juan")
    and without full stops after the last word ("Dr. J. García." keeps its initials, not the full stop)."""
    words = text[start:end].split()
    while len(words) > 1 and words[0] in _TITLE_SET:
        start = text.index(words[1], start + len(words[0]))
        words.pop(0)
    # another title ends the name ("Alberto y Dña. Rocío" is two people), and so does the first word of an
    # address ("Mrs Diane Ostrova Suite 913")
    later = next(
        (i for i, w in enumerate(words) if i > 0 and (w in _TITLE_SET or w + "." in _TITLE_SET or w in _ADDRESS_WORDS)),
        None,
    )
    if later is not None:
        while later > 1 and words[later - 1] in _CONNECTOR_WORDS:
            later -= 1
        end = text.index(words[later - 1], start) + len(words[later - 1])
        end = start + len(" ".join(words[:later])) if text[start:end] != " ".join(words[:later]) else end
    while end > start and text[end - 1] == ".":
        end -= 1
    return start, end


def rule_names(text: str, score: float = 0.85, detector: str = "names") -> list[Entity]:
    """Names after a title, a form field, a phrase that introduces one, a greeting or a sign-off."""
    found: dict[tuple[int, int], Entity] = {}
    for pattern in (_TITLED, _INTRODUCED, _GREETED, _SIGNED):
        for start, end in _matches(pattern, text):
            words = text[start:end].split()
            if words and words[0] not in NOT_NAMES and words[0].rstrip(".") not in NOT_NAMES:
                found[start, end] = Entity(start, end, PERSON, score, detector)
    return list(found.values())


def _matches(pattern: LinearPattern, text: str) -> Iterator[tuple[int, int]]:
    """The names ``pattern`` finds, titles stripped; where a name ran into another title ("Alberto y
    Dña. Rocío"), the text from that title on is read again (a bounded slice)."""
    for m in pattern.finditer(text):
        start, end = _stripped(text, m.start(), m.end())
        yield start, end
        if end < m.end() - 1:  # cut before a title the pattern read as part of the name
            offset = end
            for again in pattern.finditer(text[offset : offset + 80]):
                yield _stripped(text, offset + again.start(), offset + again.end())


# -- names repeated, particles ---------------------------------------------------------------------

# particles that only ever join a surname (not "de" alone: "Juan de Madrid" is Juan from Madrid)
_PARTICLE = (
    r"(?:de[ \t]+la|de[ \t]+las|de[ \t]+los|van[ \t]+der|van[ \t]+den|von[ \t]+der|van|von|dos|das|du|di|bin|ibn|"
    r"ter|ten)"
)
_PARTICLES = _linear(
    rf"^(?P<name>[ \t]+{_PARTICLE}[ \t]+\p{{Lu}}[\p{{L}}\p{{M}}'’-]+(?:-\p{{Lu}}[\p{{L}}\p{{M}}'’-]+)?)"
)
_MAX_SOURCES = 100  # names whose words are looked for again in one text
_MAX_WORDS = 200


def _words_of(value: str) -> Iterator[str]:
    for word in value.split():
        word = word.strip(".,;:()\"'«»")
        if _name_shaped(word) and word not in NOT_NAMES and word.lower() not in _CONNECTOR_WORDS:
            yield word


def _name_shaped(word: str) -> bool:
    """ "Maria", "O'Neill": a capital, then a lower-case letter ("NºCol", "DNI" are no names)."""
    return len(word) >= 2 and word[0].isupper() and (word[1] != word[1].upper() or word[1] in "'’")


def _source(text: str, entity: Entity, language: str | None) -> bool:
    """Whether ``entity`` is sure enough a person's name for its words to be looked for again: found by
    a rule or the Icelandic lexicon, or several words that start with a known given name."""
    if entity.label != PERSON:
        return False
    if entity.score >= 0.8:
        return True
    words = entity.value(text).split()
    return len(words) >= 2 and words[0] in given_names(language or "")


def complete_names(text: str, entities: Iterable[Entity], language: str | None = None) -> list[Entity]:
    """What the detectors found, plus their names' particles and every later mention of a name's words.

    A multi-word name (or a single word a rule found after a title or a greeting) is a source: each
    of its words, wherever it stands alone in the text, is the same person's name. A word that is
    also written in lower case in the text ("Will", "will") is taken only where it does not open a
    sentence."""
    result = list(entities)
    people = [e for e in result if e.label == PERSON]
    if not people:
        return result
    result = [_with_particles(text, e) if e.label == PERSON else e for e in result]
    sure = [e for e in result if _source(text, e, language)]
    result = [_without_names(text, e, sure) if e.label == ADDRESS else e for e in result]
    words = sorted({w for e in sure[:_MAX_SOURCES] for w in _words_of(e.value(text))})[:_MAX_WORDS]
    spans = sorted((e.start, e.end) for e in result if e.label == PERSON)
    found = sorted((start, word) for word in words for start in _occurrences(text, word))
    common: dict[str, bool] = {}  # word → also written in lower case in the text ("Will", "will")
    repeated: list[Entity] = []
    for start, word in found:
        if _within(spans, start) or _after_place_word(text, start):
            continue
        if _opens_sentence(text, start):
            if word not in common:
                common[word] = next(_occurrences(text, word.lower()), -1) >= 0
            if common[word]:
                continue
        end = start + len(word)
        if repeated and repeated[-1].end >= start:
            continue  # a shorter word inside a longer one found at the same place
        if repeated and repeated[-1].end + 1 == start and text[repeated[-1].end] == " ":
            last = repeated.pop()  # "Maria Lopez" again: one name
            repeated.append(Entity(last.start, end, PERSON, 0.6, "names-repeated"))
        else:
            repeated.append(Entity(start, end, PERSON, 0.6, "names-repeated"))
    return result + repeated


def _within(spans: list[tuple[int, int]], position: int) -> bool:
    """Whether ``position`` is inside one of ``spans`` (sorted by start)."""
    index = bisect.bisect_right(spans, (position, 1 << 62)) - 1
    return any(start <= position < end for start, end in spans[max(0, index - 8) : index + 1])


def _occurrences(text: str, word: str) -> Iterator[int]:
    """Where ``word`` stands as a word of its own in ``text`` ("Maria" in "Maria's", not in "Mariana")."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before in "-_") and not (after.isalnum() or after in "-_"):
            yield start
        start = text.find(word, end)


# prepositions before a place: "Rosa Toledo vive en Toledo" (a name's word there is a place's)
_PLACE_WORDS = {"en", "a", "desde", "hasta", "hacia", "from", "in", "to", "at", "near", "frá", "í", "á", "til"}


def _after_place_word(text: str, start: int) -> bool:
    before = text[max(0, start - 8) : start].split()
    return bool(before) and before[-1].lower() in _PLACE_WORDS


def _opens_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 4) : start].rstrip(" \t\"'«(")
    return not before or before[-1] in ".!?:\n"


def _without_names(text: str, address: Entity, people: list[Entity]) -> Entity:
    """``address`` without a person's name it starts with, before its first digit ("Andrés Molina,
    29001 Málaga"; "Mrs Diane Ostrova Suite 913")."""
    value = address.value(text)
    digit = next((i for i, ch in enumerate(value) if ch.isdigit()), len(value))
    for person in people:
        if person.start < address.start + digit and person.end > address.start and person.end < address.end:
            start = person.end
            while start < address.end and not text[start].isalnum():
                start += 1
            if any(ch.isdigit() for ch in text[start : address.end]):
                return Entity(start, address.end, address.label, address.score, address.detector)
    return address


def _with_particles(text: str, entity: Entity) -> Entity:
    """``entity`` with the particles and surname after it ("Ana" + " de la Fuente")."""
    m = _PARTICLES.search(text[entity.end : entity.end + 60])
    if m is None:
        return entity
    return Entity(entity.start, entity.end + m.end(), entity.label, entity.score, entity.detector)


_SAINTS = {"San", "Santa", "Santo", "Saint", "Sankt", "Santiago"}  # "Santiago de Compostela", "San Juan"

# -- given names -----------------------------------------------------------------------------------

_LISTS = Path(__file__).resolve().parent / "given_names"


@functools.cache
def given_names(language: str) -> frozenset[str]:
    """The given names of a language's list (empty when the project has none for it)."""
    path = _LISTS / f"{language}.txt"
    if not path.is_file():
        return frozenset()
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def starts_with_given_name(value: str, language: str) -> bool:
    """Whether ``value`` is a capitalised name of two to four words whose first is a known given name."""
    words = value.split()
    names = given_names(language)
    if not 2 <= len(words) <= 4 or words[0] not in names or words[0] in _SAINTS:
        return False
    return all(w[:1].isupper() or w in _CONNECTOR_WORDS for w in words[1:])
