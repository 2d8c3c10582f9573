"""The EU AI Act assessment as data: the tree holds together, its paths give the labels, conclusions and
obligations the Regulation gives, and only the answers on the path count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from soberana.errors import ValidationFailed
from soberana.governance import ai_act

# a deployer of a system used to decide on public benefits, which does not profile people
BENEFITS = {
    "ai_system": "yes",
    "general_purpose": "no",
    "role": "deployer",
    "prohibited_practice": "none",
    "annex_i_product": "no",
    "annex_iii_area": "essential_services",
    "profiling": "no",
    "exception_6_3": "none",
    "interacts": "no",
    "synthetic_content": "no",
    "emotion_or_biometric": "no",
    "deepfake_or_public_text": "no",
}


@pytest.fixture(scope="module")
def tree() -> ai_act.Tree:
    return ai_act.load()


def test_the_tree_validates_and_speaks_three_languages(tree: ai_act.Tree) -> None:
    assert tree.id == "eu-ai-act" and tree.stamp.startswith(f"eu-ai-act@{tree.version}+")
    for question in tree.questions.values():
        for text in (question.text, *(a.text for a in question.answers.values())):
            assert all(text[language].strip() for language in ("en", "es", "is"))
        assert question.articles
    assert {o.applies_from for o in tree.obligations} <= {
        "prohibited", "literacy", "gpai", "transparency", "annex_iii", "annex_i"
    }  # fmt: skip


def test_a_broken_tree_is_refused(tree: ai_act.Tree) -> None:
    document = yaml.safe_load(ai_act.EU_AI_ACT.read_text(encoding="utf-8"))
    document["questions"][0]["answers"][0]["next"] = "no_such_question"
    with pytest.raises(ai_act.TreeError, match="no_such_question"):
        ai_act.parse(document)
    document = yaml.safe_load(ai_act.EU_AI_ACT.read_text(encoding="utf-8"))
    del document["questions"][1]["text"]["is"]
    with pytest.raises(ai_act.TreeError, match="'is' is a required property"):
        ai_act.parse(document)


def test_an_annex_iii_area_gives_high_risk_and_its_obligations(tree: ai_act.Tree) -> None:
    dates = {"annex_iii": dt.date(2027, 12, 2), "literacy": dt.date(2025, 2, 2)}
    result = ai_act.walk(tree, BENEFITS, {}, dates)
    assert result.complete and result.dropped == []
    assert result.labels["risk_group"] == "high_risk"
    assert result.labels["annex_iii_area"] == "essential_services"
    assert result.conclusion == "high_risk"
    found = {o.id: o for o in result.obligations}
    for duty in ("art_26_logs", "art_26_registration", "art_27_fria", "art_86_explanation", "art_4_literacy"):
        assert duty in found, duty
    assert "Art. 27" in " ".join(found["art_27_fria"].articles)
    assert found["art_26_logs"].applies_from == dt.date(2027, 12, 2)
    assert not any(o.startswith("provider_") for o in found)  # a deployer, not a provider


def test_a_prohibited_practice_ends_the_path(tree: ai_act.Tree) -> None:
    answers = {"ai_system": "yes", "general_purpose": "no", "role": "deployer", "prohibited_practice": "social_scoring"}
    result = ai_act.walk(tree, answers | {"annex_i_product": "no"})
    assert result.complete and result.conclusion == "prohibited"
    assert result.labels["risk_group"] == "prohibited"
    assert result.dropped == ["annex_i_product"]  # beyond the end of the path: not counted
    assert "art_5_prohibited" in {o.id for o in result.obligations}


def test_the_art_6_3_exception_needs_a_justification_and_never_applies_with_profiling(tree: ai_act.Tree) -> None:
    exception = BENEFITS | {"exception_6_3": "preparatory_task"}
    waiting = ai_act.walk(tree, exception, {})
    assert (waiting.complete, waiting.pending, waiting.needs_justification) == (False, "exception_6_3", True)
    justified = ai_act.walk(tree, exception, {"exception_6_3": "It only sorts incoming letters for a caseworker."})
    assert justified.complete and justified.labels["risk_group"] == "minimal"
    assert justified.labels["art_6_3_exception"] == "preparatory_task"
    assert justified.conclusion == "minimal_with_exception"
    assert "art_6_3_documentation" in {o.id for o in justified.obligations}

    profiled = ai_act.walk(tree, exception | {"profiling": "yes"}, {"exception_6_3": "It only sorts letters."})
    assert profiled.labels["risk_group"] == "high_risk"
    assert "art_6_3_exception" not in profiled.labels
    assert profiled.dropped == ["exception_6_3"]


def test_transparency_duties_add_up(tree: ai_act.Tree) -> None:
    assistant = BENEFITS | {"annex_iii_area": "none", "interacts": "yes", "synthetic_content": "yes"}
    result = ai_act.walk(tree, assistant)
    assert result.labels["risk_group"] == "minimal"
    assert result.labels["transparency"] == ["interaction", "synthetic_content"]
    duties = {o.id for o in result.obligations}
    assert "art_50_1_deployer_notice" in duties
    assert "art_50_2_marking" not in duties  # a provider's duty
    assert result.conclusion == "minimal"


def test_answers_are_checked_against_the_tree(tree: ai_act.Tree) -> None:
    with pytest.raises(ValidationFailed, match="no question 'colour'"):
        ai_act.check(tree, {"colour": "red"}, {})
    with pytest.raises(ValidationFailed) as wrong:
        ai_act.check(tree, {"role": "owner"}, {})
    assert wrong.value.param == "answers.role"
    partial = ai_act.walk(tree, {"ai_system": "yes"})
    assert (partial.complete, partial.pending, partial.conclusion) == (False, "general_purpose", None)


def test_a_changed_tree_has_another_stamp(tree: ai_act.Tree, tmp_path: Path) -> None:
    document = yaml.safe_load(ai_act.EU_AI_ACT.read_text(encoding="utf-8"))
    document["version"] = "9.9.9"
    changed = tmp_path / "tree.yaml"
    changed.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    assert ai_act.load(changed).stamp != tree.stamp


def test_high_risk_duties_through_annex_i_apply_from_its_date(tree: ai_act.Tree) -> None:
    dates = {"annex_iii": dt.date(2027, 12, 2), "annex_i": dt.date(2028, 8, 2), "literacy": dt.date(2025, 2, 2)}
    product = {k: v for k, v in BENEFITS.items() if k not in ("annex_iii_area", "profiling", "exception_6_3")}
    result = ai_act.walk(tree, product | {"annex_i_product": "yes"}, {}, dates)
    assert (result.complete, result.labels["high_risk_route"]) == (True, "annex_i")
    found = {o.id: o.applies_from for o in result.obligations}
    assert found["art_26_logs"] == dt.date(2028, 8, 2)
    assert "art_27_fria" not in found  # Annex III only
    annex_iii = {o.id: o.applies_from for o in ai_act.walk(tree, BENEFITS, {}, dates).obligations}
    assert annex_iii["art_26_logs"] == dt.date(2027, 12, 2)
