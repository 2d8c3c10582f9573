"""Person names by rule (issue 20 §7): after a greeting or a title, repeated after a first full
mention, surnames with particles, given-name lists. Every text here was written for these tests."""

from __future__ import annotations

import pytest

from soberana.privacy.detectors.names import SpacyNameDetector
from soberana.privacy.detectors.people import complete_names, given_names, rule_names, starts_with_given_name
from soberana.privacy.engine import PiiEngine, builtin_detectors
from soberana.privacy.entities import Entity


@pytest.fixture(scope="module")
def engine() -> PiiEngine:
    return PiiEngine(builtin_detectors())


def people(engine: PiiEngine, text: str, language: str) -> list[str]:
    return [e.value(text) for e in engine.detect(text, language) if e.label == "PERSON"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Dear Maria,\nThank you for your letter.", "Maria"),
        ("Hi Priya, your appointment is confirmed.", "Priya"),
        ("Hello Aoife, the form is ready.", "Aoife"),
        ("Good morning Mr Okafor, here is the file.", "Okafor"),
        ("Estimada Lucía:\nLe escribimos por su solicitud.", "Lucía"),
        ("Hola Pedro, ya tenemos su expediente.", "Pedro"),
        ("Kæri Jón,\nTakk fyrir bréfið.", "Jón"),
        ("Kæra Guðrún, umsóknin er komin.", "Guðrún"),
        ("Best wishes,\nTom", "Tom"),
        ("Thanks, Ana", "Ana"),
        ("Un saludo,\nMarta Ruiz", "Marta Ruiz"),
    ],
)
def test_a_first_name_after_a_greeting_or_before_a_signature(text: str, name: str) -> None:
    assert [e.value(text) for e in rule_names(text)] == [name]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("We wrote to Ms Carter and Dr Okafor yesterday.", ["Carter", "Okafor"]),
        ("El Sr. Martínez y la Sra. Ruiz firmaron; D. Alberto y Dña. Rocío comparecen.", None),
        ("Sr. D. Juan García presentó el recurso.", ["Juan García"]),
        ("Vinsamlegast hafið samband við herra Jón eða frú Sigríði.", ["Jón", "Sigríði"]),
        ("Nombre: Lucía. Apellidos: Serrano Vidal.", ["Lucía", "Serrano Vidal"]),
    ],
)
def test_a_name_after_a_title_or_a_field(text: str, names: list[str] | None) -> None:
    expected = names or ["Martínez", "Ruiz", "Alberto", "Rocío"]
    assert sorted(e.value(text) for e in rule_names(text)) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "Dear Sir or Madam, please find the form attached.",
        "Hello World is the first program.",
        "Hi there, the office opens at nine.",
        "Estimado cliente: su pedido ha salido.",
        "Kæri viðskiptavinur, pöntunin er farin.",
        "Best Western hotels and Kind Regards mugs.",
        "Regards,\nHousing Services",
    ],
)
def test_greetings_without_a_name(text: str) -> None:
    assert rule_names(text) == []


def test_rules_run_without_the_statistical_model() -> None:
    detector = SpacyNameDetector({"en": "no_such_spacy_model"})
    text = "Dear Maria, Ms Carter will call."
    assert sorted(e.value(text) for e in detector.detect(text, "en")) == ["Carter", "Maria"]


def test_a_name_found_in_full_is_found_again_alone(engine: PiiEngine) -> None:
    text = "Maria Lopez applied in March. Later Maria withdrew the claim, and Ms Lopez wrote to us."
    assert people(engine, text, "en") == ["Maria Lopez", "Maria", "Lopez"]
    spanish = "Carmen de la Fuente pidió cita. Después Carmen llamó otra vez."
    again = spanish.rindex("Carmen")
    assert any(e.start <= again < e.end for e in engine.detect(spanish, "es") if e.label == "PERSON")
    icelandic = "Ólafur Ragnarsson sótti um styrk. Ólafur fékk svar í dag."
    assert people(engine, icelandic, "is") == ["Ólafur Ragnarsson", "Ólafur"]


def test_a_name_from_a_greeting_is_found_again() -> None:
    text = "Dear Priya,\nwe spoke to your landlord. Priya, please sign the form."
    found = complete_names(text, rule_names(text), "en")
    assert sorted((e.start, e.value(text)) for e in found) == [(5, "Priya"), (39, "Priya")]


def test_repeated_words_that_are_also_common_words_or_places() -> None:
    text = "Will Grant called. Will you answer? He will. He saw Grant later."
    sources = [Entity(0, 10, "PERSON", 0.7, "names")]
    found = {e.value(text) for e in complete_names(text, sources, "en") if e.detector == "names-repeated"}
    assert found == {"Grant"}  # "Will" opens a question: the word is also written in lower case
    spanish = "Rosa Toledo vive en Toledo."
    assert complete_names(spanish, [Entity(0, 11, "PERSON", 0.85, "names")], "es")[1:] == []


def test_surnames_with_particles_stay_whole() -> None:
    text = "The report names Vincent van der Berg and Ana de la Fuente, vecina de Madrid."
    found = complete_names(text, [Entity(17, 24, "PERSON", 0.7), Entity(42, 45, "PERSON", 0.7)], "en")
    assert [e.value(text) for e in found if e.label == "PERSON"][:2] == ["Vincent van der Berg", "Ana de la Fuente"]
    # "de" alone is "from": Juan de Madrid is Juan, from Madrid
    text = "Juan de Madrid llamó."
    assert complete_names(text, [Entity(0, 4, "PERSON", 0.7)], "es")[0].value(text) == "Juan"


def test_given_name_lists() -> None:
    assert {"Mary", "James", "Linda"} <= given_names("en")
    assert {"Lucía", "Andrés", "Rocío"} <= given_names("es")
    assert given_names("xx") == frozenset()
    assert not any(name.startswith("#") for name in given_names("en"))
    assert starts_with_given_name("Andrés Molina", "es")
    assert starts_with_given_name("Carmen de la Fuente", "es")
    assert not starts_with_given_name("Santiago de Compostela", "es")
    assert not starts_with_given_name("Andrés", "es")


def test_a_name_the_recogniser_takes_for_something_else(engine: PiiEngine) -> None:
    text = "Andrés Molina, 29001 Málaga, solicita el certificado."
    assert people(engine, text, "es") == ["Andrés Molina"]
