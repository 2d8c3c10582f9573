"""Fusion of the lexical, dense and cognate evidence (the database-backed search is in test_service.py)."""

from __future__ import annotations

import pytest

from soberana.knowledge.search import Hit, RankFusion, ScoreFusion, _fill_cognate_scores, bm25_among


def hit(chunk_id: int, text: str, language: str, dense: float, title: str = "Page") -> Hit:
    return Hit(chunk_id, f"doc{chunk_id}", "col", title, None, [], text, None, language, dense_score=dense)


def test_bm25_among_counts_document_frequency_among_the_candidates() -> None:
    documents = [["cons", "1978", "spai"], ["cons", "kin"], ["weat", "rain"]]
    scores = bm25_among(["cons", "1978"], documents)
    assert scores[0] > scores[1] > 0
    assert scores[2] == 0.0
    # a term every candidate has tells them apart less than a rare one
    common = bm25_among(["cons"], [["cons", "a"], ["cons", "b"], ["cons", "c"]])
    rare = bm25_among(["a"], [["cons", "a"], ["cons", "b"], ["cons", "c"]])
    assert rare[0] > common[0] > 0
    assert bm25_among(["x"], []) == []


def test_cognate_scores_rank_passages_in_another_language_by_shared_prefixes_and_numbers() -> None:
    question = "¿Se aprobó la Constitución de 1978 en referéndum?"
    about = hit(1, "The Constitution was approved by referendum in 1978.", "en", 0.80)
    other = hit(2, "The constitutional court was founded in 1980.", "en", 0.80)
    unrelated = hit(3, "Rainfall in the north is heavy in winter.", "en", 0.80)
    _fill_cognate_scores(question, [about, other, unrelated])
    assert about.cognate_score == 1.0
    assert other.cognate_score is not None and 0 < other.cognate_score < 1  # "cons…" only
    assert unrelated.cognate_score == 0.0


def test_score_fusion_adds_the_cognate_share_to_passages_in_another_language() -> None:
    about = hit(1, "about", "en", 0.80)
    other = hit(2, "other", "en", 0.81)
    same_language = hit(3, "misma", "es", 0.80)
    about.cognate_score, other.cognate_score = 1.0, 0.0
    ScoreFusion().fuse([], [other, about, same_language], "es")
    assert about.score == pytest.approx(0.80 + ScoreFusion().cognate_weight)
    assert other.score == pytest.approx(0.81)
    assert same_language.score == pytest.approx(0.80)
    assert about.score > other.score  # the cognate evidence outweighs a small dense lead


def test_score_fusion_counts_a_hit_in_both_rankings_once() -> None:
    both = hit(1, "both", "en", 0.80)
    both.cognate_score = 1.0
    fusion = ScoreFusion()
    fusion.fuse([(both, 3.0)], [both], "es")
    assert both.score == pytest.approx(0.80 + fusion.cross_language_weight + fusion.cognate_weight)


def test_rank_fusion_ignores_cognate_scores() -> None:
    first, second = hit(1, "first", "en", 0.9), hit(2, "second", "en", 0.8)
    second.cognate_score = 1.0
    RankFusion().fuse([], [first, second], "es")
    assert first.score > second.score


def test_score_fusion_gives_every_passage_a_share_of_its_documents_full_text_score() -> None:
    first, second, other, foreign = (
        hit(1, "a", "en", 0.80),
        hit(2, "b", "en", 0.79),
        hit(3, "c", "en", 0.81),
        hit(4, "d", "es", 0.78),
    )
    first.document_id = second.document_id = "page"
    foreign.document_id = "página"
    fusion = ScoreFusion()
    fusion.fuse([], [other, first, second, foreign], "en", {"page": 4.0, "other": 1.0, "página": 4.0})
    assert first.score == pytest.approx(0.80 + fusion.document_weight)
    assert second.score == pytest.approx(0.79 + fusion.document_weight)
    assert other.score == pytest.approx(0.81)  # its document did not match
    assert foreign.score == pytest.approx(0.78)  # words do not carry across languages
    assert first.score > other.score  # the page's words outweigh a small dense lead
    fusion.fuse([], [other, first], "en", {})
    assert first.score == pytest.approx(0.80)


def test_score_fusion_ranks_by_the_centred_similarity_when_there_is_one() -> None:
    generic = hit(1, "a", "en", 0.90)
    generic.similarity = 0.40
    specific = hit(2, "b", "en", 0.85)
    specific.similarity = 0.55
    plain = hit(3, "c", "en", 0.50)
    ScoreFusion().fuse([], [generic, specific, plain], "en")
    assert (generic.score, specific.score, plain.score) == pytest.approx((0.40, 0.55, 0.50))


def test_same_language_bonuses_do_not_lift_a_passage_above_a_clearly_more_similar_foreign_one() -> None:
    """A Spanish question about a UK procedure: a Spanish encyclopaedia paragraph that shares its words
    stays below the English page that answers it, which is clearly more similar to the question."""
    answer = hit(1, "You can claim Housing Benefit if you pay rent.", "en", 0.84)
    distractor = hit(2, "El subsidio de vivienda en la historia de España.", "es", 0.80)
    close = hit(3, "Subsidio de vivienda: solicitud.", "es", 0.845)
    fusion = ScoreFusion()
    fusion.fuse([(distractor, 9.0), (close, 8.0)], [answer, distractor, close], "es", {"doc2": 5.0, "doc3": 1.0})
    assert distractor.score < answer.score  # its lexical and page bonuses alone would have put it first
    assert distractor.score > 0.80  # still above where its similarity alone puts it
    assert close.score > answer.score  # more similar than the foreign page: its words may lift it further
    # with no foreign passage, nothing changes
    alone = hit(4, "El subsidio de vivienda en la historia de España.", "es", 0.80)
    fusion.fuse([(alone, 9.0)], [alone], "es")
    assert alone.score == pytest.approx(0.80 + fusion.lexical_weight)
