"""Courses as content files: loaded and checked whole, a clear error naming the file otherwise; the project's
own courses load."""

from __future__ import annotations

from pathlib import Path

import pytest

from soberana.errors import ValidationFailed
from soberana.training.courses import Catalogue, load_course
from soberana.training.gift import Question
from soberana.training.scoring import Response, score

COURSE = """
id: tiny
version: 1
title: {en: Tiny course, es: Curso breve}
summary: {en: A course to test with., es: Un curso de prueba.}
languages: [en, es]
audience: [staff]
validity_days: 365
pass_mark: 0.8
modules:
  - id: basics
    title: {en: Basics, es: Conceptos básicos}
    lessons: [first]
"""
QUIZ = {"en": "::q1:: Right? {TRUE#No.#Yes.}\n", "es": "::q1:: ¿Cierto? {TRUE#No.#Sí.}\n"}


def make_course(root: Path, **changes: str) -> Path:
    folder = root / "tiny"
    (folder / "lessons" / "en").mkdir(parents=True)
    (folder / "lessons" / "es").mkdir(parents=True)
    (folder / "course.yaml").write_text(changes.get("course", COURSE), encoding="utf-8")
    (folder / "lessons" / "en" / "first.md").write_text("---\ntitle: First\nminutes: 5\n---\nHello.\n")
    (folder / "lessons" / "es" / "first.md").write_text(changes.get("lesson_es", "---\ntitle: Primera\n---\nHola.\n"))
    for language, text in QUIZ.items():
        (folder / f"quiz.{language}.gift").write_text(changes.get(f"quiz_{language}", text), encoding="utf-8")
    return folder


def test_a_course_loads_with_its_lessons_and_quizzes(tmp_path: Path) -> None:
    course = load_course(make_course(tmp_path))
    assert course.id == "tiny" and course.stamp.startswith("1+")
    assert course.lessons[0].title == {"en": "First", "es": "Primera"} and course.lessons[0].minutes == 5
    assert course.lessons[0].body["es"] == "Hola."
    assert [q.id for q in course.quizzes["es"]] == ["q1"]
    assert course.language_for("es") == "es" and course.language_for("is") == "en"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"course": COURSE.replace(", es: Curso breve", "")}, "title has no 'es' text"),
        ({"lesson_es": "Hola sin cabecera.\n"}, "front matter"),
        ({"lesson_es": "---\nminutes: 3\n---\nHola.\n"}, "no title"),
        ({"quiz_es": "::other:: ¿Cierto? {TRUE}\n"}, "does not have the questions"),
        ({"quiz_es": "::q1:: ¿Cierto? {TRUE\n"}, "quiz.es.gift, line 1"),
        ({"course": COURSE.replace("pass_mark: 0.8", "pass_mark: 80")}, "pass_mark"),
    ],
)
def test_a_broken_course_is_refused_naming_the_file(tmp_path: Path, changes: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        load_course(make_course(tmp_path, **changes))
    assert message in raised.value.message


def test_an_imported_course_replaces_the_project_s_of_the_same_id(tmp_path: Path) -> None:
    make_course(tmp_path)
    assert "tiny" in Catalogue([tmp_path]).load()
    assert "tiny" not in Catalogue().load()
    ai = tmp_path / "ai-literacy"  # an administrator's own version of the project's baseline course
    make_course(tmp_path / "own").rename(ai)
    (ai / "course.yaml").write_text(COURSE.replace("id: tiny", "id: ai-literacy"), encoding="utf-8")
    assert Catalogue([tmp_path]).load()["ai-literacy"].spec.title["en"] == "Tiny course"


def ideal(question: Question) -> Response:
    """The answer that earns every point."""
    if question.kind == "truefalse":
        return question.answer
    if question.kind == "numeric":
        return next(n.value for n in question.numeric if n.weight == 1.0)
    right = [i for i, c in enumerate(question.choices) if c.weight > 0]
    return right[0] if question.kind == "single" else right


def test_the_project_s_courses_load_and_agree_across_languages() -> None:
    courses = Catalogue().load()
    assert set(courses) == {"ai-literacy", "personal-data", "high-risk-oversight"}
    assert courses["ai-literacy"].spec.baseline and courses["ai-literacy"].spec.languages == ["en", "es", "is"]
    assert courses["high-risk-oversight"].spec.validity_days == 365  # renewed yearly
    for course in courses.values():
        assert {"en", "es"} <= set(course.spec.languages)
        answers = {}
        for language, questions in course.quizzes.items():
            assert len(questions) >= 10, (course.id, language)
            assert {q.kind for q in questions} == {"single", "multiple", "truefalse", "numeric"}, course.id
            assert all(all(c.feedback for c in q.choices) for q in questions), (course.id, language)
            perfect = {q.id: ideal(q) for q in questions}
            assert score(questions, perfect, course.spec.pass_mark).score == 1.0
            answers[language] = perfect
        # the right answers are the same in every language (a translation that moved one would show here)
        assert all(found == answers["en"] for found in answers.values()), course.id
