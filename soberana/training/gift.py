"""Quizzes in Moodle's GIFT format: a parser written for untrusted files and the writer of the same format.

Supported: single choice (``{=right ~wrong}``), multiple choice with weights (``{~%50%a ~%50%b ~%-100%c}``),
true/false (``{TRUE#if wrong#if right}``) and numeric answers (``{#15:0}``, ``{#1..3}``, ``{#=15:0 =%50%14:1}``),
each answer with its feedback (``#…``), question titles (``::id::``) as ids, ``//`` comments and
``$CATEGORY:`` lines. Essay, matching, short-text and missing-word questions are refused with the line they
start on. The parser reads characters one at a time (no regular expression meets the file), so its time is
linear in the file's size, which is bounded (:data:`MAX_GIFT_BYTES`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from soberana.errors import ValidationFailed

MAX_GIFT_BYTES = 1_000_000
MAX_QUESTIONS = 2000
SPECIAL = "~=#{}:\\"
Kind = Literal["single", "multiple", "truefalse", "numeric"]


@dataclass(frozen=True, slots=True)
class Choice:
    text: str
    weight: float  # the share of the question's point this answer gives (negative: takes away)
    feedback: str = ""


@dataclass(frozen=True, slots=True)
class NumericAnswer:
    value: float
    tolerance: float
    weight: float = 1.0
    feedback: str = ""

    def matches(self, given: float) -> bool:
        return abs(given - self.value) <= self.tolerance


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    kind: Kind
    text: str
    choices: tuple[Choice, ...] = ()
    answer: bool | None = None  # true/false
    feedback_wrong: str = ""  # true/false
    feedback_right: str = ""  # true/false
    numeric: tuple[NumericAnswer, ...] = ()
    line: int = field(default=0, compare=False)


class GiftError(ValidationFailed):
    """A GIFT file that cannot be read; the message names the line."""


def _fail(source: str, line: int, message: str) -> GiftError:
    return GiftError(f"{source}, line {line}: {message}", code="invalid_gift")


def _unescape(text: str) -> str:
    """GIFT text as written: escapes resolved (``\\n`` is a line break), other whitespace runs one space."""
    out: list[str] = []
    chars = iter(" ".join(text.split()))
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out).strip()


def _split(text: str, marks: str) -> Iterator[tuple[str, str]]:
    """``text`` cut before each unescaped character of ``marks``: (the mark, what follows up to the next)."""
    mark, start, i = "", 0, 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char in marks:
            yield mark, text[start:i]
            mark, start = char, i + 1
        i += 1
    yield mark, text[start:]


def _feedback(part: str) -> tuple[str, str]:
    """``text#feedback`` as (text, feedback), unescaped."""
    pieces = [piece for _, piece in _split(part, "#")]
    return _unescape(pieces[0]), _unescape("#".join(pieces[1:])) if len(pieces) > 1 else ""


def _weight(text: str, source: str, line: int) -> tuple[float | None, str]:
    """A leading ``%50%`` as 0.5 and the rest."""
    stripped = text.lstrip()
    if not stripped.startswith("%"):
        return None, text
    end = stripped.find("%", 1)
    if end == -1:
        raise _fail(source, line, "a weight opens with % and closes with %, as in %50%")
    try:
        value = float(stripped[1:end]) / 100
    except ValueError:
        raise _fail(source, line, f"{stripped[1:end]!r} is not a weight (a percentage such as 50 or -100)") from None
    if not -1.0 <= value <= 1.0:
        raise _fail(source, line, "a weight is between -100% and 100%")
    return value, stripped[end + 1 :]


def _number(text: str, source: str, line: int) -> float:
    try:
        return float(_unescape(text).replace(",", "."))
    except ValueError:
        raise _fail(source, line, f"{_unescape(text)!r} is not a number") from None


def _numeric_one(text: str, source: str, line: int, weight: float) -> NumericAnswer:
    body, feedback = _feedback(text)
    if ".." in body:
        low, _, high = body.partition("..")
        lo, hi = _number(low, source, line), _number(high, source, line)
        if lo > hi:
            raise _fail(source, line, "a numeric range goes from the smaller number to the larger")
        return NumericAnswer((lo + hi) / 2, (hi - lo) / 2, weight, feedback)
    value, _, tolerance = body.partition(":")
    return NumericAnswer(
        _number(value, source, line), _number(tolerance, source, line) if tolerance else 0.0, weight, feedback
    )


def _answers(question_id: str, stem: str, block: str, source: str, line: int) -> Question:
    inner = block.strip()
    if not inner:
        raise _fail(source, line, "essay questions ({}) are not supported")
    head = inner.upper().split("#", 1)[0].strip()
    if head in ("T", "TRUE", "F", "FALSE"):
        parts = [_unescape(piece) for _, piece in _split(inner, "#")]
        if_wrong, if_right = (parts[1] if len(parts) > 1 else ""), (parts[2] if len(parts) > 2 else "")
        return Question(question_id, "truefalse", stem, answer=head.startswith("T"), feedback_wrong=if_wrong,
                        feedback_right=if_right, line=line)  # fmt: skip
    if inner.startswith("#"):
        numeric: list[NumericAnswer] = []
        options = list(_split(inner[1:], "=~"))
        if options[0][1].strip() and len(options) == 1:
            numeric.append(_numeric_one(options[0][1], source, line, 1.0))
        else:
            if options[0][1].strip():
                raise _fail(source, line, "numeric answers are =value:tolerance, one after another")
            for mark, option in options[1:]:
                given, rest = _weight(option, source, line)
                weight = given if given is not None else (1.0 if mark == "=" else 0.0)
                numeric.append(_numeric_one(rest, source, line, weight))
        if not any(n.weight > 0 for n in numeric):
            raise _fail(source, line, "a numeric question needs an answer that earns points")
        return Question(question_id, "numeric", stem, numeric=tuple(numeric), line=line)
    if "->" in inner:
        raise _fail(source, line, "matching questions are not supported")
    options = list(_split(inner, "=~"))
    if options[0][1].strip():
        raise _fail(source, line, "each answer starts with = (right) or ~ (wrong)")
    choices: list[Choice] = []
    weighted = False
    for mark, option in options[1:]:
        given, rest = _weight(option, source, line)
        weighted = weighted or given is not None
        text, feedback = _feedback(rest)
        if not text:
            raise _fail(source, line, "an answer has no text")
        choices.append(Choice(text, given if given is not None else (1.0 if mark == "=" else 0.0), feedback))
    if len(choices) < 2:
        if choices and choices[0].weight > 0:
            raise _fail(source, line, "short-answer questions are not supported: give wrong answers with ~")
        raise _fail(source, line, "a choice question has at least two answers")
    right = [c for c in choices if c.weight > 0]
    if not right:
        raise _fail(source, line, "no answer is right (start one with = or give it a positive weight)")
    kind: Kind = "multiple" if weighted and (len(right) > 1 or max(c.weight for c in right) < 1.0) else "single"
    if kind == "single" and len(right) > 1:
        raise _fail(source, line, "a single-choice question has one right answer; give weights for several")
    return Question(question_id, kind, stem, choices=tuple(choices), line=line)


def _blocks(text: str) -> Iterator[tuple[int, str]]:
    """Questions as (first line number, text): separated by blank lines, comments and categories left out."""
    lines: list[str] = []
    first = 0
    for number, raw in enumerate(text.split("\n"), 1):
        stripped = raw.strip()
        if stripped.startswith(("//", "$CATEGORY:")):
            continue
        if not stripped:
            if lines:
                yield first, "\n".join(lines)
                lines = []
            continue
        if not lines:
            first = number
        lines.append(raw)
    if lines:
        yield first, "\n".join(lines)


def _title_end(text: str) -> int:
    """Where the title that opens ``text`` with ``::`` closes (the next unescaped ``::``), or -1."""
    i = 2
    while i < len(text) - 1:
        if text[i] == "\\":
            i += 2
        elif text[i] == ":" and text[i + 1] == ":":
            return i
        else:
            i += 1
    return -1


def parse(data: bytes | str, source: str = "quiz.gift") -> list[Question]:
    """The questions of a GIFT file, or :class:`GiftError` naming the line of the first problem."""
    if isinstance(data, bytes):
        if len(data) > MAX_GIFT_BYTES:
            raise GiftError(f"{source}: a GIFT file is at most {MAX_GIFT_BYTES // 1000} kB.", code="invalid_gift")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise GiftError(f"{source}: not UTF-8 text.", code="invalid_gift") from None
    text = data.replace("\r\n", "\n").replace("\r", "\n")
    questions: list[Question] = []
    seen: set[str] = set()
    for line, block in _blocks(text):
        if len(questions) >= MAX_QUESTIONS:
            raise _fail(source, line, f"a file holds at most {MAX_QUESTIONS} questions")
        pieces = list(_split(block, "{}"))
        marks = [mark for mark, _ in pieces[1:]]
        if marks != ["{", "}"]:
            raise _fail(source, line, "a question has one answer part in { }")
        stem, answers, after = pieces[0][1], pieces[1][1], pieces[2][1]
        if after.strip():
            raise _fail(source, line, "missing-word questions (text after the answers) are not supported")
        question_id = f"q{len(questions) + 1}"
        stripped = stem.lstrip()
        if stripped.startswith("::"):
            end = _title_end(stripped)
            if end == -1:
                raise _fail(source, line, "a title opens with :: and closes with ::")
            title, rest = stripped[2:end], stripped[end + 2 :]
            question_id, stem = _unescape(title), rest
        if stem.lstrip().startswith("[") and "]" in stem:
            stem = stem.split("]", 1)[1]  # a text format such as [markdown]
        text_of = _unescape(stem)
        if not text_of:
            raise _fail(source, line, "a question has text before its answers")
        if question_id in seen:
            raise _fail(source, line, f"two questions are called {question_id!r}")
        seen.add(question_id)
        questions.append(_answers(question_id, text_of, answers, source, line))
    if not questions:
        raise GiftError(f"{source}: no question found.", code="invalid_gift")
    return questions


def escape(text: str) -> str:
    return "".join(f"\\{c}" if c in SPECIAL else ("\\n" if c == "\n" else c) for c in text)


def _number_text(value: float) -> str:
    return f"{value:g}"


def _with_feedback(text: str, feedback: str) -> str:
    return escape(text) + (f" #{escape(feedback)}" if feedback else "")


def write(questions: list[Question]) -> str:
    """The questions as a GIFT file (:func:`parse` reads it back to the same questions)."""
    out: list[str] = []
    for q in questions:
        head = f"::{escape(q.id)}:: {escape(q.text)} {{"
        if q.kind == "truefalse":
            flag = "TRUE" if q.answer else "FALSE"
            out.append(f"{head}{flag}#{escape(q.feedback_wrong)}#{escape(q.feedback_right)}}}")
        elif q.kind == "numeric":
            options = [
                f"=%{_number_text(n.weight * 100)}%{_number_text(n.value)}:{_number_text(n.tolerance)}"
                + (f"#{escape(n.feedback)}" if n.feedback else "")
                for n in q.numeric
            ]
            out.append(f"{head}#\n" + "\n".join(f"  {o}" for o in options) + "\n}")
        else:
            lines = []
            for c in q.choices:
                if q.kind == "single":
                    prefix = "=" if c.weight >= 1.0 else "~" if c.weight == 0 else f"~%{_number_text(c.weight * 100)}%"
                else:
                    prefix = f"~%{_number_text(c.weight * 100)}%"
                lines.append(f"  {prefix}{_with_feedback(c.text, c.feedback)}")
            out.append(head + "\n" + "\n".join(lines) + "\n}")
    return "\n\n".join(out) + "\n"
