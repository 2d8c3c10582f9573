"""Question centring: how much of the generic-question direction a question's vector loses."""

from __future__ import annotations

import numpy as np
import pytest

from soberana.knowledge.centring import (
    GENERIC_QUESTIONS,
    QuestionCentring,
    bank_for,
    centring_for,
    generic_questions,
)


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def with_cosine(cosine: float) -> np.ndarray:
    """A unit vector whose cosine with (1, 0) is ``cosine``."""
    return unit(cosine, float(np.sqrt(1 - cosine**2)))


CENTRING = QuestionCentring(strength=0.8, low=0.85, high=0.88)
GENERIC = np.asarray([0.9, 0.0], dtype=np.float32)  # a mean vector: not of unit length


def test_the_share_grows_with_the_closeness_to_the_generic_direction() -> None:
    assert CENTRING.share(with_cosine(0.70), GENERIC) == 0.0
    assert CENTRING.share(with_cosine(0.85), GENERIC) == pytest.approx(0.0, abs=1e-5)
    assert CENTRING.share(with_cosine(0.865), GENERIC) == pytest.approx(0.4, abs=1e-3)
    assert CENTRING.share(with_cosine(0.88), GENERIC) == pytest.approx(0.8, abs=1e-3)
    assert CENTRING.share(with_cosine(0.99), GENERIC) == pytest.approx(0.8)
    assert CENTRING.share(with_cosine(0.99), np.zeros(2, dtype=np.float32)) == 0.0


def test_a_specific_question_keeps_its_vector_and_a_generic_one_loses_its_generic_part() -> None:
    specific = with_cosine(0.70)
    assert CENTRING.apply(specific, GENERIC) is specific
    generic = with_cosine(0.95)
    centred = CENTRING.apply(generic, GENERIC)
    assert np.linalg.norm(centred) == pytest.approx(1.0, abs=1e-5)
    expected = unit(*(generic - 0.8 * GENERIC))
    assert np.allclose(centred, expected, atol=1e-5)
    assert float(centred @ unit(1, 0)) < float(generic @ unit(1, 0))  # further from the generic direction


def test_only_calibrated_models_are_centred() -> None:
    assert centring_for("multilingual-e5-small") is not None
    assert centring_for("text-embedding-3-small") is None


def test_each_language_has_its_own_generic_questions_and_others_get_all() -> None:
    assert set(GENERIC_QUESTIONS) == {"en", "es", "is"}
    assert len({len(q) for q in GENERIC_QUESTIONS.values()}) == 1  # the same questions, translated
    assert bank_for("es") == "es" and bank_for("fr") == bank_for(None) == "all"
    assert generic_questions("es") == GENERIC_QUESTIONS["es"]
    every = generic_questions("all")
    assert len(every) == sum(len(q) for q in GENERIC_QUESTIONS.values())
    assert all(q.rstrip().endswith("?") for q in every)
