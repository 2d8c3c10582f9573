"""Scoring a quiz attempt: each question's points (0 to 1) and the feedback of what was answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from soberana.training.gift import Question

Response = int | list[int] | bool | float | None  # a choice, several choices, true/false, a number; None: blank


@dataclass(frozen=True, slots=True)
class Marked:
    question_id: str
    points: float  # 0 to 1
    feedback: list[str]

    @property
    def right(self) -> bool:
        return self.points >= 1.0


@dataclass(frozen=True, slots=True)
class Result:
    marked: list[Marked]
    score: float  # the share of the quiz's points, 0 to 1
    passed: bool


def mark(question: Question, response: Response) -> Marked:
    """One question's points for ``response``; a blank or malformed answer scores nothing."""
    if question.kind == "truefalse":
        if not isinstance(response, bool):
            return Marked(question.id, 0.0, [])
        right = response == question.answer
        feedback = question.feedback_right if right else question.feedback_wrong
        return Marked(question.id, 1.0 if right else 0.0, [feedback] if feedback else [])
    if question.kind == "numeric":
        if isinstance(response, bool) or not isinstance(response, int | float):
            return Marked(question.id, 0.0, [])
        found = next((n for n in question.numeric if n.matches(float(response))), None)
        if found is None:
            return Marked(question.id, 0.0, [])
        return Marked(question.id, max(0.0, found.weight), [found.feedback] if found.feedback else [])
    chosen = [response] if isinstance(response, int) and not isinstance(response, bool) else response
    if not isinstance(chosen, list) or not chosen:
        return Marked(question.id, 0.0, [])
    indexes = sorted({i for i in chosen if isinstance(i, int) and not isinstance(i, bool)})
    if len(indexes) != len(chosen) or any(not 0 <= i < len(question.choices) for i in indexes):
        return Marked(question.id, 0.0, [])
    if question.kind == "single" and len(indexes) != 1:
        return Marked(question.id, 0.0, [])
    picked = [question.choices[i] for i in indexes]
    points = min(1.0, max(0.0, sum(c.weight for c in picked)))
    return Marked(question.id, round(points, 6), [c.feedback for c in picked if c.feedback])


def score(questions: Sequence[Question], responses: Mapping[str, Response], pass_mark: float) -> Result:
    """The whole quiz: every question marked (an unanswered one scores nothing), passed at ``pass_mark``."""
    marked = [mark(q, responses.get(q.id)) for q in questions]
    total = sum(m.points for m in marked) / len(marked) if marked else 0.0
    return Result(marked, round(total, 6), total >= pass_mark - 1e-9)
