"""The catalogue of requirements as data: it validates and speaks three languages, its rules pick the
requirements a use case's labels call for (failing safe when a label is unknown), and the platform's
evidence turns a requirement done or flags it when it stops holding."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from soberana.governance import requirements as rq

HIGH_RISK_PUBLIC_DEPLOYER: dict[str, object] = {
    "risk_group": "high_risk",
    "role": "deployer",
    "transparency": [],
    "public_body": True,
    "special_categories": False,
    "profiling": False,
    "aia_level": 0,
}
MINIMAL_PUBLIC_DEPLOYER = HIGH_RISK_PUBLIC_DEPLOYER | {"risk_group": "minimal"}
HIGH_RISK_IDS = {
    "ai_act_art_26_1_instructions",
    "ai_act_art_26_2_oversight",
    "ai_act_art_26_5_monitoring",
    "ai_act_art_26_6_logs",
    "ai_act_art_26_7_workers",
    "ai_act_art_26_11_affected_people",
    "ai_act_art_49_registration",
    "ai_act_art_27_fria",
    "ai_act_art_86_explanation",
}


@pytest.fixture(scope="module")
def catalogue() -> rq.Catalogue:
    return rq.load()


def ids(found: list[rq.Requirement]) -> set[str]:
    return {r.id for r in found}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(rq.CATALOGUE.read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)  # YAML aliases share objects: a change must touch one rule only


def test_the_catalogue_validates_and_speaks_three_languages(catalogue: rq.Catalogue) -> None:
    assert catalogue.id == "requirements" and catalogue.stamp.startswith(f"requirements@{catalogue.version}+")
    assert len(catalogue.digest) == 16
    assert len(catalogue.requirements) >= 20
    assert len({r.id for r in catalogue.requirements}) == len(catalogue.requirements)
    for requirement in catalogue.requirements:
        for text in (requirement.title, requirement.text):
            assert all(text[language].strip() for language in ("en", "es", "is")), requirement.id
            assert text["es"] != text["en"] and text["is"] != text["en"], requirement.id  # translated
        assert requirement.source in {"eu_ai_act", "gdpr", "aia"}
        assert requirement.evidence is None or requirement.evidence in rq.CHECKS
    assert {r.source for r in catalogue.requirements} == {"eu_ai_act", "gdpr", "aia"}
    laws = " ".join(r.law for r in catalogue.requirements)
    for article in ("Art. 4", "Art. 26(1)", "Art. 26(2)", "Art. 26(5)", "Art. 26(6)", "Art. 26(7)", "Art. 26(11)"):
        assert f"EU AI Act {article}" in laws, article
    for article in ("Art. 49(3)", "Art. 71", "Art. 27", "Art. 86", "Art. 50(1)", "Art. 50(2)", "Art. 50(3)"):
        assert article in laws, article
    assert "GDPR Art. 35" in laws and "GDPR Art. 13" in laws


def test_the_schema_names_exactly_the_checks_the_module_has() -> None:
    schema = json.loads(rq.SCHEMA.read_text(encoding="utf-8"))
    assert set(schema["$defs"]["requirement"]["properties"]["evidence"]["enum"]) == set(rq.CHECKS)
    assert set(schema["$defs"]["condition"]["properties"]["label"]["enum"]) == rq.LABELS


def test_a_broken_catalogue_is_refused_with_a_clear_error() -> None:
    broken = document()
    broken["requirements"][0]["applies"] = {"all": [{"always": True}, {"label": "colour", "in": ["red"]}]}
    with pytest.raises(rq.CatalogueError, match=r"requirements/0/applies/all/1/label: 'colour' is not one of"):
        rq.parse(broken)
    broken = document()
    del broken["requirements"][2]["text"]["is"]
    with pytest.raises(rq.CatalogueError, match=r"requirements/2/text: 'is' is a required property"):
        rq.parse(broken)
    broken = document()
    broken["requirements"][0]["applies"] = {"label": "risk_group", "in": ["very_high"]}
    with pytest.raises(rq.CatalogueError, match="'very_high' is not one of"):
        rq.parse(broken)
    broken = document()
    broken["requirements"][0]["evidence"] = "no_such_check"
    with pytest.raises(rq.CatalogueError, match="no_such_check"):
        rq.parse(broken)
    broken = document()
    broken["requirements"].append(copy.deepcopy(broken["requirements"][0]))
    with pytest.raises(rq.CatalogueError, match="used twice"):
        rq.parse(broken)


def test_the_reader_refuses_an_unknown_label_even_past_the_schema() -> None:
    with pytest.raises(rq.CatalogueError, match="unknown label 'colour'"):
        rq._condition({"label": "colour", "is": True}, "here")
    with pytest.raises(rq.CatalogueError, match="role has no value chief"):
        rq._condition({"label": "role", "in": ["chief"]}, "here")


def test_a_high_risk_public_body_deployer_gets_art_26_27_and_49(catalogue: rq.Catalogue) -> None:
    found = ids(rq.applicable(catalogue, HIGH_RISK_PUBLIC_DEPLOYER))
    assert found >= HIGH_RISK_IDS
    assert {"ai_act_art_4_literacy", "gdpr_art_35_dpia", "gdpr_art_13_14_information"} <= found
    assert "ai_act_provider_high_risk" not in found  # a deployer, not a provider
    assert not any(r.startswith("aia_") for r in found)  # no AIA on record
    assert "ai_act_art_50_1_interaction" not in found
    # not a public body: no Art. 27 impact assessment and no registration of the use, the rest stays
    private = ids(rq.applicable(catalogue, HIGH_RISK_PUBLIC_DEPLOYER | {"public_body": False}))
    assert HIGH_RISK_IDS - private == {"ai_act_art_27_fria", "ai_act_art_49_registration"}


def test_a_minimal_risk_use_gets_only_ai_literacy(catalogue: rq.Catalogue) -> None:
    assert ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER)) == {"ai_act_art_4_literacy"}
    # special categories of personal data call for a DPIA whatever the risk group
    found = ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER | {"special_categories": True}))
    assert "gdpr_art_35_dpia" in found and not found & HIGH_RISK_IDS


def test_transparency_duties_follow_the_tree_labels(catalogue: rq.Catalogue) -> None:
    found = ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER | {"transparency": ["interaction"]}))
    assert "ai_act_art_50_1_interaction" in found
    assert "ai_act_art_50_2_4_marking" not in found and "ai_act_art_50_3_emotion_biometric" not in found
    assert not found & HIGH_RISK_IDS
    found = ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER | {"transparency": ["deepfake_or_public_text"]}))
    assert "ai_act_art_50_2_4_marking" in found and "ai_act_art_50_1_interaction" not in found


def test_aia_level_four_gets_the_level_iv_entries_and_level_one_does_not(catalogue: rq.Catalogue) -> None:
    level_iv = ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER | {"aia_level": 4}))
    level_i = ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER | {"aia_level": 1}))
    for entry in ("aia_peer_review_two_experts", "aia_human_decision", "aia_training_in_depth", "aia_peer_review"):
        assert entry in level_iv and entry not in level_i, entry
    assert {"aia_notice", "aia_explanation_published", "aia_approval", "aia_training_basic"} <= level_i
    assert "aia_training_basic" not in level_iv  # at_most: 2
    level_ii = ids(rq.applicable(catalogue, MINIMAL_PUBLIC_DEPLOYER | {"aia_level": 2}))
    assert {"aia_peer_review", "aia_gba_plus", "aia_training_basic"} <= level_ii
    assert "aia_human_decision" not in level_ii


def test_an_unassessed_use_case_gets_the_high_risk_entries(catalogue: rq.Catalogue) -> None:
    # fail safe: the assessment's labels are unknown, whatever the service passes for them
    unassessed = HIGH_RISK_PUBLIC_DEPLOYER | {"risk_group": "unassessed", "role": "none", "transparency": []}
    found = ids(rq.applicable(catalogue, unassessed))
    assert found >= HIGH_RISK_IDS
    assert {"ai_act_provider_high_risk", "ai_act_art_50_1_interaction", "gdpr_art_35_dpia"} <= found
    # labels left out are unknown too: every requirement that could apply does
    assert ids(rq.applicable(catalogue, {})) == {r.id for r in catalogue.requirements}
    # a known "not a public body" still removes what only public bodies owe
    found = ids(rq.applicable(catalogue, unassessed | {"public_body": False}))
    assert "ai_act_art_27_fria" not in found and "ai_act_art_26_6_logs" in found


def test_the_rule_language_is_three_valued() -> None:
    known = rq.known_labels({"public_body": True})
    unknown = rq.InSet("risk_group", frozenset({"high_risk"}))
    assert rq.truth(unknown, known) is None
    assert rq.truth(rq.Not(unknown), known) is None
    assert rq.truth(rq.AllOf((unknown, rq.Is("public_body", False))), known) is False
    assert rq.truth(rq.AnyOf((unknown, rq.Is("public_body", True))), known) is True
    assert rq.truth(rq.Level("aia_level", at_least=1), rq.known_labels({"aia_level": True})) is None  # not a level
    assert rq.truth(rq.Level("aia_level", at_most=2), rq.known_labels({"aia_level": 2})) is True


@pytest.mark.parametrize(
    ("days", "forever", "state"),
    [
        (400, False, "holds"),
        (183, False, "holds"),
        (30, False, "fails"),
        (None, True, "holds"),
        (None, False, "unknown"),
    ],
)
def test_usage_retention_decides_the_logs_check(
    catalogue: rq.Catalogue, days: int | None, forever: bool, state: str
) -> None:
    requirement = catalogue.get("ai_act_art_26_6_logs")
    assert requirement is not None
    check = rq.evaluate(requirement, rq.Evidence(usage_retention_days=days, usage_retention_forever=forever))
    assert check is not None and check.state == state
    assert check.facts["usage_retention_days"] == days


def test_a_broken_log_chain_fails_the_logs_check(catalogue: rq.Catalogue) -> None:
    requirement = catalogue.get("ai_act_art_26_6_logs")
    assert requirement is not None
    check = rq.evaluate(requirement, rq.Evidence(usage_retention_forever=True, audit_chain_verified=False))
    assert check is not None and check.state == "fails" and "chain" in check.reason


def test_the_other_checks(catalogue: rq.Catalogue) -> None:
    def state(requirement_id: str, evidence: rq.Evidence) -> str:
        requirement = catalogue.get(requirement_id)
        assert requirement is not None
        check = rq.evaluate(requirement, evidence)
        assert check is not None
        return check.state

    assert state("ai_act_art_50_1_interaction", rq.Evidence(assistant_discloses_ai=True)) == "holds"
    assert state("ai_act_art_50_1_interaction", rq.Evidence(assistant_discloses_ai=False)) == "fails"
    assert state("ai_act_art_50_2_4_marking", rq.Evidence(answers_marked_ai=False)) == "fails"
    for mode, expected in (("pseudonymise", "holds"), ("block", "holds"), ("detect", "fails"), ("odd", "unknown")):
        assert state("gdpr_art_35_dpia", rq.Evidence(personal_data_mode=mode)) == expected, mode
    assert state("ai_act_art_26_2_oversight", rq.Evidence(handoff_available=True)) == "unknown"  # training: None
    assert state("ai_act_art_26_2_oversight", rq.Evidence(handoff_available=False)) == "fails"
    assert state("aia_human_decision", rq.Evidence(handoff_available=True)) == "holds"
    assert state("ai_act_art_4_literacy", rq.Evidence()) == "unknown"
    workers = catalogue.get("ai_act_art_26_7_workers")
    assert workers is not None and rq.evaluate(workers, rq.Evidence()) is None  # no machine check


def test_a_done_requirement_whose_check_fails_is_to_do_and_flagged(catalogue: rq.Catalogue) -> None:
    requirement = catalogue.get("ai_act_art_26_6_logs")
    assert requirement is not None
    failing = rq.evaluate(requirement, rq.Evidence(usage_retention_days=30))
    holding = rq.evaluate(requirement, rq.Evidence(usage_retention_days=400))
    unknown = rq.evaluate(requirement, rq.Evidence())
    assert rq.effective_state("done", failing) == ("to_do", True)
    assert rq.effective_state("in_progress", failing) == ("in_progress", False)
    assert rq.effective_state("to_do", holding) == ("done", False)
    assert rq.effective_state("not_applicable", holding) == ("not_applicable", False)
    assert rq.effective_state("in_progress", unknown) == ("in_progress", False)
    assert rq.effective_state("done", None) == ("done", False)
    with pytest.raises(ValueError, match="unknown manual state"):
        rq.effective_state("finished", holding)


def test_a_partial_check_never_marks_done_but_still_flags(catalogue: rq.Catalogue) -> None:
    requirement = catalogue.get("gdpr_art_35_dpia")
    assert requirement is not None
    protected = rq.evaluate(requirement, rq.Evidence(personal_data_mode="redact"))
    assert protected is not None and protected.state == "holds" and not protected.sufficient
    assert rq.effective_state("to_do", protected) == ("to_do", False)  # pseudonymising is no DPIA
    exposed = rq.evaluate(requirement, rq.Evidence(personal_data_mode="off"))
    assert rq.effective_state("done", exposed) == ("to_do", True)


def test_review_combines_rules_checks_and_manual_states(catalogue: rq.Catalogue) -> None:
    outcomes = {
        o.requirement.id: o
        for o in rq.review(
            catalogue,
            HIGH_RISK_PUBLIC_DEPLOYER,
            rq.Evidence(usage_retention_days=30),
            {"ai_act_art_26_6_logs": "done", "ai_act_art_26_7_workers": "in_progress"},
        )
    }
    assert (outcomes["ai_act_art_26_6_logs"].state, outcomes["ai_act_art_26_6_logs"].flagged) == ("to_do", True)
    assert outcomes["ai_act_art_26_7_workers"].state == "in_progress"
    assert outcomes["ai_act_art_27_fria"].state == "to_do" and outcomes["ai_act_art_27_fria"].check is None


def test_the_stamp_changes_when_the_file_changes(tmp_path: Path, catalogue: rq.Catalogue) -> None:
    copy_of = tmp_path / "requirements.yaml"
    text = rq.CATALOGUE.read_text(encoding="utf-8")
    copy_of.write_text(text, encoding="utf-8")
    assert rq.load(copy_of).stamp == catalogue.stamp
    copy_of.write_text(text.replace("AI literacy of staff", "AI literacy of the staff"), encoding="utf-8")
    changed = rq.load(copy_of)
    assert changed.stamp != catalogue.stamp and changed.version == catalogue.version
    literacy = changed.get("ai_act_art_4_literacy")
    assert literacy is not None and literacy.title["en"] == "AI literacy of the staff"


def test_a_file_that_is_not_a_catalogue_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(rq.CatalogueError, match="not a mapping"):
        rq.load(path)
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(rq.CatalogueError, match="not YAML"):
        rq.load(path)
