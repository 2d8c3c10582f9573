"""Evaluations as the evidence behind an approval: the gaps that hold an approval back (:mod:`.gate`), the
re-runs a change to a running use case triggers, and the incident a regression opens."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from soberana.auth.principal import cli_principal
from soberana.errors import SoberanaError
from soberana.evaluations import repo
from soberana.evaluations.gate import Gap, GatePolicy, changed_pins, strict
from soberana.evaluations.ports import UseCaseFacts
from soberana.evaluations.service import Evaluations
from soberana.evaluations.stats import compare

logger = logging.getLogger("soberana.evaluations")
RUNNING_STATES = frozenset({"approved", "live"})


class Evidence:
    def __init__(self, evaluations: Evaluations, policy: GatePolicy, mode: str) -> None:
        self.evaluations = evaluations
        self.policy = policy
        self.mode = mode  # off | warn | enforce
        self._tasks: set[asyncio.Task[Any]] = set()

    async def gaps(self, facts: UseCaseFacts, version: int) -> list[Gap]:
        """What is missing for the approval of ``version`` of the use case (nothing: the evidence holds)."""
        required = self.policy.required(facts)
        if not required:
            return []
        evaluations = self.evaluations
        target = evaluations.target_of(facts)
        found: list[Gap] = []
        async with evaluations.db.session() as session:
            for suite_id, threshold in sorted(required.items()):
                run = await repo.latest(session, facts.id, suite_id, version=version)
                if run is None:
                    found.append(Gap(suite_id, "missing", f"no run of {suite_id} on version {version}", threshold))
                    continue
                if run.status in repo.UNFINISHED:
                    found.append(Gap(suite_id, "running", "the run has not finished", threshold, run.id))
                    continue
                if run.status != "finished":
                    found.append(Gap(suite_id, "failed", run.error or "the run failed", threshold, run.id))
                    continue
                suite = evaluations.library.get(suite_id)
                now = await evaluations.pins_of(suite, target, facts)
                stale = changed_pins(run.pins, now)
                if stale:
                    found.append(
                        Gap(suite_id, "stale", "changed since the run: " + ", ".join(stale), threshold, run.id)
                    )
                    continue
                rate = run.pass_rate or 0.0
                if rate < threshold:
                    found.append(
                        Gap(suite_id, "below_threshold", f"pass rate {rate:.0%} < {threshold:.0%}", threshold, run.id)
                    )
        return found

    def is_strict(self, facts: UseCaseFacts) -> bool:
        return strict(facts)

    # -- re-runs after a change ----------------------------------------------------------------------------

    def changed(self, use_case_id: str) -> None:
        """A use case changed: if it runs (approved or live), re-run its required suites in the background."""
        if self.mode == "off":
            return
        task = asyncio.get_running_loop().create_task(self.rerun(use_case_id), name=f"re-evaluate {use_case_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.evaluations.wait()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def rerun(self, use_case_id: str) -> list[str]:
        """Re-run every required suite against what the use case now runs; a regression against the runs its
        approved version rests on opens an incident. Returns the new runs' ids."""
        evaluations = self.evaluations
        facts = await evaluations.register.use_case_by_id(use_case_id)
        if facts is None or facts.status not in RUNNING_STATES:
            return []
        runs: list[str] = []
        regressions: list[str] = []
        for suite_id, threshold in sorted(self.policy.required(facts).items()):
            try:
                suite = evaluations.library.get(suite_id)
                run = await evaluations.create_for(
                    cli_principal("evaluations"), suite, evaluations.target_of(facts), facts, "rerun", None, None
                )
                run = await evaluations.execute(run.id)
            except SoberanaError as error:
                regressions.append(f"{suite_id}: could not be re-run ({error.code})")
                continue
            runs.append(run.id)
            async with evaluations.db.session() as session:
                base = await evaluations.baseline(session, run)
                after = {r.case_id: r.passed for r in await repo.results(session, run.id)}
                before = {r.case_id: r.passed for r in await repo.results(session, base.id)} if base else {}
            flipped = compare(before, after).regressed
            if run.status != "finished":
                regressions.append(f"{suite_id}: the re-run failed ({run.error})")
            elif flipped or (run.pass_rate or 0.0) < threshold:
                rate = run.pass_rate or 0.0
                cases = ", ".join(flipped[:10]) or "none"
                regressions.append(
                    f"{suite_id}: pass rate {rate:.0%} (threshold {threshold:.0%}); now failing: {cases}"
                )
        if regressions:
            summary = f"Evaluations regressed after a change to version {facts.version}"
            await evaluations.register.report_regression(use_case_id, summary, "\n".join(regressions))
        return runs
