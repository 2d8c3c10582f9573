"""Training in the web application, without JavaScript: the courses assigned to the person signed in with
their progress and completion, a course's lessons (Markdown shown in the person's language, with HTML in it
left as text), the quiz as a plain form (CSRF checked) whose result page marks every question with its
feedback, the holder's printable certificate, and the public page where anyone checks a certificate's code
(no sign-in; limited per address by :meth:`TrainingService.verify`).

The service decides who may see what: a certificate page shows only the person's own completions (another's
is "not found"), and the quiz is scored by :meth:`TrainingService.submit`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markdown_it import MarkdownIt
from markupsafe import Markup

from soberana.auth.deps import get_origin
from soberana.core.clock import utcnow
from soberana.errors import NotFound, SoberanaError
from soberana.training.courses import Course
from soberana.training.gift import Question
from soberana.training.models import Completion
from soberana.training.scoring import Response as Answer
from soberana.training.service import TrainingService
from soberana.web.governance import _form
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

CERTIFICATE_STATES = {
    "valid": N_("Valid"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "unknown": N_("Unknown: no certificate has this code"),
}
COURSE_LINK = re.compile(r"/training/courses/([a-z0-9][a-z0-9-]{0,62})")
# lessons are Markdown written by administrators: raw HTML in them is shown as text, and links may only go to
# the web's usual schemes (markdown-it refuses javascript:, vbscript:, file: and data: other than images)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> Markup:
    """A lesson's Markdown as HTML, with any HTML it contains escaped; its headings one level down (the page's
    own heading is the lesson's title)."""
    tokens = _markdown.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1:]) + 1)}"
    return Markup(_markdown.renderer.render(tokens, _markdown.options, {}))  # noqa: S704 - escaped (html off)


def _service(services: Services) -> TrainingService:
    return services.training


def _course_language(page: PageContext, course: Course) -> str:
    return course.language_for(page.t.language)


def _course_title(page: PageContext, course: Course) -> str:
    return course.text(course.spec.title, _course_language(page, course))


def _standing(current: Completion | None, latest: Completion | None) -> str:
    """A person's completion of a course: valid, expired, revoked or not yet."""
    if current is not None:
        return "valid"
    if latest is None:
        return "none"
    return "revoked" if latest.revoked_at is not None else "expired"


async def _latest(training: TrainingService, page: PageContext) -> dict[str, Completion]:
    """The person's latest completion of each course (valid or not)."""
    latest: dict[str, Completion] = {}
    for completion in await training.completions(page.principal):  # newest first
        latest.setdefault(completion.course_id, completion)
    return latest


async def _course_state(training: TrainingService, page: PageContext, course: Course) -> dict[str, Any]:
    progress = await training.progress(page.principal, course.id)
    current: Completion | None = progress["completion"]
    latest = (await _latest(training, page)).get(course.id)
    return {
        "course": course,
        "title": _course_title(page, course),
        "summary": course.text(course.spec.summary, _course_language(page, course)),
        "language": _course_language(page, course),
        "read": set(progress["read"]),
        "lessons": progress["lessons"],
        "attempts": progress["attempts"],
        "completion": current or latest,
        "standing": _standing(current, latest),
        "required": course.id == training.baseline,
    }


@router.get("/training")
async def index(page: Page, services: Services) -> Response:
    """The courses assigned to the person signed in, the required one first."""
    training = _service(services)
    courses = [await _course_state(training, page, c) for c in training.assigned(page.principal)]
    return page.render("training_index.html", section="training", courses=courses)


@router.get("/training/courses/{course_id}")
async def course_page(course_id: str, page: Page, services: Services) -> Response:
    """A course's modules and lessons, the person's progress and the way to its quiz."""
    training = _service(services)
    course = training.course(course_id)
    state = await _course_state(training, page, course)
    language = state["language"]
    modules = [
        {
            "title": course.text(m.title, language),
            "lessons": [
                {"id": lesson.id, "title": course.text(lesson.title, language), "minutes": lesson.minutes}
                for lesson in course.lessons
                if lesson.module == m.id
            ],
        }
        for m in course.spec.modules
    ]
    return page.render("training_course.html", section="training", modules=modules, **state)


@router.get("/training/courses/{course_id}/lessons/{lesson_id}")
async def lesson_page(course_id: str, lesson_id: str, page: Page, services: Services) -> Response:
    """A lesson in the person's language (or the course's first); reading it counts as progress."""
    training = _service(services)
    course = training.course(course_id)
    await training.read_lesson(page.principal, course.id, lesson_id)
    index = next(i for i, lesson in enumerate(course.lessons) if lesson.id == lesson_id)
    language = _course_language(page, course)
    lesson = course.lessons[index]

    def neighbour(at: int) -> dict[str, str] | None:
        if not 0 <= at < len(course.lessons):
            return None
        return {"id": course.lessons[at].id, "title": course.text(course.lessons[at].title, language)}

    return page.render(
        "training_lesson.html",
        section="training",
        course=course,
        course_title=_course_title(page, course),
        language=language,
        lesson=lesson,
        lesson_title=course.text(lesson.title, language),
        body=render_markdown(lesson.body[language]),
        position=index + 1,
        count=len(course.lessons),
        previous=neighbour(index - 1),
        following=neighbour(index + 1),
    )


def _questions(course: Course, language: str) -> list[dict[str, Any]]:
    shown = []
    for q in course.quizzes[language]:
        choices = [c.text for c in q.choices]
        shown.append({"id": q.id, "kind": q.kind, "text": q.text, "choices": choices, "field": f"q-{q.id}"})
    return shown


@router.get("/training/courses/{course_id}/quiz")
async def quiz_page(course_id: str, page: Page, services: Services) -> Response:
    """The quiz as a form: a group of fields per question; nothing says which answers are right."""
    training = _service(services)
    course = training.course(course_id)
    language = _course_language(page, course)
    return page.render(
        "training_quiz.html",
        section="training",
        course=course,
        course_title=_course_title(page, course),
        language=language,
        questions=_questions(course, language),
        holder_name=page.signed_in.display_name if page.signed_in else "",
    )


def _answer(question: Question, values: list[str]) -> Answer:
    """What the form sent for one question, as the scorer takes it (``None``: blank or malformed)."""
    if not values or not values[0].strip():
        return None
    try:
        if question.kind == "truefalse":
            return {"true": True, "false": False}.get(values[0])
        if question.kind == "numeric":
            number = float(values[0].strip().replace(",", "."))
            return number if math.isfinite(number) else None
        if question.kind == "single":
            return int(values[0])
        return [int(v) for v in values[: len(question.choices)]]
    except ValueError:
        return None


@router.post("/training/courses/{course_id}/quiz")
async def submit_quiz(course_id: str, request: Request, page: Page, services: Services) -> Response:
    """Score the quiz sent; its result page marks every question (a pass completes the course)."""
    form = await _form(request, page)
    training = _service(services)
    course = training.course(course_id)
    language = str(form.get("language", ""))
    if language not in course.quizzes:
        language = _course_language(page, course)
    answers: dict[str, Answer] = {}
    for question in course.quizzes[language]:
        given = _answer(question, [str(v) for v in form.getlist(f"q-{question.id}")])
        if given is not None:
            answers[question.id] = given
    # a blank name is the account's display name: the service's own default (the sign-in label) is the email
    # address, which the public verification page would show
    shown = page.signed_in.display_name if page.signed_in else ""
    name = " ".join(str(form.get("holder_name", "")).split())[:200] or " ".join(shown.split()) or None
    done = await training.submit(page.principal, course.id, language, answers, name, get_origin(request))
    return page.redirect(f"/training/courses/{course.id}/attempts/{done.attempt.id}")


@router.get("/training/courses/{course_id}/attempts/{attempt_id}")
async def attempt_page(course_id: str, attempt_id: str, page: Page, services: Services) -> Response:
    """An attempt's result: the score against the pass mark, and each question right or wrong with its
    feedback; after a pass, the way to the certificate."""
    training = _service(services)
    course = training.course(course_id)
    progress = await training.progress(page.principal, course.id)  # the person's own attempts only
    attempt = next((a for a in progress["attempts"] if a.id == attempt_id), None)
    if attempt is None:
        raise NotFound(f"No attempt {attempt_id!r}.")
    texts = {q.id: q.text for q in course.quizzes.get(attempt.language, [])}
    marks = [
        {
            "text": texts.get(str(m["question"]), str(m["question"])),
            "right": float(m["points"]) >= 1.0,
            "partial": 0.0 < float(m["points"]) < 1.0,
            "points": float(m["points"]),
            "feedback": list(m["feedback"]),
        }
        for m in attempt.marks
    ]
    completion = next((c for c in await training.completions(page.principal) if c.attempt_id == attempt.id), None)
    return page.render(
        "training_result.html",
        section="training",
        course=course,
        course_title=_course_title(page, course),
        attempt=attempt,
        pass_mark=course.spec.pass_mark,
        marks=marks,
        completion=completion,
    )


def _verify_url(page: PageContext, request: Request, code: str) -> str:
    base = (page.settings.public_base_url or str(request.base_url)).rstrip("/")
    return f"{base}/verify/{code}"


@router.get("/training/certificates/{completion_id}")
async def certificate_page(completion_id: str, request: Request, page: Page, services: Services) -> Response:
    """The holder's certificate, to print: only the person's own (another's is not found)."""
    training = _service(services)
    completion = next((c for c in await training.completions(page.principal) if c.id == completion_id), None)
    if completion is None:
        raise NotFound(f"No certificate {completion_id!r}.")
    course = training.courses().get(completion.course_id)
    title = course.text(course.spec.title, completion.language) if course else completion.course_id
    status = "revoked" if completion.revoked_at else ("expired" if completion.expires_at <= utcnow() else "valid")
    return page.render(
        "training_certificate.html",
        section="training",
        completion=completion,
        course_title=title,
        course_language=completion.language,
        status=status,
        status_name=CERTIFICATE_STATES[status],
        verify_url=_verify_url(page, request, completion.code),
    )


async def _verify(request: Request, page: PageContext, services: Services, code: str) -> Response:
    code = code.strip()[:40]
    certificate, status, refusal, status_code = None, "", None, 200
    if code:
        try:
            certificate = await _service(services).verify(code, get_origin(request))
            status = certificate.status
        except NotFound:
            status = "unknown"
        except SoberanaError as error:
            if error.status_code >= 500:
                raise
            refusal, status_code = error, error.status_code
    title = ""
    if certificate is not None:
        texts = certificate.course_title
        title = texts.get(page.t.language) or texts.get("en") or next(iter(texts.values()), certificate.course_id)
    response = page.render(
        "training_verify.html",
        status_code=status_code,
        section="verify",
        code=code,
        certificate=certificate,
        course_title=title,
        status=status,
        status_name=CERTIFICATE_STATES.get(status, ""),
        refusal=refusal,
    )
    if refusal is not None:
        response.headers.update(refusal.headers)
    return response


@router.get("/verify")
async def verify_form(
    request: Request, page: Page, services: Services, code: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """Check a certificate: a form to type its code (no sign-in)."""
    return await _verify(request, page, services, code)


@router.get("/verify/{code}")
async def verify_code(code: str, request: Request, page: Page, services: Services) -> Response:
    """A certificate's public page, the address printed on it (no sign-in)."""
    return await _verify(request, page, services, code)


def required_course(page: PageContext, training: TrainingService, error: SoberanaError) -> dict[str, str]:
    """The course a ``training_required`` refusal names (the baseline if it names none), for a link to it."""
    found = COURSE_LINK.search(error.message)
    course_id = found.group(1) if found else training.baseline
    course = training.courses().get(course_id)
    title = _course_title(page, course) if course else course_id
    return {"id": course_id, "title": title, "href": f"/training/courses/{course_id}"}
