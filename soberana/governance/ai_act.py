"""The EU AI Act assessment: a decision tree written by the project as data (``trees/eu_ai_act.yaml``,
checked against ``trees/decision_tree.schema.json``), in English, Spanish and Icelandic.

A person answers the questions of one path; each answer adds labels (role, type, risk group, Annex III
area, the Art. 6(3) exception, transparency duties) and leads to the next question or ends the path.
The labels choose the conclusion (the first whose condition holds) and every obligation whose condition
holds, each with its articles and the date it applies from (``SOBERANA_GOVERNANCE_AI_ACT_DATES``: the
Digital Omnibus moved them, so they are settings).

Only the answers on the path count: an answer to a question the path no longer reaches (the person went
back and changed an earlier answer) is dropped and reported, never counted. An answer that needs a
justification (the Art. 6(3) exception) is not taken without one: the walk stops there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from soberana.errors import ConfigurationError, ValidationFailed

TREES = Path(__file__).resolve().parent / "trees"
EU_AI_ACT = TREES / "eu_ai_act.yaml"
SCHEMA = TREES / "decision_tree.schema.json"
LANGUAGES = ("en", "es", "is")
MAX_JUSTIFICATION_CHARS = 4000
#: The risk groups a tree's answers may conclude (the register maps them; see GovernanceService).
RISK_GROUPS = frozenset({"prohibited", "high_risk", "minimal"})

Text = Mapping[str, str]
Labels = dict[str, str | list[str]]


@dataclass(frozen=True)
class Answer:
    id: str
    text: Text
    labels: Mapping[str, str]
    next: str | None
    justification: bool


@dataclass(frozen=True)
class Question:
    id: str
    text: Text
    help: Text | None
    articles: tuple[str, ...]
    answers: Mapping[str, Answer]


@dataclass(frozen=True)
class Rule:
    """A conclusion or an obligation: chosen when every label it names holds one of its values."""

    id: str
    when: Mapping[str, tuple[str, ...]]
    text: Text
    articles: tuple[str, ...] = ()
    applies_from: str | None = None
    applies_from_when: tuple[tuple[Mapping[str, tuple[str, ...]], str], ...] = ()  # (when, date group)

    def date_group(self, labels: Mapping[str, str | list[str]]) -> str | None:
        """The group of dates this obligation applies from, for ``labels``."""
        for when, group in self.applies_from_when:
            if Rule("", when, {}).holds(labels):
                return group
        return self.applies_from

    def holds(self, labels: Mapping[str, str | list[str]]) -> bool:
        for name, values in self.when.items():
            value = labels.get(name)
            found = value if isinstance(value, list) else [value] if value is not None else []
            if not set(found) & set(values):
                return False
        return True


@dataclass(frozen=True)
class Tree:
    id: str
    version: str
    digest: str  # SHA-256 of the file (first 16 hex digits): any change of wording shows
    law: str
    title: Text
    disclaimer: Text
    start: str
    list_labels: frozenset[str]
    questions: Mapping[str, Question]
    conclusions: tuple[Rule, ...]
    obligations: tuple[Rule, ...]

    @property
    def stamp(self) -> str:
        """What an assessment records of the tree it was made with."""
        return f"{self.id}@{self.version}+{self.digest}"


class TreeError(ConfigurationError):
    """A decision tree that does not hold together."""


def _text(value: Any) -> dict[str, str]:
    return {language: str(value[language]) for language in LANGUAGES}


def parse(document: Mapping[str, Any], digest: str = "") -> Tree:
    """A tree from its YAML document: valid against the schema, every ``next`` a question, every question
    reachable from the start, no cycle."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise TreeError(f"decision tree {document.get('id')!r}: {where}: {error.message}") from None
    questions: dict[str, Question] = {}
    for q in document["questions"]:
        answers = {
            a["id"]: Answer(
                a["id"],
                _text(a["text"]),
                dict(a.get("labels") or {}),
                a.get("next"),
                a.get("justification") == "required",
            )
            for a in q["answers"]
        }
        if len(answers) != len(q["answers"]) or q["id"] in questions:
            raise TreeError(f"decision tree: question {q['id']!r} or one of its answers is named twice")
        help_text = _text(q["help"]) if q.get("help") else None
        questions[q["id"]] = Question(q["id"], _text(q["text"]), help_text, tuple(q["articles"]), answers)
    _check_paths(document["start"], questions)
    for question in questions.values():
        for answer in question.answers.values():
            group = answer.labels.get("risk_group")
            if group is not None and group not in RISK_GROUPS:
                raise TreeError(f"decision tree: {question.id}/{answer.id}: unknown risk group {group!r}")

    def rules(items: list[Mapping[str, Any]]) -> tuple[Rule, ...]:
        return tuple(
            Rule(
                r["id"],
                {k: tuple(v) for k, v in r["when"].items()},
                _text(r["text"]),
                tuple(r.get("articles") or ()),
                r.get("applies_from"),
                tuple(
                    ({k: tuple(v) for k, v in c["when"].items()}, c["applies_from"])
                    for c in r.get("applies_from_when") or ()
                ),
            )
            for r in items
        )

    return Tree(
        id=document["id"],
        version=document["version"],
        digest=digest,
        law=document["law"],
        title=_text(document["title"]),
        disclaimer=_text(document["disclaimer"]),
        start=document["start"],
        list_labels=frozenset(document.get("list_labels") or ()),
        questions=questions,
        conclusions=rules(document["conclusions"]),
        obligations=rules(document["obligations"]),
    )


def _check_paths(start: str, questions: Mapping[str, Question]) -> None:
    if start not in questions:
        raise TreeError(f"decision tree: the start {start!r} is no question")
    state: dict[str, str] = {}  # "open" while its paths are followed, then "done"

    def visit(name: str) -> None:
        state[name] = "open"
        for answer in questions[name].answers.values():
            following = answer.next
            if following is None:
                continue
            if following not in questions:
                raise TreeError(f"decision tree: {name}/{answer.id} leads to {following!r}, no question")
            if state.get(following) == "open":
                raise TreeError(f"decision tree: {name}/{answer.id} leads back to {following!r} (a cycle)")
            if following not in state:
                visit(following)
        state[name] = "done"

    visit(start)
    unreachable = sorted(set(questions) - set(state))
    if unreachable:
        raise TreeError(f"decision tree: no path reaches {', '.join(unreachable)}")


def load(path: Path = EU_AI_ACT) -> Tree:
    return _load(path.resolve())


@lru_cache(maxsize=8)
def _load(path: Path) -> Tree:
    raw = path.read_bytes()
    return parse(yaml.safe_load(raw), hashlib.sha256(raw).hexdigest()[:16])


@dataclass
class Obligation:
    id: str
    articles: tuple[str, ...]
    applies_from: dt.date | None
    text: Text


@dataclass
class Walk:
    """Where a set of answers leads."""

    path: list[tuple[str, str]] = field(default_factory=list)  # (question, answer), in order
    labels: Labels = field(default_factory=dict)
    pending: str | None = None  # the next question to answer; None when the path has ended
    needs_justification: bool = False  # the pending question's answer needs a justification first
    dropped: list[str] = field(default_factory=list)  # answered questions the path does not reach
    conclusion: str | None = None
    obligations: list[Obligation] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.pending is None


def check(tree: Tree, answers: Mapping[str, object], justifications: Mapping[str, object]) -> dict[str, str]:
    """``answers`` if each names a question and one of its answers (else :class:`ValidationFailed`)."""
    for name, value in answers.items():
        question = tree.questions.get(name)
        if question is None:
            raise ValidationFailed(f"The assessment has no question {name!r}.", param=f"answers.{name}")
        if not isinstance(value, str) or value not in question.answers:
            choices = ", ".join(question.answers)
            raise ValidationFailed(f"The answer to {name!r} is one of: {choices}.", param=f"answers.{name}")
    for name, value in justifications.items():
        if name not in tree.questions:
            raise ValidationFailed(f"The assessment has no question {name!r}.", param=f"justifications.{name}")
        if not isinstance(value, str) or len(value) > MAX_JUSTIFICATION_CHARS:
            raise ValidationFailed(
                f"A justification is text of at most {MAX_JUSTIFICATION_CHARS} characters.",
                param=f"justifications.{name}",
            )
    return {name: str(value) for name, value in answers.items()}


def walk(
    tree: Tree,
    answers: Mapping[str, str],
    justifications: Mapping[str, str] | None = None,
    dates: Mapping[str, dt.date] | None = None,
) -> Walk:
    """Follow ``answers`` from the start: the labels, conclusion and obligations of the path, or the
    question it waits for."""
    justifications = justifications or {}
    result = Walk()
    current: str | None = tree.start
    seen: set[str] = set()
    while current is not None:
        question = tree.questions[current]
        choice = answers.get(current)
        answer = question.answers.get(choice) if choice else None
        if answer is None:
            result.pending = current
            break
        if answer.justification and not " ".join(str(justifications.get(current, "")).split()):
            result.pending, result.needs_justification = current, True
            seen.add(current)  # kept, waiting for its justification
            break
        seen.add(current)
        result.path.append((current, answer.id))
        for name, value in answer.labels.items():
            if name in tree.list_labels:
                existing = result.labels.setdefault(name, [])
                assert isinstance(existing, list)
                if value not in existing:
                    existing.append(value)
            else:
                result.labels[name] = value
        current = answer.next
    result.dropped = sorted(set(answers) - seen)
    if result.complete:
        result.conclusion = next((c.id for c in tree.conclusions if c.holds(result.labels)), None)
        result.obligations = [
            Obligation(o.id, o.articles, (dates or {}).get(o.date_group(result.labels) or ""), o.text)
            for o in tree.obligations
            if o.holds(result.labels)
        ]
    return result
