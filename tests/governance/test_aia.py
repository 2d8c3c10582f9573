"""Canada's Algorithmic Impact Assessment scored as the official tool scores it (``calculateFinalScore``
in canada-ca/aia-eia-js), on the real questionnaire from ``../shared/data``. Each answer set's score is
added up by hand below, from the points in the choices' values (``item4-4`` is 4 points)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from soberana.errors import ServiceUnavailable, ValidationFailed
from soberana.governance.aia import Questionnaire, holds, js_round, parse_condition, points, score

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "governance"

# ten answers of 4 points each (40)
FORTY = {
    "impact6": "item4-4",
    "impact7": "item4-4",
    "impact9": "item4-4",
    "impact24": "item4-4",
    "impact11": "item4-4",
    "impact13": "item4-4",
    "impact15": "item4-4",
    "impact28": "item4-4",
    "aboutDataSource7": "item4-4",
    "aboutDataSource8": "item4-4",
}
# six more of 4 points (24)
TWENTY_FOUR = {
    "aboutSystem11": "item4-4",
    "aboutDataSource5": "item1-4",
    "aboutDataSource6": "item1-4",
    "impact30": "item1-4",
    "impact3": "item1-4",
    "riskProfile4": "item3-4",
}
# five of 3 points (15)
FIFTEEN = {
    "riskProfile1": "item1-3",
    "riskProfile2": "item1-3",
    "riskProfile7": "item1-3",
    "aboutAlgorithm2": "item1-3",
    "aboutDataSource3": "item3-3",
}
# seventeen of 2 points (34)
THIRTY_FOUR = {
    "businessDrivers5": "item1-2",
    "projectAuthority1": "item1-2",
    "aboutSystem5": "item3-2",
    "aboutSystem6": "item2-2",
    "aboutSystem7": "item2-2",
    "aboutSystem9": "item2-2",
    "aboutSystem10A": "item2-2",
    "aboutAlgorithm9": "item1-2",
    "aboutAlgorithm11": "item2-2",
    "impact4A": "item1-2",
    "impact22": "item1-2",
    "impact5": "item1-2",
    "aboutDataSource1": "item1-2",
    "aboutDataSource15": "item2-2",
    "aboutDataSource16": "item1-2",
    "aboutDataSource17": "item2-2",
    "aboutDataSource4": "item1-2",
}
DESIGN = {"projectDetailsPhase": "item1"}
IMPLEMENTATION = {"projectDetailsPhase": "item2"}
# the design branch's mitigation questions, 62 points of its 77: 80% of half the maximum (154 / 2 × 0.8 =
# 61.6) is reached
MITIGATION_62 = {
    "consultationDesign1": "item1-2",  # 2
    "consultationDesign3": "item1-2",  # 2 → 4
    "dataQualityDesign1": "item1-3",  # 3 → 7
    "dataQualityDesign2": "item1-1",  # 1 → 8 (shown by dataQualityDesign1 = item1-3)
    "dataQualityDesign3": "item1-1",  # 1 → 9
    "dataQualityDesign4": "item1-1",  # 1 → 10
    "dataQualityDesign5": "item1-2",  # 2 → 12
    "dataQualityDesign7": "item1-1",  # 1 → 13
    "dataQualityDesign8": "item1-2",  # 2 → 15
    "dataQualityDesign9": "item1-1",  # 1 → 16
    "dataQualityDesign10": "item1-2",  # 2 → 18
    "fairnessDesign1": "item1-1",  # 1 → 19
    "fairnessDesign1A": "item1-1",  # 1 → 20
    "fairnessDesign2": "item1-2",  # → 22
    "fairnessDesign3": "item1-2",  # → 24
    "fairnessDesign4": "item1-2",  # → 26
    "fairnessDesign5": "item1-2",  # → 28
    "fairnessDesign7": "item1-1",  # → 29
    "fairnessDesign10": "item1-2",  # → 31
    "fairnessDesign8": "item1-2",  # → 33
    "fairnessDesign9": "item1-1",  # → 34
    "fairnessDesign12": "item1-2",  # → 36
    "fairnessDesign13": "item1-2",  # → 38
    "fairnessDesign16": "item1-2",  # → 40
    "fairnessDesign17": "item1-2",  # → 42
    "fairnessDesign18": "item1-2",  # → 44
    "fairnessDesign19": "item1-2",  # → 46
    "fairnessDesign20": "item1-2",  # → 48
    "fairnessDesign22": "item1-2",  # → 50
    "fairnessDesign22A": "item1-2",  # → 52
    "fairnessDesign23": "item1-2",  # → 54
    "fairnessDesign24": "item1-2",  # → 56
    "fairnessDesign24A": "item1-1",  # → 57
    "privacyDesign9": "item1-2",  # → 59
    "privacyDesign3": "item1-1",  # → 60
    "privacyDesign4": "item1-1",  # → 61
    "privacyDesign7": "item1-1",  # → 62
}
MITIGATION_61 = MITIGATION_62 | {"privacyDesign7": "item2-0"}  # one point less


@pytest.fixture(scope="module")
def aia() -> Questionnaire:
    return Questionnaire.load(DATA / "aia-eia-js")


def test_the_maxima_come_from_the_questionnaire(aia: Questionnaire) -> None:
    """The same maxima as the shared data's flat table of the questionnaire (made apart from this code)."""
    with (DATA / "aia_questions_flat.csv").open(encoding="utf-8") as rows:
        table = list(csv.DictReader(rows))
    for kind, maximum in (("RS", aia.max_raw), ("MS", aia.max_mitigation)):
        assert maximum == sum(float(r["max_score"]) for r in table if r["score_type"] == kind)
    assert (aia.max_raw, aia.max_mitigation) == (167, 154)
    assert sum(q.score == "RS" for q in aia.questions) == 70
    assert sum(q.score == "MS" for q in aia.questions) == 90


@pytest.mark.parametrize(
    ("answers", "raw", "mitigation", "total", "level"),
    [
        # 40 + aboutSystem8 (1) = 41 ≤ 167 × 0.25 = 41.75: level I
        (DESIGN | FORTY | {"aboutSystem8": "item2-1"}, 41, 0, 41, 1),
        # one point more, 42 > 41.75: level II
        (DESIGN | FORTY | {"aboutSystem8": "item2-1", "aboutAlgorithm1": "item1-1"}, 42, 0, 42, 2),
        # 40 + 24 + 15 + 34 = 113, + 12: aboutAlgorithm8 (3), aboutDataSource2 (4), decisionSector1 five
        # sectors (5) = 125 ≤ 125.25: level III
        (
            DESIGN
            | FORTY
            | TWENTY_FOUR
            | FIFTEEN
            | THIRTY_FOUR
            | {
                "aboutAlgorithm8": "item1-3",
                "aboutDataSource2": "item5-4",
                "decisionSector1": ["item1-1", "item2-1", "item3-1", "item4-1", "item5-1"],
            },
            125,
            0,
            125,
            3,
        ),
        # the same with a sixth sector, 126 > 125.25: level IV
        (
            DESIGN
            | FORTY
            | TWENTY_FOUR
            | FIFTEEN
            | THIRTY_FOUR
            | {
                "aboutAlgorithm8": "item1-3",
                "aboutDataSource2": "item5-4",
                "decisionSector1": ["item1-1", "item2-1", "item3-1", "item4-1", "item5-1", "item7-1"],
            },
            126,
            0,
            126,
            4,
        ),
        # 40 + 24 + 15 + 19 (nine 2-point answers and aboutSystem8) = 98 > 83.5: level III without the
        # deduction; with 62 mitigation points, round(0.85 × 98 = 83.3) = 83 ≤ 83.5: level II
        (
            DESIGN | FORTY | TWENTY_FOUR | FIFTEEN | dict(list(THIRTY_FOUR.items())[:9]) | {"aboutSystem8": "item2-1"},
            98,
            0,
            98,
            3,
        ),
        (
            DESIGN
            | FORTY
            | TWENTY_FOUR
            | FIFTEEN
            | dict(list(THIRTY_FOUR.items())[:9])
            | {"aboutSystem8": "item2-1"}
            | MITIGATION_62,
            98,
            62,
            83,
            2,
        ),
        # 61 mitigation points are not enough (61 < 61.6): no deduction
        (
            DESIGN
            | FORTY
            | TWENTY_FOUR
            | FIFTEEN
            | dict(list(THIRTY_FOUR.items())[:9])
            | {"aboutSystem8": "item2-1"}
            | MITIGATION_61,
            98,
            61,
            98,
            3,
        ),
        # 126 with the deduction: round(0.85 × 126 = 107.1) = 107, level III
        (
            DESIGN
            | FORTY
            | TWENTY_FOUR
            | FIFTEEN
            | THIRTY_FOUR
            | {
                "aboutAlgorithm8": "item1-3",
                "aboutDataSource2": "item5-4",
                "decisionSector1": ["item1-1", "item2-1", "item3-1", "item4-1", "item5-1", "item7-1"],
            }
            | MITIGATION_62,
            126,
            62,
            107,
            3,
        ),
    ],
)
def test_answer_sets_scored_by_hand(
    aia: Questionnaire, answers: dict[str, object], raw: int, mitigation: int, total: int, level: int
) -> None:
    result = score(aia, answers)
    assert (result.raw, result.mitigation, result.total, result.level) == (raw, mitigation, total, level)
    assert result.deduction_applied is (total != raw)
    assert result.ignored == ()
    assert result.level_name == ("I", "II", "III", "IV")[level - 1]


def test_answers_to_hidden_questions_are_ignored(aia: Questionnaire) -> None:
    """The official tool adds them (a design-phase mitigation answer still counts after the phase is set
    to implementation); here they are left out, and named."""
    answers = IMPLEMENTATION | FORTY | {"aboutSystem8": "item2-1"} | MITIGATION_62
    result = score(aia, answers)
    assert (result.raw, result.mitigation, result.total, result.level) == (41, 0, 41, 1)
    assert set(result.ignored) == set(MITIGATION_62)
    # a question hidden by an earlier answer on its own page: dataQualityDesign2 shows only after
    # dataQualityDesign1 = item1-3
    nested = score(aia, DESIGN | {"dataQualityDesign1": "item2-0", "dataQualityDesign2": "item1-1"})
    assert (nested.mitigation, nested.ignored) == (0, ("dataQualityDesign2",))


def test_level_requirements_come_from_the_official_texts(aia: Questionnaire) -> None:
    one, four = aia.requirements_for(1), aia.requirements_for(4, "fr")
    assert one[0]["title"] == "Notice"
    assert len(one) == len(four) >= 5
    assert one[0]["text"] != aia.requirements_for(3)[0]["text"]
    assert four[0]["text"] and four[0]["text"] != aia.requirements_for(4)[0]["text"]  # in French


def test_bad_answers_get_clear_errors(aia: Questionnaire) -> None:
    with pytest.raises(ValidationFailed, match="no question 'colour'"):
        score(aia, {"colour": "red"})
    with pytest.raises(ValidationFailed, match="one of its choices"):
        score(aia, {"impact6": "item9-40"})
    with pytest.raises(ValidationFailed, match="a list of its choices"):
        score(aia, {"decisionSector1": "item1-1"})
    with pytest.raises(ServiceUnavailable) as missing:
        Questionnaire.load(DATA / "no-such-directory")
    assert missing.value.code == "aia_not_configured"


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        ('{a} = "item1"', {"a": "item1"}, True),
        ('{a} = "item1"', {}, False),
        ('{a} contains "item6"', {"a": ["item1", "item6"]}, True),
        ('{a} contains ["item2"]', {"a": ["item1"]}, False),
        ('{a} contains "item1-3"', {"a": "item1-3"}, True),
        ('({a} = "x" or {a} = "y") and {b} = "z"', {"a": "y", "b": "z"}, True),
        ('({a} = "x" or {a} = "y") and {b} = "z"', {"a": "y", "b": "w"}, False),
        ('{a} notcontains "q"', {"a": ["r"]}, True),
    ],
)
def test_conditions(condition: str, answers: dict[str, object], expected: bool) -> None:
    assert holds(parse_condition(condition), answers) is expected  # type: ignore[arg-type]


def test_points_and_rounding_as_javascript() -> None:
    assert (points("item3-4"), points("item6"), points(["item1-1", "item2-2"]), points(3)) == (4, 0, 3, 3)
    assert (js_round(83.5), js_round(84.5), round(84.5)) == (84, 85, 84)
