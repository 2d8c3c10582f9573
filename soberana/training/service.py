"""Learning: courses assigned by role, lessons read, quiz attempts with feedback, completions that expire, and
certificates anyone can check by their code; and the gate (:meth:`TrainingService.check`) the gateway asks
before a person's model call."""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from soberana.auth.principal import ADMIN_ROLES, Origin, Principal, cli_principal
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import InvalidRequest, NotFound, PermissionDenied, TrainingRequired, require_id
from soberana.storage.db import Database
from soberana.storage.limits import RateLimiter
from soberana.training.courses import Catalogue, Course
from soberana.training.models import Attempt, Completion, LessonRead, TrainingPolicy
from soberana.training.scoring import Response, Result, score

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud and typed by people


def new_code() -> str:
    """A certificate's verification code: 16 random characters in four groups (80 bits)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True, slots=True)
class Submitted:
    attempt: Attempt
    result: Result
    completion: Completion | None


@dataclass(frozen=True, slots=True)
class Due:
    course_id: str
    state: str  # missing | expired | expiring | valid
    expires_at: datetime | None
    days_left: int | None


@dataclass(frozen=True, slots=True)
class ReportRow:
    month: str  # YYYY-MM, when completed
    group: str  # an organisation's id, a role or a course
    completions: int
    people: int
    valid_now: int  # of them, not expired nor revoked today


@dataclass(frozen=True, slots=True)
class Certificate:
    """What the public verification page shows: no personal data beyond the name the holder chose."""

    code: str
    status: str  # valid | expired | revoked
    course_id: str
    course_title: dict[str, str]
    holder_name: str
    completed_at: datetime
    expires_at: datetime


class TrainingService:
    def __init__(
        self,
        db: Database,
        admin: AdminService,
        catalogue: Catalogue,
        *,
        baseline: str,
        oversight: str,
        reminder_days: int = 30,
        gate: str,
        check_seconds: float,
        verifiers: RateLimiter,
    ) -> None:
        self.db = db
        self.admin = admin
        self.catalogue = catalogue
        self.baseline = baseline
        self.oversight = oversight
        self.reminder_days = reminder_days
        self.gate = gate
        self.check_seconds = check_seconds
        self.verifiers = verifiers
        self._courses: dict[str, Course] | None = None
        self._policies: dict[str, tuple[float, bool]] = {}  # organisation → (checked at, baseline required)
        self._holders: dict[tuple[str, str], tuple[float, datetime]] = {}  # (user, course) → (checked, valid until)

    # -- courses ---------------------------------------------------------------------------------------

    def courses(self) -> dict[str, Course]:
        if self._courses is None:
            self._courses = self.catalogue.load()
        return self._courses

    def reload(self) -> None:
        self._courses = None

    def course(self, course_id: str) -> Course:
        found = self.courses().get(course_id)
        if found is None:
            raise NotFound(f"No course {course_id!r}.")
        return found

    def assigned(self, principal: Principal) -> list[Course]:
        """The courses assigned to ``principal``'s role (the baseline first)."""
        courses = [c for c in self.courses().values() if principal.role.value in c.spec.audience]
        return sorted(courses, key=lambda c: (c.id != self.baseline, c.id))

    @staticmethod
    def _person(principal: Principal) -> str:
        if principal.kind != "user" or principal.org_id is None:
            raise PermissionDenied(
                "Courses are taken by people, signed in or with their own key.", code="person_required"
            )
        return principal.id

    # -- learning --------------------------------------------------------------------------------------

    async def read_lesson(self, principal: Principal, course_id: str, lesson_id: str) -> None:
        user_id = self._person(principal)
        course = self.course(course_id)
        if all(lesson.id != lesson_id for lesson in course.lessons):
            raise NotFound(f"No lesson {lesson_id!r} in this course.")
        async with self.db.write_session() as session:
            session.add(LessonRead(id=new_id("lsr"), user_id=user_id, course_id=course.id, lesson_id=lesson_id))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # read before: progress is kept once

    async def progress(self, principal: Principal, course_id: str) -> dict[str, Any]:
        user_id = self._person(principal)
        course = self.course(course_id)
        async with self.db.session() as session:
            read = set(
                await session.scalars(
                    select(LessonRead.lesson_id).where(LessonRead.user_id == user_id, LessonRead.course_id == course.id)
                )
            )
            attempts = list(
                await session.scalars(
                    select(Attempt)
                    .where(Attempt.user_id == user_id, Attempt.course_id == course.id)
                    .order_by(Attempt.created_at.desc())
                )
            )
        completion = await self.current(user_id, course.id)
        return {"read": sorted(read), "lessons": len(course.lessons), "attempts": attempts, "completion": completion}

    async def submit(
        self,
        principal: Principal,
        course_id: str,
        language: str,
        answers: Mapping[str, Response],
        holder_name: str | None,
        origin: Origin,
    ) -> Submitted:
        """Score a quiz attempt; a pass completes the course (valid for its validity period)."""
        user_id = self._person(principal)
        course = self.course(course_id)
        if language not in course.quizzes:
            raise InvalidRequest(f"The course's quiz is in {', '.join(course.spec.languages)}.", param="language")
        questions = course.quizzes[language]
        unknown = sorted(set(answers) - {q.id for q in questions})
        if unknown:
            raise InvalidRequest(f"No question {unknown[0]!r} in this quiz.", param=f"answers.{unknown[0]}")
        result = score(questions, answers, course.spec.pass_mark)
        now = utcnow()
        attempt = Attempt(
            id=new_id("tra"),
            user_id=user_id,
            org_id=principal.org_id,
            course_id=course.id,
            course_version=course.stamp,
            language=language,
            answers=dict(answers),
            marks=[{"question": m.question_id, "points": m.points, "feedback": m.feedback} for m in result.marked],
            score=result.score,
            passed=result.passed,
            created_at=now,
        )
        completion = None
        async with self.db.write_session() as session:
            session.add(attempt)
            if result.passed:
                if not (holder_name or "").strip():  # the account's display name, never its e-mail address
                    holder_name = (await self.admin.get_user(session, cli_principal("training"), user_id)).display_name
                name = " ".join((holder_name or "").split())[:200]
                completion = Completion(
                    id=new_id("trc"),
                    user_id=user_id,
                    org_id=principal.org_id,
                    role=principal.role.value,
                    course_id=course.id,
                    course_version=course.stamp,
                    language=language,
                    score=result.score,
                    attempt_id=attempt.id,
                    code=new_code(),
                    holder_name=name,
                    completed_at=now,
                    expires_at=now + timedelta(days=course.spec.validity_days),
                    revoked_reason="",
                )
                session.add(completion)
                await self.admin.record_change(
                    session,
                    principal,
                    origin,
                    action="training.completed",
                    object_type="training_completion",
                    object_id=completion.id,
                    org_id=principal.org_id,
                    details={"course": course.id, "version": course.stamp, "score": result.score},
                )
            await session.commit()
        self._forget(user_id)
        return Submitted(attempt, result, completion)

    async def current(self, user_id: str, course_id: str) -> Completion | None:
        """The person's completion of a course that holds now (not expired, not revoked), the latest."""
        async with self.db.session() as session:
            stmt = (
                select(Completion)
                .where(
                    Completion.user_id == user_id,
                    Completion.course_id == course_id,
                    Completion.revoked_at.is_(None),
                    Completion.expires_at > utcnow(),
                )
                .order_by(Completion.expires_at.desc())
                .limit(1)
            )
            return (await session.scalars(stmt)).first()

    async def holders(self, user_ids: Collection[str], course_id: str) -> set[str]:
        """Which of ``user_ids`` hold a valid completion of ``course_id`` now."""
        if not user_ids:
            return set()
        async with self.db.session() as session:
            stmt = select(Completion.user_id).where(
                Completion.user_id.in_(list(user_ids)),
                Completion.course_id == course_id,
                Completion.revoked_at.is_(None),
                Completion.expires_at > utcnow(),
            )
            return set(await session.scalars(stmt))

    async def due(self, principal: Principal) -> list[Due]:
        """Each course assigned to the person with its state: ``missing``, ``expired``, ``expiring`` (within
        the reminder period: renew it) or ``valid``."""
        user_id = self._person(principal)
        now = utcnow()
        async with self.db.session() as session:
            stmt = select(Completion).where(Completion.user_id == user_id, Completion.revoked_at.is_(None))
            latest: dict[str, Completion] = {}
            for row in await session.scalars(stmt):
                if row.course_id not in latest or row.expires_at > latest[row.course_id].expires_at:
                    latest[row.course_id] = row
        found = []
        for course in self.assigned(principal):
            held = latest.get(course.id)
            if held is None:
                found.append(Due(course.id, "missing", None, None))
                continue
            days = (held.expires_at - now).days
            state = "expired" if held.expires_at <= now else ("expiring" if days < self.reminder_days else "valid")
            found.append(Due(course.id, state, held.expires_at, max(days, 0)))
        return found

    async def completions(self, principal: Principal, *, everyone: bool = False) -> list[Completion]:
        """The principal's completions; ``everyone``: an administrator's organisations'."""
        async with self.db.session() as session:
            stmt = select(Completion).order_by(Completion.completed_at.desc()).limit(500)
            if everyone:
                if principal.role not in ADMIN_ROLES:
                    raise PermissionDenied("Only administrators see everyone's training.", code="permission_denied")
                visible = await self.admin.visible_org_ids(session, principal)
                if visible is not None:
                    stmt = stmt.where(Completion.org_id.in_(list(visible)))
            else:
                stmt = stmt.where(Completion.user_id == self._person(principal))
            return list((await session.scalars(stmt)).all())

    async def report(self, principal: Principal, group_by: str) -> list[ReportRow]:
        """Completions per month and per organisation, role or course (an administrator's organisations):
        how many were completed, by how many people, and how many of them hold now."""
        if principal.role not in ADMIN_ROLES:
            raise PermissionDenied("Only administrators see training reports.", code="permission_denied")
        if group_by not in ("org", "role", "course"):
            raise InvalidRequest("Group by org, role or course.", param="group_by")
        async with self.db.session() as session:
            visible = await self.admin.visible_org_ids(session, principal)
            stmt = select(Completion)
            if visible is not None:
                stmt = stmt.where(Completion.org_id.in_(list(visible)))
            rows = list((await session.scalars(stmt)).all())
        now = utcnow()
        found: dict[tuple[str, str], tuple[int, set[str], int]] = {}
        for row in rows:
            group = {"org": row.org_id, "role": row.role, "course": row.course_id}[group_by]
            key = (row.completed_at.strftime("%Y-%m"), group)
            count, people, holding = found.get(key, (0, set(), 0))
            valid = row.revoked_at is None and row.expires_at > now
            found[key] = (count + 1, people | {row.user_id}, holding + int(valid))
        return [
            ReportRow(month, group, count, len(people), holding)
            for (month, group), (count, people, holding) in sorted(found.items())
        ]

    async def revoke(self, principal: Principal, completion_id: str, reason: str, origin: Origin) -> Completion:
        require_id(completion_id, "trc", "completion")
        reason = " ".join(reason.split())
        if not reason:
            raise InvalidRequest("Say why the completion is revoked.", param="reason")
        if principal.role not in ADMIN_ROLES:
            raise PermissionDenied("Only administrators revoke a completion.", code="permission_denied")
        async with self.db.write_session() as session:
            visible = await self.admin.visible_org_ids(session, principal)
            found = await session.get(Completion, completion_id)
            if found is None or (visible is not None and found.org_id not in visible):
                raise NotFound(f"No completion {completion_id!r}.")
            if found.revoked_at is None:
                found.revoked_at, found.revoked_by, found.revoked_reason = utcnow(), principal.id, reason[:500]
                await self.admin.record_change(
                    session,
                    principal,
                    origin,
                    action="training.revoked",
                    object_type="training_completion",
                    object_id=found.id,
                    org_id=found.org_id,
                    details={"course": found.course_id, "reason": reason},
                )
                await session.commit()
            self._forget(found.user_id)
            return found

    async def verify(self, code: str, origin: Origin) -> Certificate:
        """A certificate by its code, for anyone (rate-limited per address): valid, expired or revoked."""
        await self.verifiers.hit(origin.ip)
        typed = code.strip().upper().replace("-", "").replace(" ", "")
        if len(typed) != 16 or any(c not in CODE_ALPHABET for c in typed):
            raise NotFound("No certificate with this code.")
        wanted = "-".join(typed[i : i + 4] for i in range(0, 16, 4))
        async with self.db.session() as session:
            found = (await session.scalars(select(Completion).where(Completion.code == wanted))).first()
        if found is None:
            raise NotFound("No certificate with this code.")
        status = "revoked" if found.revoked_at else ("expired" if found.expires_at <= utcnow() else "valid")
        course = self.courses().get(found.course_id)
        title = dict(course.spec.title) if course else {"en": found.course_id}
        return Certificate(
            found.code, status, found.course_id, title, found.holder_name, found.completed_at, found.expires_at
        )

    # -- the gate --------------------------------------------------------------------------------------

    async def required_for(self, org_id: str) -> bool:
        """Whether the baseline course is required of ``org_id``'s people: by the installation, or by the
        organisation or one above it (a floor an organisation may raise, never lower)."""
        if self.gate == "enforce":
            return True
        now = time.monotonic()
        remembered = self._policies.get(org_id)
        if remembered is not None and now - remembered[0] < self.check_seconds:
            return remembered[1]
        async with self.db.session() as session:
            chain = await self.admin.ancestor_ids(session, org_id)
            required = bool(
                await session.scalar(
                    select(TrainingPolicy.org_id)
                    .where(TrainingPolicy.org_id.in_(chain), TrainingPolicy.require_baseline.is_(True))
                    .limit(1)
                )
            )
        self._policies[org_id] = (now, required)
        return required

    async def set_policy(self, principal: Principal, org_id: str, require_baseline: bool, origin: Origin) -> bool:
        """An organisation's administrator requires the baseline course of its people (or no longer does:
        the installation's gate and the organisations above still apply). Returns what applies now."""
        require_id(org_id, "org", "organisation", param="org_id")
        if principal.role not in ADMIN_ROLES:
            raise PermissionDenied("Only administrators set the training policy.", code="permission_denied")
        async with self.db.write_session() as session:
            visible = await self.admin.visible_org_ids(session, principal)
            if visible is not None and org_id not in visible:
                raise NotFound(f"No organisation {org_id!r}.", param="org_id")
            row = await session.get(TrainingPolicy, org_id)
            if row is None:
                row = TrainingPolicy(org_id=org_id, require_baseline=require_baseline, updated_by=principal.id)
                session.add(row)
            row.require_baseline, row.updated_by, row.updated_at = require_baseline, principal.id, utcnow()
            await self.admin.record_change(
                session,
                principal,
                origin,
                action="training.policy.changed",
                object_type="organisation",
                object_id=org_id,
                org_id=org_id,
                details={"require_baseline": require_baseline},
            )
            await session.commit()
        self._policies.clear()
        return await self.required_for(org_id)

    async def check(self, principal: Principal, course_id: str | None = None) -> None:
        """Refuse (``training_required``) a person's model call without a valid completion of ``course_id``
        (the baseline course by default); service accounts, the command line and the platform's own work
        pass."""
        if principal.kind != "user" or principal.org_id is None or not await self.required_for(principal.org_id):
            return
        course_id = course_id or self.baseline
        now = time.monotonic()
        remembered = self._holders.get((principal.id, course_id))
        if remembered is not None and now - remembered[0] < self.check_seconds and remembered[1] > utcnow():
            return
        completion = await self.current(principal.id, course_id)
        if completion is None:
            course = self.courses().get(course_id)
            title = course.text(course.spec.title, "en") if course else course_id
            raise TrainingRequired(
                f"Complete the course “{title}” before using models: /training/courses/{course_id}.",
                code="training_required",
            )
        self._holders[(principal.id, course_id)] = (now, completion.expires_at)

    def _forget(self, user_id: str) -> None:
        for key in [k for k in self._holders if k[0] == user_id]:
            del self._holders[key]
