"""``soberana training``: list courses; import a course folder (checked whole) or export one; turn a quiz
into Moodle's GIFT and back, so agencies bring their own question banks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from soberana.cli.context import console, ctx, fail
from soberana.errors import SoberanaError

training = typer.Typer(help="Staff training: courses, quizzes (GIFT), certificates.", no_args_is_help=True)


def _imported_dir(typer_ctx: typer.Context) -> Path:
    settings = ctx(typer_ctx).settings
    return Path(settings.training_courses_dir) if settings.training_courses_dir else Path(settings.data_dir) / "courses"


@training.command("courses")
def courses(typer_ctx: typer.Context) -> None:
    """List the courses: the project's and those imported."""
    table = Table("id", "version", "languages", "audience", "valid (days)", "pass mark", "lessons", "questions")
    for course in ctx(typer_ctx).platform.training.courses().values():
        spec = course.spec
        questions = str(len(next(iter(course.quizzes.values()))))
        table.add_row(
            spec.id + (" (baseline)" if spec.baseline else ""),
            course.stamp,
            ", ".join(spec.languages),
            ", ".join(spec.audience),
            str(spec.validity_days),
            f"{spec.pass_mark:.0%}",
            str(len(course.lessons)),
            questions,
        )
    console.print(table)


@training.command("import")
def import_course(
    typer_ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="A course folder: course.yaml, lessons/, quiz.<language>.gift.")],
) -> None:
    """Import a course (checked whole first; a course of the same id is replaced)."""
    from soberana.training.courses import load_course

    try:
        course = load_course(folder)
    except SoberanaError as error:
        fail(error.message)
    target = _imported_dir(typer_ctx) / course.id
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".*"))
    console.print(f"Imported {course.summary()}.", highlight=False)


@training.command("export")
def export_course(
    typer_ctx: typer.Context,
    course_id: Annotated[str, typer.Argument(help="The course's id.")],
    out: Annotated[Path, typer.Argument(help="The folder to write the course to (created).")],
) -> None:
    """Write a course as files (course.yaml, lessons, quizzes in GIFT), to edit or to import elsewhere."""
    from soberana.training import gift

    context = ctx(typer_ctx)
    try:
        course = context.platform.training.course(course_id)
    except SoberanaError as error:
        fail(error.message)
    import yaml

    out.mkdir(parents=True, exist_ok=False)
    (out / "course.yaml").write_text(
        yaml.safe_dump(course.spec.model_dump(mode="json"), allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    for lesson in course.lessons:
        for language, body in lesson.body.items():
            path = out / "lessons" / language / f"{lesson.id}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            meta = yaml.safe_dump({"title": lesson.title[language], "minutes": lesson.minutes}, allow_unicode=True)
            path.write_text(f"---\n{meta}---\n{body}\n", encoding="utf-8")
    for language, questions in course.quizzes.items():
        (out / f"quiz.{language}.gift").write_text(gift.write(questions), encoding="utf-8")
    console.print(f"Wrote {course.id} to {out}.", highlight=False)


@training.command("check-quiz")
def check_quiz(
    path: Annotated[Path, typer.Argument(help="A quiz in Moodle's GIFT format.")],
    normalise: Annotated[bool, typer.Option(help="Print the quiz as the platform writes GIFT.")] = False,
) -> None:
    """Read a GIFT question bank as the platform would: its questions, or the line of the first problem."""
    from soberana.training import gift

    try:
        questions = gift.parse(path.read_bytes(), path.name)
    except SoberanaError as error:
        fail(error.message)
    if normalise:
        print(gift.write(questions), end="")
        return
    kinds = {
        kind: sum(1 for q in questions if q.kind == kind) for kind in ("single", "multiple", "truefalse", "numeric")
    }
    console.print(
        f"{len(questions)} questions: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items() if n) + ".",
        highlight=False,
    )
