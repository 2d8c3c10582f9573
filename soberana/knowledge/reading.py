"""Reading the best passages sentence by sentence: which sentence answers the question.

The extractive answer quotes sentences, and the answerability decision reads how well the best one
matches, so both use one :class:`Reading` of the retrieved passages. A sentence's score is evidence
of several kinds, not similarity alone:

* its embedding's cosine with the question's, the sentence read under its page's title and section
  heading (``"Minor works permit › Fees: Processing fee | 60 €"`` answers "how much is the minor works
  permit?" where the table row alone does not);
* the share of the question's words it holds (:func:`term_overlap`: stems in the question's language,
  word beginnings across languages, where names and numbers still meet);
* the question's numbers found in it, and whether it holds what the question asks for
  (:func:`answer_type`: an amount for "how much", a date or duration for "when" and "how long", a
  number for "how many", a name for "who");
* a small prior for the passages ranked first.

A sentence that only makes sense with its neighbour is quoted with it: one that opens with a word
pointing back ("This", "Esto", "Þetta"…) brings the sentence before it, and one that ends with a colon
the line after it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from soberana.knowledge.search import Hit
from soberana.knowledge.text import analyse, cognate_terms

# Weights of the sentence score (cosine + these); tuned on the development set's train split
# (bench/retrieval/devset), see docs/knowledge.md.
OVERLAP_WEIGHT = 0.06
NUMBER_WEIGHT = 0.02
TYPE_WEIGHT = 0.03  # a sentence that holds what the question asks for (an amount, a date, a number, a name)
ORDER_PRIOR = 0.01  # per place in the retrieval's order, among the passages read
QUOTE_MARGIN = 0.08  # a further sentence is quoted when it scores within this of the best
MAX_QUOTES = 3
TYPE_SENTENCES = 3  # the best sentences read for what the question asks for

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"“¿¡(]?[A-ZÁÉÍÓÚÝÞÆÖÑÜ0-9])")
# What a question asks for, by its question words (English, Spanish, Icelandic, Polish, Portuguese),
# and what a sentence must hold to answer it. The patterns are bounded (no nested repetition).
_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "amount",
        re.compile(
            r"\b(?:how much|what (?:is the |are the )?(?:cost|price|fee|rate|penalty|fine)s?|cu[aá]nt[oa] "
            r"(?:cuesta|cobra|dinero|pag|es|son|vale)|qu[eé] (?:precio|tasa|porcentaje|multa)|precio|porcentaje|"
            r"hva[ðd] kosta|hversu (?:há|hátt|mikl|mikið)|hve (?:há|mikið)|ile (?:kosztuje|wynosi|zapłac|płac)|"
            r"jak(?:a|ie) (?:jest )?(?:stawka|opłata|kara)|quanto (?:custa|paga|cobra|recebo|é|vale)|qual (?:é )?"
            r"(?:a taxa|o valor|o montante|a multa))",
            re.IGNORECASE,
        ),
    ),
    (
        "time",
        re.compile(
            r"\b(?:when|how long|how soon|what time|which (?:year|date|day)|what (?:year|date|day)|deadline|"
            r"cu[aá]ndo|cu[aá]nto (?:tiempo|tarda)|plazo|qu[eé] (?:año|día|fecha)|con cu[aá]nta antelaci[oó]n|"
            r"hvenær|hversu (?:lengi|langan)|klukkan hvað|hvaða (?:ár|dag)|kiedy|jak długo|ile czasu|"
            r"w którym roku|z jakim wyprzedzeniem|quando|quanto tempo|prazo|em que (?:ano|dia|data))",
            re.IGNORECASE,
        ),
    ),
    (
        "count",
        re.compile(
            r"\b(?:how many|cu[aá]nt[oa]s|hversu (?:marg|mörg)|hve (?:marg|mörg)|ile\b|quant[oa]s\b)",
            re.IGNORECASE,
        ),
    ),
    ("person", re.compile(r"\b(?:who|whom|qui[eé]n(?:es)?|kto|kogo|quem|hverj\w{0,3})\b", re.IGNORECASE)),
)
_AMOUNT = re.compile(
    r"(?:[€$£]\s?\d|\d[\d.,]{0,20}\s?(?:€|%|per ?cent|por ciento|prósent|euros?\b|EUR\b|kr\b|krón|milljón|"
    r"milljarð|pounds?\b|£|\$|zł|reais?\b))",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\d|\b(?:days?|weeks?|months?|years?|hours?|minutes?|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"d[ií]as?|semanas?|mes(?:es)?|años?|horas?|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
    r"octubre|noviembre|diciembre|dag\w{0,3}|vik\w{0,3}|mánuð\w{0,3}|ár\w{0,3}|klukk\w{0,3}|janúar|febrúar|"
    r"apríl|maí|júní|júlí|ágúst|október|nóvember|desember)\b",
    re.IGNORECASE,
)
_COUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|thousand|dozen|"
    r"dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|veinte|cien|mil|"
    r"tveir|tvær|tvö|þrír|þrjár|þrjú|fjórir|fjórar|fjögur|fimm|sex|sjö|átta|níu|tíu|ellefu|tólf|tuttugu|hundr\w{0,3}|"
    r"þúsund)\b",
    re.IGNORECASE,
)
_PUNCTUATION = "\"'“”‘’«»()[]¿¡?!.,;:"
_NUMBER = re.compile(r"\d[\d.,]{0,20}")
# words that point back to the sentence before: a sentence opening with one is quoted with it
_POINTS_BACK = frozenset(
    " ".join(
        (
            "this these that those it they such he she its their",
            "este esta esto estos estas ese esa eso esos esas ello ellos ellas dicho dicha su sus",
            "þetta þessi þessir þessar það þeir þær hann hún þau slíkt",
            "to ten ta te tego ich isso isto esse essa eles elas",
        )
    ).split()
)


def sentences(text: str) -> list[str]:
    """The sentences of a passage (lines first, then sentence ends); fragments and table headers left out."""
    parts: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-•*").strip()
        if line:
            parts.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return [p for p in parts if len(p.split()) >= 3 and not _table_header(p)]


def _table_header(line: str) -> bool:
    """A table row of a few words and no figures: most likely the header ("Permit | Fee")."""
    return " | " in line and not any(c.isdigit() for c in line) and len(line.split()) <= 8


def answer_type(question: str) -> str | None:
    """What ``question`` asks for: ``amount``, ``time``, ``count``, ``person``, or None (anything else)."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return None


def asks_for_amount(question: str) -> bool:
    """Whether a question asks how much something costs or comes to."""
    return answer_type(question) == "amount"


def holds(kind: str | None, sentence: str, question: str = "") -> bool:
    """Whether ``sentence`` holds what a question of ``kind`` asks for (an amount, a date or duration, a
    number, a name that the question does not already give); always true for other questions."""
    if kind == "amount":
        return _AMOUNT.search(sentence) is not None
    if kind == "time":
        return _TIME.search(sentence) is not None
    if kind == "count":
        return _COUNT.search(sentence) is not None
    if kind == "person":
        return bool(names(sentence) - names(question))
    return True


def numbers(text: str) -> set[str]:
    """The numbers written in ``text``, without their separators."""
    found = {re.sub(r"[.,]", "", n.rstrip(".,")) for n in _NUMBER.findall(text)}
    return {n for n in found if n}


def names(text: str) -> set[str]:
    """Capitalised words after a sentence's first word (names of people, places, services), folded."""
    found: set[str] = set()
    words = text.split()
    for i, word in enumerate(words):
        clean = word.strip(_PUNCTUATION)
        if i == 0 or len(clean) < 3 or not clean[0].isupper() or words[i - 1].endswith((".", "?", "!")):
            continue
        found.add(fold_word(clean)[:5])
    return found


def fold_word(word: str) -> str:
    """A word lower-cased, without accents or the punctuation around it."""
    word = word.strip(_PUNCTUATION).lower()
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def term_overlap(question: str, language: str | None, text: str, text_language: str | None) -> float:
    """The share of the question's words found in ``text``: its stems where both are in one language,
    else word beginnings (cognates, names and numbers)."""
    if language and text_language and language != text_language:
        wanted = set(cognate_terms(question))
        have = set(cognate_terms(text))
    else:
        wanted = set(analyse(question, language))
        have = set(analyse(text, text_language or language))
    return len(wanted & have) / len(wanted) if wanted else 0.0


def _in_section(hit: Hit, sentence: str) -> str:
    """A sentence as the embedding model reads it: under its page's title and section heading, so that
    every candidate carries the same page context and the sentences differ by what they say."""
    heading = hit.heading_path[-1] if hit.heading_path else None
    where = f"{hit.title} › {heading}" if heading and heading != hit.title else hit.title
    return f"{where}: {sentence}"


@dataclass(slots=True)
class Candidate:
    passage: int  # 1-based, in the retrieval's order
    position: int  # the sentence's place in its passage
    text: str
    cosine: float = 0.0
    score: float = 0.0
    holds: bool = True  # what the question asks for (:func:`holds`)


@dataclass(slots=True)
class Reading:
    """The candidate sentences of the best passages, scored (see the module's docstring)."""

    candidates: list[Candidate]
    hits: list[Hit]
    kind: str | None = None  # what the question asks for (:func:`answer_type`), once scored

    @property
    def type_missing(self) -> float:
        """1 when the question asks for an amount, a time, a number or a person and none of the best
        sentences holds one; else 0."""
        if self.kind is None:
            return 0.0
        best = sorted(self.candidates, key=lambda c: -c.score)[:TYPE_SENTENCES]
        return 0.0 if any(c.holds for c in best) else 1.0

    @property
    def best(self) -> Candidate | None:
        return max(self.candidates, key=lambda c: c.score, default=None)

    @property
    def best_cosine(self) -> float:
        return max((c.cosine for c in self.candidates), default=0.0)

    def quotes(self) -> list[Candidate]:
        """One to three sentences, in reading order: the best, those within :data:`QUOTE_MARGIN` of it, and
        the neighbours a chosen sentence needs."""
        best = self.best
        if best is None:
            return []
        ranked = sorted(self.candidates, key=lambda c: -c.score)
        chosen = [c for c in ranked if c.score >= best.score - QUOTE_MARGIN][:MAX_QUOTES]
        for candidate in list(chosen):
            for neighbour in self._needs(candidate):
                if neighbour not in chosen and len(chosen) < MAX_QUOTES:
                    chosen.append(neighbour)
        return sorted(chosen, key=lambda c: (c.passage, c.position))

    def _needs(self, candidate: Candidate) -> list[Candidate]:
        first = candidate.text.split(maxsplit=1)[0].strip("\"'“(¿¡,").lower() if candidate.text.split() else ""
        same = {c.position: c for c in self.candidates if c.passage == candidate.passage}
        needed = []
        if first in _POINTS_BACK and candidate.position - 1 in same:
            needed.append(same[candidate.position - 1])
        if candidate.text.rstrip().endswith(":") and candidate.position + 1 in same:
            needed.append(same[candidate.position + 1])
        return needed


def candidates_of(hits: Sequence[Hit], passages: int) -> list[Candidate]:
    found = [Candidate(i, j, s) for i, hit in enumerate(hits[:passages], 1) for j, s in enumerate(sentences(hit.text))]
    if not found and hits:
        found = [Candidate(1, 0, hits[0].text)]
    return found


def score(
    reading: Reading,
    question: str,
    language: str | None,
    vectors: np.ndarray | None,
    query_vector: np.ndarray | None,
    passages: int,
) -> None:
    """Set each candidate's cosine (when vectors are given) and score."""
    if vectors is not None and query_vector is not None and len(reading.candidates):
        cosines = np.asarray(vectors, dtype=np.float32) @ np.asarray(query_vector, dtype=np.float32)
        for candidate, cosine in zip(reading.candidates, cosines.tolist(), strict=True):
            candidate.cosine = float(cosine)
    kind = answer_type(question)
    reading.kind = kind
    wanted_numbers = numbers(question)
    for candidate in reading.candidates:
        hit = reading.hits[candidate.passage - 1]
        overlap = term_overlap(question, language, candidate.text, hit.language)
        found = len(wanted_numbers & numbers(candidate.text)) / len(wanted_numbers) if wanted_numbers else 0.0
        candidate.holds = holds(kind, candidate.text, question)
        candidate.score = (
            candidate.cosine
            + OVERLAP_WEIGHT * overlap
            + NUMBER_WEIGHT * found
            + (TYPE_WEIGHT if kind and candidate.holds else 0.0)
            + ORDER_PRIOR * (passages - candidate.passage)
        )


def section_texts(reading: Reading) -> list[str]:
    """What the embedding model reads for each candidate."""
    return [_in_section(reading.hits[c.passage - 1], c.text) for c in reading.candidates]
