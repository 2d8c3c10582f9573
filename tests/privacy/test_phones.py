"""Telephone numbers a label or the sentence calls telephone numbers are masked, even when the
phone-number library finds no such number assigned (issue 20 §8). Texts written for these tests."""

from __future__ import annotations

import phonenumbers
import pytest

from soberana.privacy.detectors.patterns import PatternDetector
from soberana.privacy.engine import PiiEngine, builtin_detectors
from soberana.privacy.entities import resolve


@pytest.fixture(scope="module")
def patterns() -> PatternDetector:
    return PatternDetector()


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return PiiEngine(builtin_detectors())


def phones(detector: PatternDetector | PiiEngine, text: str, language: str) -> list[str]:
    entities = detector.detect(text, language)
    if isinstance(detector, PatternDetector):
        entities = resolve(entities)
    return [e.value(text) for e in entities if e.label == "PHONE"]


@pytest.mark.parametrize(
    ("text", "language", "number"),
    [
        ("Tel. no. 0123456789 (day).", "en", "0123456789"),
        ("Phone (mobile): 0000111222", "en", "0000111222"),
        ("Her contact number is 1234567, not the office line.", "en", "1234567"),
        ("You can reach her on 0009998887 most afternoons.", "en", "0009998887"),
        ("Call Mrs Adams on 0100 000 0000 about the boiler.", "en", "0100 000 0000"),
        ("Teléfono móvil del paciente: 412345678.", "es", "412345678"),
        ("Su móvil es el 999 12 34 56, llame por la tarde.", "es", "999 12 34 56"),
        ("Símanúmerið hans er 0123456.", "is", "0123456"),
        ("Síminn hjá henni er 1002003 og netfangið er óbreytt.", "is", "1002003"),
    ],
)
def test_a_labelled_number_is_a_phone_number_even_if_unassigned(
    patterns: PatternDetector, text: str, language: str, number: str
) -> None:
    region = {"en": "GB", "es": "ES", "is": "IS"}[language]
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(number, region))
    except phonenumbers.NumberParseException:
        valid = False
    assert not valid  # the library alone would not mask it
    assert phones(patterns, text, language) == [number]


def test_a_phone_label_wins_over_a_weak_identifier_form(engine: PiiEngine) -> None:
    """Nine digits pass a US social security number's checks; "teléfono" says what they are."""
    text = "Su número de teléfono es el 100200300."
    assert [(e.label, e.value(text)) for e in engine.detect(text, "es")] == [("PHONE", "100200300")]
    labelled = "Número de la seguridad social: 078051120."
    assert [e.label for e in engine.detect(labelled, "es")] == ["ID_NUMBER"]


def test_numbers_no_label_calls_phone_numbers(patterns: PatternDetector) -> None:
    assert phones(patterns, "Order no. 1234567 ships on Monday.", "en") == []
