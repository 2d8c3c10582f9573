"""Evaluation runs: started against a use case, a collection's assistant or a model, executed through the
gateway (so policies, quotas and metering apply; the usage is the principal ``system:evaluation:<run>:<case>``),
resumed after a crash, scored, and kept with the exact versions they ran on (:mod:`.evidence` turns them into
the evidence an approval needs)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Role, Scope, system_principal
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, SoberanaError, require_id
from soberana.evaluations import repo
from soberana.evaluations.models import EvaluationResult, EvaluationRun
from soberana.evaluations.ports import Answering, Metering, Pages, Pins, Register, Target, UseCaseFacts
from soberana.evaluations.runner import DEFAULT_SYSTEM_PROMPT, MAX_OUTPUT_CHARS, Outcome, Plan, Runner
from soberana.evaluations.schemas import RunCreate
from soberana.evaluations.scorers import contacts
from soberana.evaluations.stats import Comparison, compare, pass_rate
from soberana.evaluations.suites import Library, LoadedSuite
from soberana.storage.db import Database

logger = logging.getLogger("soberana.evaluations")
Progress = Callable[[int, int], None]
EVALUATION_PURPOSE = "ev"  # system:ev:<run><case>: an evaluation's usage, apart from everyone else's
SHADOW = 36**3 - 1  # the number of the principal that builds a run's shadow collection
# what a case is estimated to send and receive, in tokens, before a run (its real usage is metered)
ESTIMATED_TOKENS = {"assistant": (1500, 300), "model": (300, 300)}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Evaluations:
    def __init__(
        self,
        db: Database,
        admin: AdminService,
        library: Library,
        runner: Runner,
        *,
        answering: Answering,
        pages: Pages,
        register: Register,
        pins: Pins,
        metering: Metering,
        answer_model: str | None,
    ) -> None:
        self.db = db
        self.admin = admin
        self.library = library
        self.runner = runner
        self.answering = answering
        self.pages = pages
        self.register = register
        self.pins = pins
        self.metering = metering
        self.answer_model = answer_model
        self._tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    # -- suites ----------------------------------------------------------------------------------------

    def suites(self) -> list[LoadedSuite]:
        return sorted(self.library.load().values(), key=lambda s: s.id)

    # -- starting a run --------------------------------------------------------------------------------

    @staticmethod
    def _runner_of(principal: Principal) -> None:
        principal.require(Scope.GOVERNANCE, "Evaluations")
        if principal.role is Role.AUDITOR:
            raise PermissionDenied("Auditors read evaluations; they do not run them.", code="read_only")

    def target_of(self, facts: UseCaseFacts, model: str | None = None, system_prompt: str | None = None) -> Target:
        """What a use case runs, as an evaluation target: its first collection's assistant, else its model."""
        if facts.collections:
            return Target(
                "assistant", facts.org_id, collection_id=facts.collections[0], model=model or self.answer_model
            )
        if facts.models:
            return Target("model", facts.org_id, model=model or facts.models[0], system_prompt=system_prompt)
        raise InvalidRequest(
            "The use case names no collection and no model: there is nothing to evaluate.", code="nothing_to_evaluate"
        )

    async def pins_of(self, suite: LoadedSuite, target: Target, facts: UseCaseFacts | None) -> dict[str, Any]:
        """The versions a run rests on: any that changes makes the run stale."""
        aliases = sorted({*(m for m in [target.model] if m), *(facts.models if facts else ())})
        prompt = self.answering.system_prompt(target)
        if target.kind == "model":
            prompt = target.system_prompt or suite.suite.system_prompt or DEFAULT_SYSTEM_PROMPT
        return {
            "suite": suite.stamp,
            "use_case_version": facts.version if facts else None,
            "system_prompt": _hash(prompt),
            "deployments": await self.pins.models(aliases),
            "collection": await self.pages.content_hash(target.collection_id) if target.collection_id else None,
            "policy": _hash(self.pins.policy(target.org_id)),
        }

    async def create(self, principal: Principal, request: RunCreate, origin: Origin) -> EvaluationRun:
        """A queued run (:meth:`launch` or :meth:`execute` runs it)."""
        self._runner_of(principal)
        facts: UseCaseFacts | None = None
        if request.use_case_id is not None:
            require_id(request.use_case_id, "uc", "use case", param="use_case_id")
            facts = await self.register.use_case(principal, request.use_case_id)
            target = self.target_of(facts, request.model, request.system_prompt)
        else:
            org_id = request.org_id or principal.org_id
            if org_id is None:
                raise InvalidRequest("Name the organisation the run is for.", param="org_id")
            require_id(org_id, "org", "organisation", param="org_id")
            async with self.db.session() as session:
                visible = await self.admin.visible_org_ids(session, principal)
            if visible is not None and org_id not in visible:
                raise NotFound(f"No organisation {org_id!r}.", param="org_id")
            if request.collection is not None:
                collection_id, org_id = await self.pages.collection(principal, request.collection, org_id)
                target = Target(
                    "assistant", org_id, collection_id=collection_id, model=request.model or self.answer_model
                )
            else:
                target = Target("model", org_id, model=request.model, system_prompt=request.system_prompt)
        suite = self.library.get(request.suite)
        return await self.create_for(principal, suite, target, facts, "manual", request.judge_model, origin)

    async def create_for(
        self,
        principal: Principal,
        suite: LoadedSuite,
        target: Target,
        facts: UseCaseFacts | None,
        purpose: str,
        judge_model: str | None,
        origin: Origin | None,
    ) -> EvaluationRun:
        """A queued run of ``suite`` against ``target`` (``facts``: the use case it evaluates), for a person, or
        for the platform's own re-runs after a change (``purpose`` ``rerun``)."""
        if target.kind not in suite.suite.targets:
            raise InvalidRequest(
                f"The suite {suite.id!r} runs against {' or '.join(suite.suite.targets)} targets, not a {target.kind}.",
                code="suite_not_applicable",
                param="suite",
            )
        pins = await self.pins_of(suite, target, facts)
        run = EvaluationRun(
            id=new_id("evr"),
            org_id=target.org_id,
            use_case_id=facts.id if facts else None,
            use_case_version=facts.version if facts else None,
            suite_id=suite.id,
            suite_version=suite.stamp,
            target={
                "kind": target.kind,
                "collection_id": target.collection_id,
                "model": target.model,
                "system_prompt": target.system_prompt,
            },
            pins=pins,
            purpose=purpose,
            status="queued",
            cases_total=len(suite.suite.cases),
            cases_done=0,
            passed=0,
            judge_model=judge_model,
            canary="CANARY-" + secrets.token_hex(8).upper(),
            marker="MARKER-" + secrets.token_hex(4).upper(),
            cost_estimate=self._estimate(suite, target, judge_model),
            error="",
            created_by=principal.id,
            created_at=utcnow(),
        )
        async with self.db.write_session() as session:
            session.add(run)
            await self.admin.record_change(
                session,
                principal,
                origin or Origin(),
                action="evaluation.run.created",
                org_id=run.org_id,
                object_type="evaluation_run",
                object_id=run.id,
                details={"suite": suite.id, "version": suite.stamp, "use_case_id": run.use_case_id, "purpose": purpose},
            )
            await session.commit()
        return run

    def _estimate(self, suite: LoadedSuite, target: Target, judge_model: str | None) -> float:
        prompt, completion = ESTIMATED_TOKENS[target.kind]
        calls = sum(1 + len(case.setup) for case in suite.suite.cases)
        cost = calls * self.metering.price(target.model, prompt, completion) if target.model else 0.0
        judged = sum(1 for case in suite.suite.cases if case.expect.judge)
        if judge_model and judged:
            cost += judged * self.metering.price(judge_model, 800, 60)
        return round(cost, 6)

    # -- executing ---------------------------------------------------------------------------------------

    def launch(self, run_id: str) -> None:
        """Run it in the background of this process."""
        task = asyncio.get_running_loop().create_task(self.execute(run_id), name=f"evaluation {run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume_unfinished(self) -> list[str]:
        """Runs left queued or running (a crash, a restart) resume where they stopped: finished cases kept."""
        async with self.db.session() as session:
            ids = [run.id for run in await repo.unfinished(session)]
        for run_id in ids:
            self.launch(run_id)
        return ids

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait(self) -> None:
        """Wait for the runs started in this process (tests, commands)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @staticmethod
    def usage_prefix(run_id: str) -> str:
        """What the ids of a run's principals start with (usage records keep ids of 40 characters at most)."""
        return f"system:{EVALUATION_PURPOSE}:{run_id.split('_', 1)[1]}"

    @staticmethod
    def _principal(run: EvaluationRun, slug: str | None, number: int) -> Principal:
        """The principal case ``number`` of a run is asked as: its usage is the run's, its outbound requests
        the case's."""
        suffix = "".join("0123456789abcdefghijklmnopqrstuvwxyz"[number // 36**i % 36] for i in (2, 1, 0))
        return system_principal(run.org_id, slug, f"{EVALUATION_PURPOSE}:{run.id.split('_', 1)[1]}{suffix}")

    async def execute(self, run_id: str, progress: Progress | None = None) -> EvaluationRun:
        """Run the cases of ``run_id`` that have no result yet, then score the run (a crash resumes here)."""
        async with self.db.write_session() as session:
            run = await session.get(EvaluationRun, run_id)
            if run is None:
                raise NotFound(f"No evaluation run {run_id!r}.")
            if run.status not in repo.UNFINISHED:
                return run
            claimed = await session.execute(
                update(EvaluationRun)
                .where(EvaluationRun.id == run_id, EvaluationRun.status.in_(repo.UNFINISHED))
                .values(status="running", started_at=run.started_at or utcnow())
            )
            await session.commit()
            if not getattr(claimed, "rowcount", 1):
                return run
            org = await self.admin.public_organisation(session, org_id=run.org_id)
            slug = org.slug if org is not None else None
            done = {r.case_id for r in await repo.results(session, run_id)}
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        target = Target(
            run.target["kind"],
            run.org_id,
            run.target.get("collection_id"),
            run.target.get("model"),
            run.target.get("system_prompt"),
        )
        try:
            suite = self.library.get(run.suite_id)
            if suite.stamp != run.suite_version:
                raise Conflict(
                    f"The suite {run.suite_id!r} changed since this run was started ({run.suite_version} → "
                    f"{suite.stamp}); start a new run.",
                    code="suite_changed",
                )
            numbers = {case.id: n for n, case in enumerate(suite.suite.cases)}
            plan = Plan(
                run.id,
                suite,
                target,
                run.canary,
                run.marker,
                lambda case: self._principal(run, slug, numbers[case]),
                run.judge_model,
                done=done,
            )
            if suite.suite.poison is not None:
                plan = await self._shadowed(run, plan, slug)
            if target.collection_id and any(c.expect.no_new_contacts for c in suite.suite.cases):
                plan.trusted_contacts = contacts(await self.pages.contacts_text(target.collection_id))
            counted = [len(done)]

            async def record(outcome: Outcome) -> None:
                async with lock:
                    await self._record(run_id, outcome)
                    counted[0] += 1
                    if progress is not None:
                        progress(counted[0], run.cases_total)

            await self.runner.run(plan, record)
            return await self._finish(run_id)
        except asyncio.CancelledError:
            raise  # stopped with the process: resumed at the next start
        except SoberanaError as error:
            return await self._fail(run_id, f"{error.code}: {error.message}")
        except Exception as error:
            logger.exception("evaluation run %s failed", run_id)
            return await self._fail(run_id, type(error).__name__)
        finally:
            self._locks.pop(run_id, None)
            if run.shadow_collection_id:
                await self._drop_shadow(run_id)

    async def _shadowed(self, run: EvaluationRun, plan: Plan, slug: str | None) -> Plan:
        principal = self._principal(run, slug, SHADOW)
        name = "eval-" + run.id.split("_", 1)[1].lower()
        shadow_id = run.shadow_collection_id or await self.runner.shadow(plan, principal, name)
        async with self.db.write_session() as session:
            await session.execute(
                update(EvaluationRun).where(EvaluationRun.id == run.id).values(shadow_collection_id=shadow_id)
            )
            await session.commit()
        run.shadow_collection_id = shadow_id
        trusted = plan.target.collection_id
        assert trusted is not None
        plan.trusted_contacts = contacts(await self.pages.contacts_text(trusted))
        plan.target = Target(plan.target.kind, plan.target.org_id, shadow_id, plan.target.model, None)
        return plan

    async def _drop_shadow(self, run_id: str) -> None:
        async with self.db.write_session() as session:
            run = await session.get(EvaluationRun, run_id)
            if run is None or run.shadow_collection_id is None or run.status in repo.UNFINISHED:
                return  # kept for the resumption
            shadow, run.shadow_collection_id = run.shadow_collection_id, None
            await session.commit()
        await self.pages.drop_shadow(shadow)

    async def _record(self, run_id: str, outcome: Outcome) -> None:
        reply = outcome.reply
        async with self.db.write_session() as session:
            session.add(
                EvaluationResult(
                    id=new_id("evc"),
                    run_id=run_id,
                    case_id=outcome.case.id,
                    language=outcome.case.language,
                    tags=list(outcome.case.tags),
                    passed=outcome.passed,
                    verdicts=[v.as_dict() for v in outcome.verdicts],
                    output=reply.text[:MAX_OUTPUT_CHARS] if reply else "",
                    abstained=reply.abstained if reply else None,
                    citations=outcome.citations(),
                    error=outcome.error,
                    duration_ms=round(outcome.duration_ms, 3),
                    created_at=utcnow(),
                )
            )
            try:
                await session.flush()
            except IntegrityError:  # another process resumed the same run and recorded this case first
                await session.rollback()
                return
            run = await session.get(EvaluationRun, run_id)
            assert run is not None
            run.cases_done += 1
            run.passed += int(outcome.passed)
            await session.commit()

    async def _finish(self, run_id: str) -> EvaluationRun:
        async with self.db.session() as session:
            outcomes = [r.passed for r in await repo.results(session, run_id)]
            run = await session.get(EvaluationRun, run_id)
            assert run is not None
            org_id = run.org_id
        spent = await self.metering.spent(org_id, self.usage_prefix(run_id))
        rate = pass_rate(outcomes)
        async with self.db.write_session() as session:
            run = await session.get(EvaluationRun, run_id)
            assert run is not None
            run.status = "finished"
            run.cases_done, run.passed = rate.total, rate.passed
            run.pass_rate, run.ci_low, run.ci_high = rate.rate, rate.low, rate.high
            run.cost, run.calls, run.tokens = round(spent.cost, 6), spent.calls, spent.tokens
            run.finished_at = utcnow()
            await session.commit()
            return run

    async def _fail(self, run_id: str, error: str) -> EvaluationRun:
        async with self.db.write_session() as session:
            run = await session.get(EvaluationRun, run_id)
            assert run is not None
            run.status, run.error, run.finished_at = "failed", error[:2000], utcnow()
            await session.commit()
            return run

    # -- reading -----------------------------------------------------------------------------------------

    async def _visible(self, session: AsyncSession, principal: Principal) -> frozenset[str] | None:
        principal.require(Scope.GOVERNANCE, "Evaluations")
        return await self.admin.visible_org_ids(session, principal)

    async def _get(self, session: AsyncSession, principal: Principal, run_id: str) -> EvaluationRun:
        require_id(run_id, "evr", "evaluation run")
        visible = await self._visible(session, principal)
        run = await session.get(EvaluationRun, run_id)
        if run is None or (visible is not None and run.org_id not in visible):
            raise NotFound(f"No evaluation run with id {run_id!r}.")
        return run

    async def get(self, principal: Principal, run_id: str) -> EvaluationRun:
        async with self.db.session() as session:
            return await self._get(session, principal, run_id)

    async def list_runs(
        self, principal: Principal, *, use_case_id: str | None = None, suite: str | None = None, limit: int = 50
    ) -> list[EvaluationRun]:
        async with self.db.session() as session:
            visible = await self._visible(session, principal)
            return await repo.runs(session, visible, use_case_id=use_case_id, suite_id=suite, limit=limit)

    async def results(self, principal: Principal, run_id: str) -> tuple[EvaluationRun, list[EvaluationResult]]:
        async with self.db.session() as session:
            run = await self._get(session, principal, run_id)
            return run, await repo.results(session, run.id)

    async def baseline(self, session: AsyncSession, run: EvaluationRun) -> EvaluationRun | None:
        """What a run is compared with: the run of its suite that the use case's approved version rests on,
        else the previous finished run of the same suite and target."""
        if run.use_case_id is not None:
            facts = await self.register.use_case_by_id(run.use_case_id)
            if facts is not None and facts.approved_version is not None:
                approved = await repo.latest(
                    session, run.use_case_id, run.suite_id, version=facts.approved_version, before=run.id
                )
                if approved is not None and approved.status == "finished":
                    return approved
        return await repo.finished_before(session, run)

    async def compare(
        self, principal: Principal, run_id: str, against: str | None = None
    ) -> tuple[EvaluationRun, EvaluationRun | None, Comparison]:
        """The cases that flipped between ``against`` (default: :meth:`baseline`) and ``run_id``."""
        async with self.db.session() as session:
            run = await self._get(session, principal, run_id)
            base = await self._get(session, principal, against) if against else await self.baseline(session, run)
            if base is not None and base.suite_id != run.suite_id:
                raise InvalidRequest("Runs of different suites are not compared case by case.", param="against")
            after = {r.case_id: r.passed for r in await repo.results(session, run.id)}
            before = {r.case_id: r.passed for r in await repo.results(session, base.id)} if base else {}
        return run, base, compare(before, after) if base else Comparison(added=sorted(after))

    async def history(self, principal: Principal, use_case_id: str | None, suite: str) -> Sequence[EvaluationRun]:
        async with self.db.session() as session:
            visible = await self._visible(session, principal)
            runs = await repo.runs(
                session, visible, use_case_id=use_case_id, suite_id=suite, status="finished", limit=200
            )
        return list(reversed(runs))
