"""The answerability decision: the evidence it reads of a retrieval, the fitted model per language
relation, and the single threshold where there is none (or the installation sets one)."""

from __future__ import annotations

import pytest

from soberana.knowledge import answerability
from soberana.knowledge.answerability import (
    FEATURES,
    Evidence,
    Logistic,
    decide,
    evidence_of,
    needs_reading,
    threshold_for,
)
from soberana.knowledge.reading import Candidate, Reading
from soberana.knowledge.search import Hit, Retrieval


def hit(chunk_id: int, document: str, text: str, dense: float, language: str = "en", lexical: float = 0.0) -> Hit:
    return Hit(
        chunk_id,
        document,
        "col",
        "Parking permits",
        None,
        [],
        text,
        None,
        language,
        dense_score=dense,
        lexical_score=lexical or None,
    )


PERMIT = "A permit for a second car in zone 2 costs 90 euros a year in Reykjavík."


def retrieval(*hits: Hit) -> Retrieval:
    return Retrieval(list(hits), "en")


def test_thresholds_are_calibrated_per_model_and_configurable() -> None:
    assert threshold_for("multilingual-e5-small", None) > 0.8
    assert threshold_for("some-other-model", None) == 0.5
    assert threshold_for("multilingual-e5-small", 0.7) == 0.7


def test_the_evidence_reads_margin_coverage_numbers_names_and_agreement() -> None:
    found = retrieval(
        hit(1, "permits", PERMIT, 0.88, lexical=5.0),
        hit(2, "permits", "Apply online.", 0.86),
        hit(3, "library", "The library opens at nine.", 0.83, lexical=1.0),
    )
    reading = Reading([Candidate(1, 0, PERMIT, cosine=0.91)], found.hits)
    evidence = evidence_of("What does a second car permit in zone 2 in Reykjavík cost?", "en", found, reading)
    assert evidence.similarity == pytest.approx(0.88)
    assert evidence.margin == pytest.approx(0.05)  # over the best passage of another document
    assert evidence.sentence == pytest.approx(0.91)
    assert evidence.coverage == pytest.approx(1.0)
    assert evidence.missing_numbers == 0.0 and evidence.missing_names == 0.0
    assert evidence.agreement == 1.0 and evidence.relation == "same"
    assert evidence.type_missing == 0.0  # no reading of answer types here: nothing is missing

    near_miss = evidence_of("How much is a permit for zone 7 in Akureyri for a motorbike?", "en", found, reading)
    assert near_miss.missing_numbers == 1.0  # "7" is in no passage read
    assert near_miss.missing_names == 1.0  # nor is Akureyri
    assert near_miss.coverage < 1.0  # "motorbike" is not on the page


def test_a_question_in_another_language_than_the_best_passage_is_an_other_relation() -> None:
    found = Retrieval([hit(1, "permits", PERMIT, 0.84)], "es")
    evidence = evidence_of("¿Cuánto cuesta el permiso para un segundo coche?", "es", found, None)
    assert evidence.relation == "other"
    assert evidence.sentence == evidence.similarity  # without a reading, the passage's similarity
    assert evidence.agreement == 0.0  # not found lexically at all


def test_without_a_fitted_model_one_cosine_threshold_decides() -> None:
    found = retrieval(hit(1, "permits", PERMIT, 0.80))
    assert "some-other-model" not in answerability.FITTED
    decision = decide("some-other-model", None, "Zone 2?", "en", found, None)
    assert decision.answer and decision.probability is None and decision.threshold == 0.5
    assert not decide("some-other-model", 0.85, "Zone 2?", "en", found, None).answer
    assert not decide("some-other-model", None, "Zone 2?", "en", retrieval(), None).answer  # nothing found


def test_a_fitted_model_decides_per_language_relation_unless_the_installation_sets_a_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a toy model that answers only when the question's numbers are all found
    zero = tuple(0.0 for _ in FEATURES)
    one = tuple(1.0 for _ in FEATURES)
    weights = tuple(-8.0 if name == "missing_numbers" else 0.0 for name in FEATURES)
    monkeypatch.setitem(
        answerability.FITTED,
        "toy",
        {
            "same": Logistic(FEATURES, weights, 4.0, zero, one, 0.5),
            "other": Logistic(FEATURES, zero, -1.0, zero, one, 0.5),
        },
    )
    found = retrieval(hit(1, "permits", PERMIT, 0.70))
    assert needs_reading("toy", None) and not needs_reading("toy", 0.6) and not needs_reading("other", None)
    answered = decide("toy", None, "Is zone 2 included?", "en", found, None)
    assert answered.answer and answered.probability == pytest.approx(1 / (1 + 2.718281828**-4.0), abs=1e-6)
    assert not decide("toy", None, "Is zone 7 included?", "en", found, None).answer
    assert not decide("toy", None, "¿Incluye la zona 2?", "es", found, None).answer  # the "other" model
    # an installation's own threshold replaces the fitted decision
    assert decide("toy", 0.6, "Is zone 7 included?", "en", found, None).answer


def test_evidence_values_follow_the_feature_order() -> None:
    evidence = Evidence(0.9, 0.1, 0.8, 0.5, 0.0, 1.0, 1.0, 0.0, "same")
    assert evidence.values() == [0.9, 0.1, 0.8, 0.5, 0.0, 1.0, 1.0, 0.0]
    assert len(FEATURES) == len(evidence.values())


def test_the_fitted_model_answers_a_page_that_states_what_was_asked_and_not_one_that_does_not() -> None:
    """The shipped model for the embedded default: the same passage similarity, but the best sentences
    give no amount for a "how much" question (the commonest near miss) and the best sentence matches less."""
    model = answerability.FITTED["multilingual-e5-small"]
    assert needs_reading("multilingual-e5-small", None)
    for relation, similarity in (("same", 0.895), ("other", 0.855)):
        states = Evidence(similarity, 0.04, similarity + 0.005, 0.5, 0.0, 0.0, 1.0, 0.0, relation)
        lacks = Evidence(similarity, 0.04, similarity - 0.04, 0.5, 0.0, 0.0, 1.0, 1.0, relation)
        assert model[relation].probability(states) >= model[relation].cut
        assert model[relation].probability(lacks) < model[relation].cut
        assert model[relation].probability(lacks) < model[relation].probability(states)
