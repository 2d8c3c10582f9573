"""Whether the retrieved passages answer a question, or the assistant should abstain.

One cosine threshold is not enough: a question asked in another language than the pages scores
lower against the page that answers it than a same-language question does, and a question that the
pages *nearly* answer (a page on the same service, an article about the same town) scores as high as
one they answer. The decision reads several kinds of evidence (:class:`Evidence`): the best passage's
similarity and its margin over the best passage of another document, the best single sentence's
similarity, the share of the question's words the best passages hold, the question's numbers and
names found in them or not, whether the lexical and dense rankings agree on the best document, and
whether the best sentences hold what the question asks for (an amount for "how much", a date for
"when": :func:`soberana.knowledge.reading.answer_type`) — a page on the right service that never
states the fee asked for is the commonest near miss.

A logistic model per embedding model and per relation between the question's language and the best
passage's (``same``, ``other``) turns them into the probability that the passages answer; the
assistant answers at or above the model's operating point. The coefficients and operating points
were fitted on the train split of the project's development set (``bench/retrieval/devset``), never
on the benchmark's test questions, with the operating point chosen for precision (an abstention must
be right: refusing an answerable question costs a citizen less than quoting unrelated text as an
answer). A model without fitted coefficients keeps one cosine threshold; so does an installation
that sets ``SOBERANA_KNOWLEDGE_ABSTAIN_THRESHOLD``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from soberana.knowledge.reading import Reading, fold_word, names, numbers, term_overlap
from soberana.knowledge.search import Retrieval

# Lowest best-passage similarity at which an answer is given by a model without a fitted decision,
# or by the fitted one's fallback; measured on bench/retrieval for multilingual-e5-small.
CALIBRATED_THRESHOLDS = {"multilingual-e5-small": 0.845}
DEFAULT_THRESHOLD = 0.5
FEATURES = (
    "similarity",
    "margin",
    "sentence",
    "coverage",
    "missing_numbers",
    "missing_names",
    "agreement",
    "type_missing",
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the decision reads of a retrieval (see the module's docstring)."""

    similarity: float  # the best passage's cosine with the question
    margin: float  # over the best passage of another document
    sentence: float  # the best sentence's cosine, read in its section
    coverage: float  # share of the question's words held by the best passage (with its title and headings)
    missing_numbers: float  # share of the question's numbers in none of the passages read
    missing_names: float  # share of the question's names in none of the passages read
    agreement: float  # 1 when the best passage also ranks among the first lexically, else 0
    type_missing: float  # 1 when no best sentence holds what the question asks for (an amount, a date…)
    relation: str  # "same" or "other": the question's language and the best passage's

    def values(self) -> list[float]:
        row = asdict(self)
        return [float(row[name]) for name in FEATURES]


@dataclass(frozen=True, slots=True)
class Logistic:
    """``P(answerable) = σ(bias + Σ weight × (feature − mean) / scale)`` over ``features`` (names of
    :data:`FEATURES`); answer when ``≥ cut``."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    cut: float

    def probability(self, evidence: Evidence) -> float:
        row = dict(zip(FEATURES, evidence.values(), strict=True))
        z = self.bias + sum(
            w * (row[name] - m) / s
            for name, w, m, s in zip(self.features, self.weights, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@dataclass(frozen=True, slots=True)
class Decision:
    answer: bool
    probability: float | None
    evidence: Evidence | None
    threshold: float


# Fitted by bench/retrieval/fit_answerability.py on the development set's train split (155 questions,
# 50 of them near misses), operating point for precision; see docs/knowledge.md.
_READ = ("similarity", "sentence", "coverage", "type_missing")
FITTED: dict[str, dict[str, Logistic]] = {
    "multilingual-e5-small": {
        "same": Logistic(
            _READ,
            (0.2335, 0.9699, -0.4457, -0.5283),
            1.0058,
            (0.8944, 0.8929, 0.6276, 0.058),
            (0.0236, 0.0251, 0.1945, 0.2337),
            0.125,
        ),
        "other": Logistic(
            _READ,
            (-0.2222, 0.8071, -0.5094, -1.2577),
            0.6604,
            (0.8548, 0.854, 0.2375, 0.093),
            (0.0228, 0.0239, 0.1707, 0.2905),
            0.4186,
        ),
    }
}


def evidence_of(question: str, language: str | None, retrieval: Retrieval, reading: Reading | None) -> Evidence:
    hits = retrieval.hits
    best = max(hits, key=lambda h: h.dense_score if h.dense_score is not None else -1.0)
    top = best.dense_score or 0.0
    others = [h.dense_score for h in hits if h.document_id != best.document_id and h.dense_score is not None]
    margin = top - max(others) if others else 0.1
    first = hits[0]
    read = hits[:3]
    text = " ".join([first.title, *first.heading_path, first.text])
    coverage = term_overlap(question, language, text, first.language)
    together = " ".join(" ".join([h.title, *h.heading_path, h.text]) for h in read)
    wanted_numbers = numbers(question)
    missing_numbers = len(wanted_numbers - numbers(together)) / len(wanted_numbers) if wanted_numbers else 0.0
    wanted_names = names(question)
    have = {w[:5] for w in _folded_words(together)}
    missing_names = len(wanted_names - have) / len(wanted_names) if wanted_names else 0.0
    lexical_first = sorted((h for h in hits if h.lexical_score), key=lambda h: -(h.lexical_score or 0.0))[:3]
    agreement = 1.0 if any(h.document_id == first.document_id for h in lexical_first) else 0.0
    relation = "other" if language and first.language and language != first.language else "same"
    return Evidence(
        top,
        margin,
        reading.best_cosine if reading is not None else top,
        coverage,
        missing_numbers,
        missing_names,
        agreement,
        reading.type_missing if reading is not None else 0.0,
        relation,
    )


def _folded_words(text: str) -> list[str]:
    return [fold_word(w) for w in text.split()]


def threshold_for(model: str, configured: float | None) -> float:
    """The cosine threshold of a model without a fitted decision (or the installation's own)."""
    if configured is not None:
        return configured
    return CALIBRATED_THRESHOLDS.get(model, DEFAULT_THRESHOLD)


def decide(
    model: str,
    configured: float | None,
    question: str,
    language: str | None,
    retrieval: Retrieval,
    reading: Reading | None,
) -> Decision:
    """Whether to answer ``question`` from ``retrieval``, for collections embedded with ``model``."""
    threshold = threshold_for(model, configured)
    if not retrieval.hits:
        return Decision(False, None, None, threshold)
    evidence = evidence_of(question, language, retrieval, reading)
    fitted = FITTED.get(model) if configured is None else None
    if fitted is None or evidence.relation not in fitted:
        return Decision(evidence.similarity >= threshold, None, evidence, threshold)
    logistic = fitted[evidence.relation]
    probability = logistic.probability(evidence)
    return Decision(probability >= logistic.cut, probability, evidence, logistic.cut)


def needs_reading(model: str, configured: float | None) -> bool:
    """Whether the decision for ``model`` reads the passages sentence by sentence."""
    return configured is None and model in FITTED
