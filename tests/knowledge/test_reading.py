"""Reading passages sentence by sentence: splitting, the evidence a sentence's score adds to its
similarity, which sentences are quoted and the neighbours they bring."""

from __future__ import annotations

import numpy as np
import pytest

from soberana.knowledge.reading import (
    Candidate,
    Reading,
    answer_type,
    asks_for_amount,
    candidates_of,
    holds,
    names,
    numbers,
    score,
    sentences,
    term_overlap,
)
from soberana.knowledge.search import Hit


def hit(text: str, language: str = "en", title: str = "Parking permits") -> Hit:
    return Hit(1, "doc", "col", title, None, ["Fees"], text, None, language)


def test_sentences_split_on_end_punctuation_and_lines_but_not_inside_numbers() -> None:
    found = sentences("Fees are 1.500 € a year. ¿Puede pagar a plazos? Sí.\n- Book three working days ahead")
    assert found == ["Fees are 1.500 € a year.", "¿Puede pagar a plazos?", "Book three working days ahead"]


def test_table_header_rows_are_not_quoted() -> None:
    assert sentences("Permit | Fee\nSecond car | €90 per year") == ["Second car | €90 per year"]


def test_questions_about_amounts_are_recognised_in_five_languages() -> None:
    assert asks_for_amount("How much does the permit cost?")
    assert asks_for_amount("¿Cuánto cuesta la licencia?")
    assert asks_for_amount("Hvað kostar að láta sækja grófan úrgang?")
    assert asks_for_amount("Ile kosztuje pozwolenie na parkowanie?")
    assert asks_for_amount("Quanto custa a licença?")
    assert not asks_for_amount("When is organic waste collected?")
    assert not asks_for_amount("¿Dónde está la oficina?")


def test_numbers_and_names_are_read_without_separators_or_the_first_word() -> None:
    assert numbers("Pay £1,250.50 by 31 March 2026.") == {"125050", "31", "2026"}
    assert names("Does the Reykjavík office of Sjúkratryggingar open on Monday?") == {"reykj", "sjukr", "monda"}
    assert names("Where do I apply?") == set()  # a capital opening the sentence is not a name


def test_term_overlap_reads_stems_in_one_language_and_word_beginnings_across_languages() -> None:
    question = "Can I renew my parking permit online?"
    assert term_overlap(question, "en", "Parking permits are renewed online each year.", "en") == pytest.approx(1.0)
    assert term_overlap(question, "en", "The library opens at nine.", "en") == 0.0
    # Spanish question, English page: "renovar"/"renew" and "online" meet by their first letters
    spanish = "¿Puedo renovar el permiso online?"
    assert term_overlap(spanish, "es", "You can renew your permit online.", "en") > term_overlap(
        spanish, "es", "The library opens at nine.", "en"
    )


def _reading(texts: list[str], cosines: list[float], question: str, language: str = "en") -> Reading:
    hits = [hit(t) for t in texts]
    reading = Reading(candidates_of(hits, 3), hits)
    assert len(reading.candidates) == len(cosines)
    vectors = np.zeros((len(cosines), 2), dtype=np.float32)
    for i, cosine in enumerate(cosines):
        vectors[i] = (cosine, np.sqrt(max(0.0, 1 - cosine**2)))
    score(reading, question, language, vectors, np.array([1.0, 0.0], dtype=np.float32), 3)
    return reading


def test_the_sentence_with_the_questions_words_and_numbers_beats_a_slightly_more_similar_one() -> None:
    passage = (
        "Parking permits are issued by the city for residents of every zone. "
        "A permit for a second car in zone 2 costs 90 euros a year."
    )
    reading = _reading([passage], [0.86, 0.85], "How much is a permit for a second car in zone 2?")
    best = reading.best
    assert best is not None and "second car" in best.text
    assert reading.best_cosine == pytest.approx(0.86)
    # similarity alone would have picked the first sentence
    plain = _reading([passage], [0.86, 0.85], "?")
    assert plain.best is not None and plain.best.text.startswith("Parking permits")


def test_one_to_three_sentences_are_quoted_in_reading_order() -> None:
    passage = "Bins are emptied on Mondays. Glass is collected monthly. The depot opens at eight. Fees are set yearly."
    reading = _reading([passage], [0.80, 0.70, 0.60, 0.50], "?")
    assert [c.text for c in reading.quotes()] == ["Bins are emptied on Mondays."]
    close = _reading([passage], [0.80, 0.79, 0.795, 0.60], "?")
    assert [c.text for c in close.quotes()] == [
        "Bins are emptied on Mondays.",
        "Glass is collected monthly.",
        "The depot opens at eight.",
    ]


def test_a_sentence_that_points_back_or_introduces_a_list_is_quoted_with_its_neighbour() -> None:
    passage = (
        "You must renew the card every five years. This costs 30 euros and takes a week. "
        "Bring the following:\nyour old card and a photo"
    )
    reading = _reading([passage], [0.70, 0.90, 0.60, 0.50], "?")
    assert [c.text for c in reading.quotes()] == [
        "You must renew the card every five years.",
        "This costs 30 euros and takes a week.",
    ]
    listing = _reading([passage], [0.60, 0.50, 0.90, 0.40], "?")
    assert [c.text for c in listing.quotes()] == ["Bring the following:", "your old card and a photo"]


def test_a_passage_without_whole_sentences_is_read_as_one() -> None:
    hits = [hit("Fees | 60 €")]
    assert [c.text for c in candidates_of(hits, 3)] == ["Fees | 60 €"]
    assert candidates_of([], 3) == []
    empty = Reading([], [])
    assert empty.best is None and empty.quotes() == [] and empty.best_cosine == 0.0


def test_candidates_remember_their_passage_and_place() -> None:
    hits = [hit("One two three. Four five six."), hit("Seven eight nine.")]
    assert [(c.passage, c.position) for c in candidates_of(hits, 3)] == [(1, 0), (1, 1), (2, 0)]
    assert [(c.passage, c.position) for c in candidates_of(hits, 1)] == [(1, 0), (1, 1)]
    assert Candidate(1, 0, "x").score == 0.0


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much does a replacement residence permit cost?", "amount"),
        ("¿Cuánto cuesta renovar el permiso?", "amount"),
        ("Hvað kostar að endurnýja leyfið?", "amount"),
        ("Ile kosztuje nowe pozwolenie?", "amount"),
        ("Qual é a taxa de juro do empréstimo?", "amount"),
        ("How long do I have to appeal?", "time"),
        ("¿Con cuánta antelación tiene que avisarme el casero?", "time"),
        ("Hvenær opnar sýningin?", "time"),
        ("Jak długo trwa rozpatrzenie wniosku?", "time"),
        ("Quanto tempo demora o processo?", "time"),
        ("How many employees must ask?", "count"),
        ("Hversu margir komu á tónleikana?", "count"),
        ("Who designed the uniforms?", "person"),
        ("¿Quién ganó la final?", "person"),
        ("Can I apply online?", None),
        ("¿Puedo solicitarlo por internet?", None),
    ],
)
def test_what_a_question_asks_for_is_read_from_its_question_words(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


def test_a_sentence_holds_what_the_question_asks_for_or_not() -> None:
    assert holds("amount", "The fee is £45.")
    assert holds("amount", "La tasa es de 30 euros.")
    assert not holds("amount", "You may have to pay a fee if the mark does not change.")
    assert holds("time", "You need to appeal within 21 days.")
    assert holds("time", "Sýningin stendur fram í október.")
    assert not holds("time", "You can appeal to the tribunal.")
    assert holds("count", "Þættirnir eru átta talsins.")
    assert not holds("count", "Many people came.")
    assert holds("person", "The uniforms were designed by Ralph Lauren.", "Who designed the uniforms?")
    assert not holds("person", "The uniforms were shown in Sochi.", "Who designed the uniforms in Sochi?")
    assert holds(None, "Anything at all.")


def test_the_sentence_that_holds_the_asked_for_amount_is_preferred_and_missing_types_are_noticed() -> None:
    passage = "You may have to pay a fee for a review. A review of a GCSE costs £45 at most schools."
    reading = _reading([passage], [0.87, 0.86], "How much does a review cost?")
    assert reading.best is not None and "£45" in reading.best.text
    assert reading.type_missing == 0.0
    vague = _reading(["You may have to pay a fee for a review. Ask your school about it."], [0.87, 0.86], "How much?")
    assert vague.kind == "amount" and vague.type_missing == 1.0
    untyped = _reading([passage], [0.87, 0.86], "Can I ask for a review?")
    assert untyped.kind is None and untyped.type_missing == 0.0
