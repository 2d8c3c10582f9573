"""The lexical analyser and language detection shared by indexing and search."""

from __future__ import annotations

import pytest

from soberana.knowledge.text import LanguageDetector, analyse, cognate_terms, fold, terms_text


def test_folding_meets_accented_and_plain_spellings() -> None:
    assert fold("Información ÚTIL") == "informacion util"
    assert analyse("información", "es") == analyse("informacion", "es")


def test_snowball_stems_inflections_and_drops_stop_words() -> None:
    assert analyse("How do I apply for resident parking permits?", "en") == ["appli", "resid", "park", "permit"]
    assert analyse("las solicitudes de licencias", "es") == analyse("solicitud licencia", "es")


def test_icelandic_words_are_truncated_and_its_letters_transliterated() -> None:
    # Inflected forms of "byggingarleyfi" (building permit) meet on their first six letters.
    forms = {tuple(analyse(word, "is")) for word in ("byggingarleyfi", "byggingarleyfis", "byggingarleyfið")}
    assert forms == {("byggin",)}
    assert analyse("það er þitt", "is") == ["thitt"]  # "það" and "er" are stop words; þ → th


def test_cognate_terms_meet_across_languages() -> None:
    # Spanish and English spellings of the same words share their folded first four letters;
    # shorter words are dropped, numbers cut like words.
    spanish = cognate_terms("¿Cuándo se aprobó la Constitución española de 1978?")
    english = cognate_terms("The Spanish Constitution was approved in 1978")
    assert spanish == ["cuan", "apro", "cons", "espa", "1978"]
    assert set(spanish) & set(english) == {"cons", "1978"}
    assert cognate_terms("El 7 de mayo de 20250, a las 11") == ["mayo", "2025"]


def test_without_a_language_words_are_kept_whole() -> None:
    assert analyse("Die Anträge", None) == ["die", "antrage"]
    assert terms_text(["A title", "Some texts"], "en") == "titl some text"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿Cuánto cuesta la licencia de obra menor en mi vivienda?", "es"),
        ("How much does a building permit for small works cost?", "en"),
        ("Hvað kostar byggingarleyfi fyrir minni framkvæmdir?", "is"),
    ],
)
def test_language_detection_among_the_configured_languages(text: str, language: str) -> None:
    assert LanguageDetector(["en", "es", "is"]).detect(text) == language


def test_a_single_configured_language_needs_no_detection() -> None:
    detector = LanguageDetector(["es"])
    assert detector.detect("anything at all") == "es"
    assert detector._detector is None  # the models were never loaded
    assert LanguageDetector(["en", "es"]).detect("   ", default="en") == "en"


def test_a_questions_language_is_read_without_the_names_in_it() -> None:
    detector = LanguageDetector(["en", "es", "is", "pl", "pt"])
    question = "Did Sigríður Þórðardóttir open the new Hafnarfjörður pool before Guðmundur Jónsson left Reykjavík?"
    assert detector.detect_question(question) == "en"
    assert detector.detect_question("Hvenær opnaði Sigríður Þórðardóttir nýju sundlaugina í Hafnarfirði?") == "is"
    assert detector.detect_question("Ile kosztuje nowe pozwolenie na pobyt?") == "pl"
    assert detector.detect_question("Quanto custa renovar a autorização de residência?") == "pt"
    assert detector.detect_question("Reykjavík Harpa?") == detector.detect("Reykjavík Harpa?")  # too few words left
