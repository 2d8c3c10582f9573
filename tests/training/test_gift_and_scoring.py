"""Quizzes in GIFT: every supported kind read and written back the same, a clear error naming the line of a
malformed file, and the scoring of each kind with the pass mark."""

from __future__ import annotations

import pytest

from soberana.training.gift import GiftError, parse, write
from soberana.training.scoring import mark, score

QUIZ = """// A quiz of every kind the platform supports
$CATEGORY: $course$/AI literacy

::hallucination:: A language model's answer\\: what should you do before using it? {
  =Check it against the official source #Right: models can state false things fluently.
  ~Nothing, it is always right #No: models make things up ("hallucinate").
  ~Ask the model whether it is sure #No: its confidence says nothing about the truth.
}

::uses:: Which of these may a model help with? {
  ~%50%Drafting a letter a person checks #Yes, with a person responsible.
  ~%50%Summarising a public report #Yes, checking the summary.
  ~%-100%Deciding a benefit claim alone #No: a decision about a person is not the model's.
}

::pseudonyms:: Pseudonymisation removes every risk. {FALSE#It does not: undetected data and inferences remain.#Right.}

::deadline:: Within how many days at most is a serious incident reported? {#15:0#Art. 73(2): 15 days.}

::range:: Pick a number from 1 to 3. {#2:1}

::weighted-numeric:: How many official languages does this demo have? {#
  =3:0#Spanish, English and Icelandic.
  =%50%2:0#Almost.
}

::escaped:: Text with \\{braces\\}, a \\# hash, a \\~ tilde and 10\\:00 {=yes ~no}
"""


def test_every_kind_is_read_with_its_feedback() -> None:
    questions = {q.id: q for q in parse(QUIZ, "quiz.gift")}
    assert [q.kind for q in questions.values()] == [
        "single", "multiple", "truefalse", "numeric", "numeric", "numeric", "single"
    ]  # fmt: skip
    hallucination = questions["hallucination"]
    assert hallucination.text == "A language model's answer: what should you do before using it?"
    assert [c.weight for c in hallucination.choices] == [1.0, 0.0, 0.0]
    assert hallucination.choices[1].feedback == 'No: models make things up ("hallucinate").'
    assert questions["pseudonyms"].answer is False
    assert questions["pseudonyms"].feedback_wrong.startswith("It does not")
    assert questions["deadline"].numeric[0].value == 15 and questions["deadline"].numeric[0].feedback
    assert questions["escaped"].text == "Text with {braces}, a # hash, a ~ tilde and 10:00"
    assert questions["hallucination"].line == 4


def test_written_back_and_read_again_it_is_the_same_quiz() -> None:
    questions = parse(QUIZ, "quiz.gift")
    assert parse(write(questions), "again.gift") == questions


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("::a:: Fine {=x ~y}\n\n::b:: Essay {}\n", 3, "essay"),
        ("::a:: Unclosed {=x ~y\n", 1, "one answer part"),
        ("::a:: Match {=a -> 1 =b -> 2}\n", 1, "matching"),
        ("::a:: Short {=Paris}\n", 1, "short-answer"),
        ("::a:: None right {~x ~y}\n", 1, "no answer is right"),
        ("::a:: Two right {=x =y ~z}\n", 1, "one right answer"),
        ("::a:: Bad weight {~%fifty%x ~y}\n", 1, "not a weight"),
        ("::a:: Bad number {#fifteen}\n", 1, "not a number"),
        ("\n\n::a: Title {=x ~y}\n", 3, "title"),
        ("::a:: One {=x ~y}\n\n::a:: Again {=x ~y}\n", 3, "two questions"),
        ("::a:: Missing {=x ~y} word\n", 1, "missing-word"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(GiftError) as raised:
        parse(text, "bank.gift")
    assert raised.value.message.startswith(f"bank.gift, line {line}:") and message in raised.value.message


def test_an_empty_or_binary_file_is_refused() -> None:
    with pytest.raises(GiftError, match="no question"):
        parse("// only a comment\n", "empty.gift")
    with pytest.raises(GiftError, match="not UTF-8"):
        parse(b"\xff\xfe\x00bad", "binary.gift")


def test_each_kind_is_scored_and_the_pass_mark_holds() -> None:
    q = {x.id: x for x in parse(QUIZ, "quiz.gift")}
    assert mark(q["hallucination"], 0).points == 1.0 and mark(q["hallucination"], 1).points == 0.0
    assert mark(q["hallucination"], 0).feedback == ["Right: models can state false things fluently."]
    assert mark(q["hallucination"], [0, 1]).points == 0.0  # two answers to a single-choice question
    assert mark(q["uses"], [0, 1]).points == 1.0
    assert mark(q["uses"], [0]).points == 0.5
    assert mark(q["uses"], [0, 1, 2]).points == 0.0  # the wrong answer takes its weight back
    assert mark(q["uses"], [0, 9]).points == 0.0  # an answer that does not exist
    assert mark(q["pseudonyms"], False).points == 1.0 and mark(q["pseudonyms"], False).feedback == ["Right."]
    assert mark(q["pseudonyms"], True).points == 0.0 and "undetected" in mark(q["pseudonyms"], True).feedback[0]
    assert mark(q["deadline"], 15).points == 1.0 and mark(q["deadline"], 14.5).points == 0.0
    assert mark(q["range"], 1).points == 1.0 and mark(q["range"], 3.5).points == 0.0
    assert mark(q["weighted-numeric"], 2).points == 0.5
    assert mark(q["deadline"], True).points == 0.0 and mark(q["deadline"], None).points == 0.0
    questions = list(q.values())
    answers = {"hallucination": 0, "uses": [0, 1], "pseudonyms": False, "deadline": 15, "range": 2}
    result = score(questions, answers, pass_mark=0.7)  # 5 of 7 right, two unanswered
    assert result.score == pytest.approx(5 / 7) and result.passed
    assert not score(questions, answers, pass_mark=0.75).passed
    assert score(questions, {}, pass_mark=0.1).score == 0.0
