"""Canada's Algorithmic Impact Assessment (AIA), scored as the official tool scores it.

The questionnaire is the Government of Canada's own (``canada-ca/aia-eia-js``, MIT): a SurveyJS file
(``survey-enfr.json``) and the requirements of each impact level (``en.json``, ``fr.json``). It is read
from a directory an installation names (``SOBERANA_GOVERNANCE_AIA_DIR``), never copied into Soberana.

Scoring follows the official tool's ``calculateFinalScore`` (``src/store.ts``):

- a question is scored when it is a radio group, a drop-down or a checkbox list whose name, or whose
  panel's name, ends in ``-RS`` (raw impact) or ``-MS`` (mitigation);
- a choice's points are the number after the last ``-`` of its value (``item3-4`` is 4 points; none is
  0); a checkbox answer adds its choices' points;
- the maximum of a question is its best choice (the sum of all choices for a checkbox list); the
  maxima are computed from the questionnaire, never written down;
- the final score is the raw impact score, or 85% of it rounded half up when the mitigation score
  reaches 80% of half the maximum mitigation score (the questionnaire asks the mitigation questions
  twice, once for the design phase and once for implementation, and shows one branch);
- the impact level is I up to 25% of the maximum raw score, II up to 50%, III up to 75%, IV above.

One difference, on purpose: the official tool adds the answers of questions that an earlier answer has
hidden (a question answered, then made invisible by a change of phase or of an earlier answer, still
counts). Here only answers to questions that are shown count; the ones left out are reported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from soberana.errors import ServiceUnavailable, ValidationFailed

SCORED_TYPES = frozenset({"radiogroup", "checkbox", "dropdown"})
MITIGATION_SHARE = 0.8  # of half the maximum mitigation score, for the deduction
DEDUCTION = 0.15
THRESHOLDS = (0.25, 0.5, 0.75)
LEVELS = ("I", "II", "III", "IV")
MAX_CONDITION_CHARS = 1000

Answer = str | int | float | list[str]


# -- the questionnaire's conditions ---------------------------------------------------------------------


class ConditionError(ValueError):
    """A ``visibleIf`` expression this reader does not understand."""


def _tokens(text: str) -> Iterator[str]:
    """``{name}``, ``"text"``, ``[``, ``]``, ``(``, ``)``, ``,`` and words, read left to right once."""
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError("condition too long")
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "{\"'":
            close = {"{": "}", '"': '"', "'": "'"}[ch]
            end = text.find(close, i + 1)
            if end < 0:
                raise ConditionError(f"unclosed {ch!r} in {text!r}")
            yield text[i : end + 1]
            i = end + 1
        elif ch in "[](),=":
            yield ch
            i += 1
        elif ch in "!<>":
            end = i + 2 if text[i + 1 : i + 2] == "=" else i + 1
            yield text[i:end]
            i = end
        else:
            end = i
            while end < n and (text[end].isalnum() or text[end] in "_-."):
                end += 1
            if end == i:
                raise ConditionError(f"unexpected {ch!r} in {text!r}")
            yield text[i:end]
            i = end


@dataclass
class _Parser:
    tokens: list[str]
    at: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.lower() != expected):
            raise ConditionError(f"expected {expected or 'more'} at token {self.at}")
        self.at += 1
        return token


Node = tuple[Any, ...]


def parse_condition(text: str) -> Node:
    """A ``visibleIf`` expression as a tree: ``("or", a, b)``, ``("and", a, b)``, ``("cmp", name, op,
    value)``. The questionnaire uses ``=``, ``!=``, ``contains``, ``notcontains``, ``and``, ``or`` and
    brackets."""
    parser = _Parser(list(_tokens(text)))
    node = _or(parser)
    if parser.peek() is not None:
        raise ConditionError(f"unexpected {parser.peek()!r} in {text!r}")
    return node


def _or(p: _Parser) -> Node:
    node = _and(p)
    while (p.peek() or "").lower() == "or":
        p.take()
        node = ("or", node, _and(p))
    return node


def _and(p: _Parser) -> Node:
    node = _atom(p)
    while (p.peek() or "").lower() == "and":
        p.take()
        node = ("and", node, _atom(p))
    return node


def _atom(p: _Parser) -> Node:
    if p.peek() == "(":
        p.take()
        node = _or(p)
        p.take(")")
        return node
    name = p.take()
    if not (name.startswith("{") and name.endswith("}")):
        raise ConditionError(f"expected a {{question}}, got {name!r}")
    op = p.take().lower()
    if op not in ("=", "!=", "<>", "contains", "notcontains"):
        raise ConditionError(f"unknown operator {op!r}")
    return ("cmp", name[1:-1], op, _value(p))


def _value(p: _Parser) -> str | tuple[str, ...]:
    first = p.take()
    if first == "[":
        items: list[str] = []
        while p.peek() != "]":
            items.append(_literal(p.take()))
            if p.peek() == ",":
                p.take()
        p.take("]")
        return tuple(items)
    return _literal(first)


def _literal(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def holds(node: Node, answers: Mapping[str, Answer]) -> bool:
    kind = node[0]
    if kind == "or":
        return holds(node[1], answers) or holds(node[2], answers)
    if kind == "and":
        return holds(node[1], answers) and holds(node[2], answers)
    _, name, op, expected = node
    value = answers.get(name)
    if op in ("contains", "notcontains"):
        found = _contains(value, expected)
        return found if op == "contains" else not found
    equal = _equal(value, expected)
    return equal if op == "=" else not equal


def _contains(value: Answer | None, expected: str | tuple[str, ...]) -> bool:
    wanted = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, list):
        return all(item in value for item in wanted)
    if isinstance(value, str):
        return all(item in value for item in wanted)
    return False


def _equal(value: Answer | None, expected: str | tuple[str, ...]) -> bool:
    if isinstance(expected, tuple):
        return isinstance(value, list) and sorted(value) == sorted(expected)
    return value is not None and str(value) == expected


# -- the questionnaire ----------------------------------------------------------------------------------


def points(value: object) -> float:
    """The official tool's ``getValue`` for one choice or answer: numbers as they are, the number after
    the last ``-`` of a string, the sum for a list."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        return sum(points(item) for item in value)
    if isinstance(value, str):
        cut = value.rfind("-")
        if cut < 0:
            return 0
        try:
            number = float(value[cut + 1 :])
        except ValueError:
            return 0
        return 0 if math.isnan(number) else number
    return 0


@dataclass(frozen=True)
class Question:
    name: str
    type: str
    title: str
    page: str
    score: str  # "RS", "MS" or "" (not scored)
    choices: tuple[str, ...]
    conditions: tuple[Node, ...]  # its own visibleIf and its panel's and page's
    labels: tuple[str, ...] = ()  # the choices' texts (English), in the order of ``choices``
    required: bool = False

    @property
    def maximum(self) -> float:
        values = [points(choice) for choice in self.choices]
        if self.type == "checkbox":
            return sum(values)
        return max(values, default=0)


def _score_type(name: str) -> str:
    for suffix in ("RS", "MS", "NS"):
        if name.endswith("-" + suffix):
            return suffix
    return ""


def _text(value: object, language: str = "default") -> str:
    if isinstance(value, dict):
        return str(value.get(language) or value.get("default") or "")
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Questionnaire:
    """The AIA questionnaire and the requirements of each impact level, read from the official files."""

    questions: tuple[Question, ...]
    requirements: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = field(default_factory=dict)
    version: str = ""  # the SHA-256 of the survey file: a changed questionnaire flags older assessments

    @property
    def by_name(self) -> dict[str, Question]:
        return {q.name: q for q in self.questions}

    @property
    def max_raw(self) -> float:
        return sum(q.maximum for q in self.questions if q.score == "RS")

    @property
    def max_mitigation(self) -> float:
        return sum(q.maximum for q in self.questions if q.score == "MS")

    @classmethod
    def from_survey(cls, survey: Mapping[str, Any], requirements: Mapping[str, Any] | None = None) -> Questionnaire:
        questions: list[Question] = []

        def walk(element: Mapping[str, Any], page: str, inherited: tuple[Node, ...], parent_name: str) -> None:
            for child in element.get("elements") or element.get("questions") or []:
                condition = child.get("visibleIf")
                conditions = (*inherited, parse_condition(condition)) if condition else inherited
                if child.get("type") == "panel":
                    walk(child, page, conditions, str(child.get("name", "")))
                    continue
                name = str(child.get("name", ""))
                kind = str(child.get("type", ""))
                # the official getScoreType: the question's own suffix, else its panel's
                score = _score_type(name) or _score_type(parent_name)
                scored = kind in SCORED_TYPES and score in ("RS", "MS")
                choices = tuple(
                    str(c.get("value")) if isinstance(c, dict) else str(c) for c in child.get("choices") or []
                )
                labels = tuple(
                    _text(c.get("text")) or str(c.get("value")) if isinstance(c, dict) else str(c)
                    for c in child.get("choices") or []
                )
                title, required = _text(child.get("title")), bool(child.get("isRequired"))
                questions.append(
                    Question(name, kind, title, page, score if scored else "", choices, conditions, labels, required)
                )

        for page in survey.get("pages") or []:
            condition = page.get("visibleIf")
            walk(page, str(page.get("name", "")), (parse_condition(condition),) if condition else (), "")
        levels: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
        for language, document in (requirements or {}).items():
            sections = document.get("requirements", {}).get("elements", [])
            levels[language] = tuple(
                (str(s.get("title", "")), tuple(str(e.get("text", "")) for e in s.get("elements", [])))
                for s in sections
            )
        return cls(tuple(questions), levels)

    @classmethod
    def load(cls, directory: Path) -> Questionnaire:
        return _load(directory.resolve())

    def visible(self, answers: Mapping[str, Answer]) -> tuple[set[str], dict[str, Answer]]:
        """The questions shown for ``answers``, and the answers that count: an answer to a hidden question
        is dropped, and conditions are evaluated again without it until nothing changes."""
        current = dict(answers)
        for _ in range(len(self.questions) + 1):
            shown = {q.name for q in self.questions if all(holds(c, current) for c in q.conditions)}
            kept = {name: value for name, value in current.items() if name in shown}
            if kept == current:
                return shown, kept
            current = kept
        return shown, current  # pragma: no cover - each round drops an answer, so it ends

    def requirements_for(self, level: int, language: str = "en") -> list[dict[str, str]]:
        sections = self.requirements.get(language) or self.requirements.get("en") or ()
        return [{"title": title, "text": texts[level - 1]} for title, texts in sections if len(texts) >= level]


@lru_cache(maxsize=4)
def _load(directory: Path) -> Questionnaire:
    survey_path = directory / "survey-enfr.json"
    if not survey_path.is_file():
        raise ServiceUnavailable(
            f"The AIA questionnaire is not at {directory}: set SOBERANA_GOVERNANCE_AIA_DIR to a copy of "
            "canada-ca/aia-eia-js's survey-enfr.json, en.json and fr.json.",
            code="aia_not_configured",
        )
    try:
        text = survey_path.read_text(encoding="utf-8")
        survey = json.loads(text)
        requirements = {
            language: json.loads((directory / f"{language}.json").read_text(encoding="utf-8"))
            for language in ("en", "fr")
            if (directory / f"{language}.json").is_file()
        }
        found = Questionnaire.from_survey(survey, requirements)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # ConditionError is a ValueError
        raise ServiceUnavailable(
            f"The AIA questionnaire in {directory} cannot be read ({type(error).__name__}).",
            code="aia_not_configured",
        ) from None
    return dataclasses.replace(found, version="sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16])


# -- the score ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    raw: float
    mitigation: float
    max_raw: float
    max_mitigation: float
    total: float
    level: int  # 1 to 4
    deduction_applied: bool
    ignored: tuple[str, ...]  # answers to questions not shown, left out

    @property
    def level_name(self) -> str:
        return LEVELS[self.level - 1]


def js_round(value: float) -> int:
    """JavaScript's ``Math.round``: halves go up (Python's ``round`` goes to even)."""
    return math.floor(value + 0.5)


def check_answers(questionnaire: Questionnaire, answers: Mapping[str, object]) -> dict[str, Answer]:
    """``answers`` if every one names a question and, for a question with choices, one of its choices
    (a list for a checkbox question); else :class:`ValidationFailed` naming the first problem."""
    by_name = questionnaire.by_name
    checked: dict[str, Answer] = {}
    for name, value in answers.items():
        question = by_name.get(name)
        if question is None:
            raise ValidationFailed(f"The questionnaire has no question {name!r}.", param=f"answers.{name}")
        if question.choices:
            values = value if question.type == "checkbox" else [value]
            if isinstance(values, list) and len(set(map(str, values))) != len(values):
                raise ValidationFailed(f"The answer to {name!r} names a choice twice.", param=f"answers.{name}")
            if not isinstance(values, list) or not all(isinstance(v, str) and v in question.choices for v in values):
                kind = "a list of its choices" if question.type == "checkbox" else "one of its choices"
                raise ValidationFailed(f"The answer to {name!r} must be {kind}.", param=f"answers.{name}")
            checked[name] = list(values) if question.type == "checkbox" else str(value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool) and _finite(value):
            checked[name] = value if not isinstance(value, str) else value[:10_000]
        else:
            raise ValidationFailed(f"The answer to {name!r} must be text or a number.", param=f"answers.{name}")
    return checked


def _finite(value: str | int | float) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def score(questionnaire: Questionnaire, answers: Mapping[str, object]) -> Score:
    """The AIA score of ``answers`` (question name → the choice's value, a list of values for a checkbox
    question, or text)."""
    checked = check_answers(questionnaire, answers)
    _, counted = questionnaire.visible(checked)
    raw = mitigation = 0.0
    for question in questionnaire.questions:
        if question.name not in counted:
            continue
        if question.score == "RS":
            raw += points(counted[question.name])
        elif question.score == "MS":
            mitigation += points(counted[question.name])
    max_raw, max_mitigation = questionnaire.max_raw, questionnaire.max_mitigation
    deduct = mitigation >= MITIGATION_SHARE * (max_mitigation / 2)
    total: float = js_round((1 - DEDUCTION) * raw) if deduct else raw
    level = 1 + sum(1 for share in THRESHOLDS if total > max_raw * share)
    ignored = tuple(sorted(set(checked) - set(counted)))
    return Score(raw, mitigation, max_raw, max_mitigation, total, level, deduct, ignored)


def level_requirements(questionnaire: Questionnaire, result: Score, language: str = "en") -> list[dict[str, str]]:
    return questionnaire.requirements_for(result.level, language)


__all__: Sequence[str] = (
    "Questionnaire",
    "Score",
    "check_answers",
    "holds",
    "parse_condition",
    "points",
    "score",
)
