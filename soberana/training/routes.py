"""HTTP routes of training: the courses assigned to you, lessons, quiz attempts with feedback, your
completions; administrators revoke; anyone checks a certificate by its code (rate-limited, no sign-in)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.core.components import provider
from soberana.core.spreadsheet import to_csv
from soberana.training.courses import Course
from soberana.training.schemas import (
    AttemptIn,
    AttemptOut,
    CertificateOut,
    CompletionOut,
    CourseOut,
    MarkOut,
    PolicyIn,
    RevokeIn,
)
from soberana.training.service import TrainingService

TrainingDep = Annotated[TrainingService, Depends(provider(TrainingService))]
router = APIRouter(prefix="/v1/training", tags=["training"])
public_router = APIRouter(prefix="/v1/training", tags=["training"])


def course_out(course: Course) -> CourseOut:
    spec = course.spec
    modules = [
        {
            "id": m.id,
            "title": m.title,
            "lessons": [
                {"id": lesson.id, "title": lesson.title, "minutes": lesson.minutes}
                for lesson in course.lessons
                if lesson.module == m.id
            ],
        }
        for m in spec.modules
    ]
    return CourseOut(
        id=spec.id,
        version=course.stamp,
        title=spec.title,
        summary=spec.summary,
        languages=spec.languages,
        audience=spec.audience,
        validity_days=spec.validity_days,
        pass_mark=spec.pass_mark,
        baseline=spec.baseline,
        modules=modules,
        questions=len(next(iter(course.quizzes.values()))),
    )


@router.get("/courses", response_model=list[CourseOut])
async def list_courses(principal: CurrentPrincipal, training: TrainingDep) -> list[CourseOut]:
    """The courses assigned to your role, the baseline first."""
    return [course_out(c) for c in training.assigned(principal)]


@router.get("/courses/{course_id}", response_model=CourseOut)
async def get_course(course_id: str, principal: CurrentPrincipal, training: TrainingDep) -> CourseOut:
    return course_out(training.course(course_id))


@router.get("/courses/{course_id}/lessons/{lesson_id}")
async def read_lesson(
    course_id: str,
    lesson_id: str,
    principal: CurrentPrincipal,
    training: TrainingDep,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
) -> dict[str, str]:
    """A lesson's Markdown in your language (or the course's first); reading it counts as progress."""
    course = training.course(course_id)
    await training.read_lesson(principal, course_id, lesson_id)
    lesson = next(item for item in course.lessons if item.id == lesson_id)
    chosen = course.language_for(language)
    return {"id": lesson.id, "language": chosen, "title": lesson.title[chosen], "markdown": lesson.body[chosen]}


@router.get("/courses/{course_id}/quiz")
async def quiz(
    course_id: str,
    principal: CurrentPrincipal,
    training: TrainingDep,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2}$")] = None,
) -> dict[str, object]:
    """The quiz's questions and answers to choose from, without which are right."""
    course = training.course(course_id)
    chosen = course.language_for(language)
    return {
        "language": chosen,
        "pass_mark": course.spec.pass_mark,
        "questions": [
            {"id": q.id, "kind": q.kind, "text": q.text, "choices": [c.text for c in q.choices]}
            for q in course.quizzes[chosen]
        ],
    }


@router.post("/courses/{course_id}/attempts", response_model=AttemptOut, status_code=201)
async def attempt(
    course_id: str, body: AttemptIn, principal: CurrentPrincipal, origin: OriginDep, training: TrainingDep
) -> AttemptOut:
    """Submit the quiz: every question marked with its feedback; a pass completes the course."""
    done = await training.submit(principal, course_id, body.language, body.answers, body.holder_name, origin)
    course = training.course(course_id)
    return AttemptOut(
        id=done.attempt.id,
        course_id=course_id,
        score=done.result.score,
        passed=done.result.passed,
        pass_mark=course.spec.pass_mark,
        marks=[MarkOut(question=m.question_id, points=m.points, feedback=m.feedback) for m in done.result.marked],
        completion=CompletionOut.model_validate(done.completion) if done.completion else None,
    )


@router.put("/policies/{org_id}")
async def set_policy(
    org_id: str, body: PolicyIn, principal: CurrentPrincipal, origin: OriginDep, training: TrainingDep
) -> dict[str, object]:
    """Require the baseline course of an organisation's people (administrators); the installation's gate and
    the organisations above are floors: ``required`` says what applies now."""
    required = await training.set_policy(principal, org_id, body.require_baseline, origin)
    return {"org_id": org_id, "require_baseline": body.require_baseline, "required": required}


@router.get("/due")
async def due(principal: CurrentPrincipal, training: TrainingDep) -> dict[str, object]:
    """Your assigned courses and what each needs: taking (missing, expired) or renewing soon (expiring)."""
    return {"data": [asdict(d) for d in await training.due(principal)]}


@router.get("/completions", response_model=list[CompletionOut])
async def completions(
    principal: CurrentPrincipal, training: TrainingDep, everyone: bool = False
) -> list[CompletionOut]:
    """Your completions; ``everyone=true``: an administrator's organisations'."""
    return [CompletionOut.model_validate(c) for c in await training.completions(principal, everyone=everyone)]


@router.get("/reports")
async def report(
    principal: CurrentPrincipal,
    training: TrainingDep,
    group_by: Literal["org", "role", "course"] = "course",
    format: Literal["json", "csv"] = "json",
) -> Response:
    """Completions per month by organisation, role or course (administrators): JSON or CSV."""
    rows = await training.report(principal, group_by)
    if format == "csv":
        header = ["month", group_by, "completions", "people", "valid_now"]
        text = to_csv(header, ([r.month, r.group, r.completions, r.people, r.valid_now] for r in rows))
        headers = {"Content-Disposition": f'attachment; filename="training-by-{group_by}.csv"'}
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    return Response(
        orjson.dumps({"group_by": group_by, "data": [asdict(r) for r in rows]}), media_type="application/json"
    )


@router.post("/completions/{completion_id}/revoke", response_model=CompletionOut)
async def revoke(
    completion_id: str, body: RevokeIn, principal: CurrentPrincipal, origin: OriginDep, training: TrainingDep
) -> CompletionOut:
    return CompletionOut.model_validate(await training.revoke(principal, completion_id, body.reason, origin))


@public_router.get("/certificates/{code}", response_model=CertificateOut)
async def certificate(code: str, origin: OriginDep, training: TrainingDep) -> CertificateOut:
    """Check a certificate by its code: valid, expired or revoked (no sign-in; limited per address)."""
    found = await training.verify(code, origin)
    return CertificateOut(**asdict(found))
