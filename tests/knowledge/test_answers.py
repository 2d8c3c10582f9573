"""Citation checking and sentence splitting of grounded answers."""

from __future__ import annotations

from soberana.knowledge.answers import asks_for_amount, check_citations, message, sentences, threshold_for


def test_citations_to_retrieved_passages_are_kept_in_order_of_first_use() -> None:
    text, used, removed = check_citations("Fees are 60 euros [2]. Apply online [1][2].", passages=3)
    assert (text, used, removed) == ("Fees are 60 euros [2]. Apply online [1][2].", [2, 1], False)


def test_citations_to_passages_that_were_not_retrieved_are_removed() -> None:
    text, used, removed = check_citations("Pets ride free [7]. Form P-1 [2, 9]. Zero [0].", passages=3)
    assert removed
    assert used == [2]
    assert text == "Pets ride free. Form P-1 [2]. Zero."


def test_sentences_split_on_end_punctuation_and_lines_but_not_inside_numbers() -> None:
    found = sentences("Fees are 1.500 € a year. ¿Puede pagar a plazos? Sí.\n- Book three working days ahead")
    assert found == ["Fees are 1.500 € a year.", "¿Puede pagar a plazos?", "Book three working days ahead"]


def test_messages_follow_the_language_and_fall_back_to_english() -> None:
    assert "persona" in message("abstain", "es")
    assert "starfsmann" in message("abstain", "is")
    assert message("abstain", "fr") == message("abstain", "en")


def test_thresholds_are_calibrated_per_model_and_configurable() -> None:
    assert threshold_for("multilingual-e5-small", None) > 0.8
    assert threshold_for("some-other-model", None) == 0.5
    assert threshold_for("multilingual-e5-small", 0.7) == 0.7


def test_questions_about_amounts_are_recognised_in_three_languages() -> None:
    assert asks_for_amount("How much does the permit cost?")
    assert asks_for_amount("¿Cuánto cuesta la licencia?")
    assert asks_for_amount("Hvað kostar að láta sækja grófan úrgang?")
    assert not asks_for_amount("When is organic waste collected?")
    assert not asks_for_amount("¿Dónde está la oficina?")


def test_table_header_rows_are_not_quoted() -> None:
    assert sentences("Permit | Fee\nSecond car | €90 per year") == ["Second car | €90 per year"]
