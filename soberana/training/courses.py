"""Courses as content files: a folder per course with ``course.yaml`` (modules, audience, languages,
validity, pass mark), Markdown lessons with YAML front matter (``lessons/<language>/<lesson>.md``) and a quiz
per language in Moodle's GIFT format (``quiz.<language>.gift``, the same question ids in every language).

The project's courses are in this package's ``courses/`` folder; an administrator imports more
(``soberana training import``). A course's version is its ``version`` and the SHA-256 of its files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from soberana.errors import ValidationFailed, describe_validation_errors
from soberana.training import gift
from soberana.training.gift import Question

BUILTIN = Path(__file__).with_name("courses")
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
LANGUAGE = r"^[a-z]{2}$"
MAX_LESSON_BYTES = 200_000
Texts = dict[str, str]


class ModuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    title: Texts
    lessons: list[str] = Field(min_length=1, max_length=50)


class CourseSpec(BaseModel):
    """``course.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    version: int = Field(ge=1)
    title: Texts
    summary: Texts
    languages: list[str] = Field(min_length=1)
    audience: list[str] = Field(min_length=1, description="The roles the course is assigned to.")
    validity_days: int = Field(ge=1, le=3650, description="How long a completion is valid.")
    pass_mark: float = Field(gt=0, le=1, description="The share of the quiz's points needed to pass.")
    baseline: bool = Field(False, description="The course every member of staff completes before using models.")
    modules: list[ModuleSpec] = Field(min_length=1, max_length=30)

    @model_validator(mode="after")
    def _every_language(self) -> CourseSpec:
        for name, texts in [("title", self.title), ("summary", self.summary)] + [
            (f"modules.{m.id}.title", m.title) for m in self.modules
        ]:
            missing = [lang for lang in self.languages if not texts.get(lang)]
            if missing:
                raise ValueError(f"{name} has no {missing[0]!r} text")
        ids = [lesson for m in self.modules for lesson in m.lessons]
        if len(set(ids)) != len(ids):
            raise ValueError("a lesson appears twice")
        return self


@dataclass(frozen=True)
class Lesson:
    id: str
    module: str
    title: Texts
    minutes: int
    body: Texts  # Markdown, per language


@dataclass(frozen=True)
class Course:
    spec: CourseSpec
    lessons: list[Lesson]
    quizzes: dict[str, list[Question]]  # per language, the same ids in the same order
    sha256: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def stamp(self) -> str:
        return f"{self.spec.version}+{self.sha256[:12]}"

    def text(self, texts: Texts, language: str) -> str:
        return texts.get(language) or texts.get("en") or next(iter(texts.values()))

    def language_for(self, wanted: str | None) -> str:
        """The course's language closest to ``wanted`` (its first language otherwise)."""
        return wanted if wanted in self.spec.languages else self.spec.languages[0]

    def summary(self) -> str:
        counts = ", ".join(f"{lang}: {len(q)} questions" for lang, q in self.quizzes.items())
        return f"{self.id} {self.stamp}: {len(self.spec.modules)} modules, {len(self.lessons)} lessons; {counts}"


def _front_matter(text: str, source: str) -> tuple[dict[str, object], str]:
    if not text.startswith("---\n"):
        raise ValidationFailed(f"{source}: a lesson starts with front matter between --- lines.")
    end = text.find("\n---\n", 4)
    if end == -1:
        raise ValidationFailed(f"{source}: the front matter is not closed by a --- line.")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError:
        raise ValidationFailed(f"{source}: the front matter is not valid YAML.") from None
    if not isinstance(meta, dict):
        raise ValidationFailed(f"{source}: the front matter is a mapping (title, minutes).")
    return meta, text[end + 5 :].strip()


def load_course(folder: Path) -> Course:
    """A course from its folder, checked whole: every lesson in every language, a quiz per language with the
    same questions; a clear error naming the file otherwise."""
    digest = hashlib.sha256()
    source = folder / "course.yaml"
    if not source.is_file():
        raise ValidationFailed(f"{folder.name}: no course.yaml.")
    raw = source.read_bytes()
    digest.update(raw)
    try:
        spec = CourseSpec.model_validate(yaml.safe_load(raw))
    except yaml.YAMLError:
        raise ValidationFailed(f"{source}: not valid YAML.") from None
    except ValidationError as error:
        message, param, details = describe_validation_errors([dict(e) for e in error.errors()])
        raise ValidationFailed(f"{source}: {message}", param=param, details=details) from None
    lessons: list[Lesson] = []
    for module in spec.modules:
        for lesson_id in module.lessons:
            titles: Texts = {}
            bodies: Texts = {}
            minutes = 0
            for language in spec.languages:
                path = folder / "lessons" / language / f"{lesson_id}.md"
                if not path.is_file():
                    raise ValidationFailed(
                        f"{folder.name}: the lesson {lesson_id!r} has no {language!r} text ({path})."
                    )
                data = path.read_bytes()
                if len(data) > MAX_LESSON_BYTES:
                    raise ValidationFailed(f"{path}: a lesson is at most {MAX_LESSON_BYTES // 1000} kB.")
                digest.update(data)
                meta, body = _front_matter(data.decode("utf-8"), str(path))
                title = meta.get("title")
                if not isinstance(title, str) or not title.strip():
                    raise ValidationFailed(f"{path}: the front matter has no title.")
                titles[language], bodies[language] = title.strip(), body
                given = meta.get("minutes")
                minutes = max(minutes, given if isinstance(given, int) else 0)
            lessons.append(Lesson(lesson_id, module.id, titles, minutes, bodies))
    quizzes: dict[str, list[Question]] = {}
    for language in spec.languages:
        path = folder / f"quiz.{language}.gift"
        if not path.is_file():
            raise ValidationFailed(f"{folder.name}: no quiz in {language!r} ({path.name}).")
        data = path.read_bytes()
        digest.update(data)
        quizzes[language] = gift.parse(data, f"{folder.name}/{path.name}")
    first = spec.languages[0]
    shape = [(q.id, q.kind, len(q.choices)) for q in quizzes[first]]
    for language, questions in quizzes.items():
        if [(q.id, q.kind, len(q.choices)) for q in questions] != shape:
            raise ValidationFailed(
                f"{folder.name}: the {language!r} quiz does not have the questions of the {first!r} one "
                "(the same ids, kinds and numbers of answers, in the same order)."
            )
    return Course(spec, lessons, quizzes, digest.hexdigest())


class Catalogue:
    """The courses an installation knows: the project's, then those imported (same id: the imported wins)."""

    def __init__(self, folders: list[Path] | None = None) -> None:
        self.folders = [BUILTIN, *(folders or [])]

    def load(self) -> dict[str, Course]:
        found: dict[str, Course] = {}
        for root in self.folders:
            if root.is_dir():
                for folder in sorted(p for p in root.iterdir() if (p / "course.yaml").is_file()):
                    course = load_course(folder)
                    found[course.id] = course
        return found
