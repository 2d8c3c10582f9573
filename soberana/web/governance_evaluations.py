"""Evaluations in the web console (``governance`` scope), without JavaScript: for a use case, the suites its
approval needs with their thresholds, how each one's latest run did and what holds the evidence back, a
form to run a suite against what the use case runs, and each suite's pass rate over time (an SVG chart
drawn on the server, its numbers in a table); for a run, its progress (the page reloads itself while the run
runs), its pass rate with the 95% interval, the versions it ran on, its cost, every case's result, the
cases that flipped since its baseline, and its exports (CSV, JSON, an Inspect AI log) for the person signed
in.

As on the register's pages, the services decide who may do what: the pages offer what the rules would
allow, and show a refusal (its status code and reason) on the page it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from soberana.auth.deps import get_origin
from soberana.auth.principal import Scope
from soberana.errors import InvalidRequest, NotFound, SoberanaError
from soberana.evaluations import exports
from soberana.evaluations.gate import Gap, changed_pins
from soberana.evaluations.models import EvaluationRun
from soberana.evaluations.ports import UseCaseFacts
from soberana.evaluations.schemas import RunCreate
from soberana.evaluations.suites import LoadedSuite
from soberana.web.governance import _form, _writes
from soberana.web.i18n import N_
from soberana.web.ui import Page, PageContext, Services

router = APIRouter(include_in_schema=False)

RUN_STATES = {
    "queued": N_("Waiting to start"),
    "running": N_("Running"),
    "finished": N_("Finished"),
    "failed": N_("Failed"),
}
# the state of a required suite's evidence: a gap's problem, or none (it holds)
EVIDENCE_STATES = {
    "holds": N_("Holds: the latest run reaches the threshold"),
    "missing": N_("Missing: no run on this version"),
    "running": N_("Running: the run has not finished"),
    "stale": N_("Stale: changed since the run"),
    "below_threshold": N_("Below the threshold"),
    "failed": N_("Failed: the run did not finish"),
}
PURPOSES = {
    "manual": N_("Started by a person"),
    "approval": N_("For an approval"),
    "rerun": N_("Re-run after a change"),
}
GATE_MODES = {
    "off": N_("Off: approvals do not wait for evaluations."),
    "warn": N_("Warn: an approval without this evidence is recorded with what it lacked."),
    "enforce": N_("Enforce: the use case is approved only once this evidence holds."),
}
PIN_NAMES = {  # what a run rests on (EvaluationRun.pins): any that changes makes it stale
    "suite": N_("The suite's version"),
    "use_case_version": N_("The use case's version"),
    "system_prompt": N_("The system prompt (its hash)"),
    "deployments": N_("The deployments of its models"),
    "collection": N_("The collection's content (its hash)"),
    "policy": N_("The data-protection policy (its hash)"),
}
CHECK_NAMES = {  # the checks of a case (soberana.evaluations.scorers, runner, judge)
    "answers": N_("Answers or declines as expected"),
    "evidence": N_("Grounded in a cited passage"),
    "language": N_("Written in the expected language"),
    "must_not_contain": N_("Says nothing it must not"),
    "must_contain_any": N_("Says what was expected"),
    "no_new_contacts": N_("No contact details of its own"),
    "not_sent": N_("Nothing protected sent abroad"),
    "judge": N_("The judge model's verdict"),
    "error": N_("The case could not run"),
}
SUITE_TITLES = {  # the project's suites (their YAML titles), in the page's language
    "abstention": N_("Answering only what the pages say"),
    "grounding": N_("Grounded answers with citations"),
    "indirect-injection": N_("Indirect prompt injection through poisoned pages"),
    "language": N_("Answering in the asker's language"),
    "off-topic": N_("Declining off-topic requests and legal or medical advice"),
    "personal-data": N_("Personal data stays where it was given"),
    "prompt-injection": N_("Direct prompt injection and system-prompt extraction"),
}
EXPORTS = ("csv", "json", "inspect")
SHORT_OUTPUT = 240  # characters of an answer shown in the results table (the whole answer on demand)
REFRESH_SECONDS = 5
# the pass-rate chart: an SVG of this size, the plot inside these margins
CHART_WIDTH, CHART_HEIGHT = 640, 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 24, 16, 40
MAX_DATE_LABELS = 6


def suite_title(page: PageContext, suite: LoadedSuite | None, suite_id: str) -> str:
    """A suite's title in the page's language where it is one of the project's suites."""
    if suite is None:
        return suite_id
    if suite.source == "builtin" and suite_id in SUITE_TITLES:
        return page.t.gettext(SUITE_TITLES[suite_id])
    return suite.suite.title


def rate_chart(runs: Sequence[EvaluationRun], threshold: float | None, page: PageContext) -> dict[str, Any]:
    """Pass rates over time as SVG geometry: a point per finished run (in the order they were started), its
    95% interval as a whisker, and the threshold as a dashed line (the table beside it has the numbers)."""
    left, right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, CHART_HEIGHT - MARGIN_BOTTOM

    def y(rate: float) -> float:
        return round(bottom - (bottom - top) * min(max(rate, 0.0), 1.0), 1)

    def x(index: int) -> float:
        if len(runs) == 1:
            return round((left + right) / 2, 1)
        return round(left + (right - left) * index / (len(runs) - 1), 1)

    points = []
    step = max(1, -(-len(runs) // MAX_DATE_LABELS))  # at most MAX_DATE_LABELS dates under the axis
    for i, run in enumerate(runs):
        rate = run.pass_rate or 0.0
        points.append(
            {
                "x": x(i),
                "y": y(rate),
                "low": y(run.ci_low if run.ci_low is not None else rate),
                "high": y(run.ci_high if run.ci_high is not None else rate),
                "value": page.t.percent(rate),
                "date": page.t.date(run.created_at, "short"),
                "dated": i % step == 0 or i == len(runs) - 1,
                "run": run,
            }
        )
    ticks = [{"y": y(v), "label": page.t.percent(v)} for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": left,
        "right": right,
        "bottom": bottom,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "ticks": ticks,
        "threshold": None if threshold is None else {"y": y(threshold), "label": page.t.percent(threshold)},
    }


# -- a use case's evaluations --------------------------------------------------------------------------


@dataclass
class Required:
    """A suite the approval needs: its threshold, its latest run (any version), and what holds it back."""

    suite_id: str
    title: str
    threshold: float
    latest: EvaluationRun | None
    state: str
    detail: str = ""  # English, from the service (a failed run's error)
    changed: Sequence[str] = ()  # the pins that changed since a stale run


def _target_kind(facts: UseCaseFacts) -> str | None:
    return "assistant" if facts.collections else "model" if facts.models else None


async def _target_name(services: Services, facts: UseCaseFacts) -> str:
    """The collection a use case's assistant answers from (its name where it can be read), or its model."""
    if not facts.collections:
        return facts.models[0] if facts.models else ""
    async with services.db.session() as session:
        found = await services.knowledge.find_collection(session, facts.collections[0])
    return found.name if found is not None else facts.collections[0]


async def _required(
    page: PageContext, services: Services, facts: UseCaseFacts, latest: dict[str, EvaluationRun]
) -> list[Required]:
    evaluations, evidence = services.evaluations, services.evaluation_evidence
    suites = evaluations.library.load()
    gaps: dict[str, Gap] = {g.suite: g for g in await evidence.gaps(facts, facts.version)}
    found = []
    for suite_id, threshold in sorted(evidence.policy.required(facts).items()):
        gap = gaps.get(suite_id)
        entry = Required(
            suite_id,
            suite_title(page, suites.get(suite_id), suite_id),
            threshold,
            latest.get(suite_id),
            gap.problem if gap else "holds",
        )
        if gap is not None and gap.problem == "failed":
            entry.detail = gap.detail
        if gap is not None and gap.problem == "stale" and gap.run_id and suite_id in suites:
            run = await evaluations.get(page.principal, gap.run_id)
            now = await evaluations.pins_of(suites[suite_id], evaluations.target_of(facts), facts)
            entry.changed = changed_pins(run.pins, now)
        found.append(entry)
    return found


async def _evaluations_page(
    page: PageContext,
    services: Services,
    use_case_id: str,
    *,
    refusal: SoberanaError | None = None,
    status_code: int = 200,
) -> Response:
    principal, evaluations, evidence = page.principal, services.evaluations, services.evaluation_evidence
    principal.require(Scope.GOVERNANCE, "Evaluations")
    facts = await evaluations.register.use_case(principal, use_case_id)  # a use case of yours, or a 404
    runs = await evaluations.list_runs(principal, use_case_id=facts.id, limit=200)
    latest: dict[str, EvaluationRun] = {}
    for run in runs:  # newest first
        latest.setdefault(run.suite_id, run)
    suites = evaluations.library.load()
    kind = _target_kind(facts)
    required = await _required(page, services, facts, latest) if kind else []
    thresholds = {r.suite_id: r.threshold for r in required}
    charted = [*thresholds, *sorted(s for s in latest if s not in thresholds)]
    charts = []
    for suite_id in charted:
        history = await evaluations.history(principal, facts.id, suite_id)
        if history:
            title = suite_title(page, suites.get(suite_id), suite_id)
            chart = rate_chart(history, thresholds.get(suite_id), page)
            charts.append({"suite_id": suite_id, "title": title, "chart": chart, "threshold": thresholds.get(suite_id)})
    offered = sorted(
        (s for s in suites.values() if kind in s.suite.targets),
        key=lambda s: (s.id not in thresholds, s.id),
    )
    return page.render(
        "governance_evaluations.html",
        status_code=status_code,
        section="governance",
        facts=facts,
        target_kind=kind,
        target_name=await _target_name(services, facts) if kind else "",
        strict=evidence.is_strict(facts),
        gate_mode=GATE_MODES.get(evidence.mode, evidence.mode),
        required=required,
        charts=charts,
        recent=runs[:20],
        offered=[(s.id, suite_title(page, s, s.id), s.id in thresholds) for s in offered],
        titles={s.id: suite_title(page, s, s.id) for s in suites.values()},
        evidence_states=EVIDENCE_STATES,
        run_states=RUN_STATES,
        pin_names=PIN_NAMES,
        can_run=_writes(principal) and kind is not None,
        refusal=refusal,
    )


@router.get("/console/governance/{use_case_id}/evaluations")
async def use_case_evaluations(use_case_id: str, page: Page, services: Services) -> Response:
    return await _evaluations_page(page, services, use_case_id)


@router.post("/console/governance/{use_case_id}/evaluations/run")
async def run_suite(use_case_id: str, request: Request, page: Page, services: Services) -> Response:
    """Run a suite against what the use case runs, in the background: then the run's page."""
    form = await _form(request, page)
    evaluations = services.evaluations
    try:
        try:
            wanted = RunCreate(suite=str(form.get("suite", "")), use_case_id=use_case_id)
        except ValidationError:
            raise InvalidRequest(page.t.gettext("Choose one of the suites offered."), param="suite") from None
        run = await evaluations.create(page.principal, wanted, get_origin(request))
    except SoberanaError as error:
        if error.status_code >= 500:
            raise
        return await _evaluations_page(page, services, use_case_id, refusal=error, status_code=error.status_code)
    evaluations.launch(run.id)
    return page.redirect(f"/console/evaluations/runs/{run.id}?done=started")


# -- a run ---------------------------------------------------------------------------------------------


def _failed_checks(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in verdicts if not v.get("passed")]


@router.get("/console/evaluations/runs/{run_id}")
async def run_page(run_id: str, page: Page, services: Services) -> Response:
    """A run: its progress (reloading itself until it ends), pass rate, pins, cost, results and comparison."""
    principal, evaluations = page.principal, services.evaluations
    run, results = await evaluations.results(principal, run_id)  # a run of yours, or a 404
    use_case = None
    if run.use_case_id is not None:
        try:
            use_case = (await services.governance.get(principal, run.use_case_id)).use_case
        except NotFound:
            use_case = None
    unfinished = run.status in ("queued", "running")
    base, comparison = None, None
    if not unfinished:
        _, base, comparison = await evaluations.compare(principal, run.id)
    suite = evaluations.library.load().get(run.suite_id)
    refresh = unfinished and page.request.query_params.get("refresh") != "off"
    return page.render(
        "evaluation_run.html",
        section="governance",
        run=run,
        suite_title=suite_title(page, suite, run.suite_id),
        use_case=use_case,
        results=[
            {
                "result": r,
                "failed": _failed_checks(r.verdicts),
                "short": r.output if len(r.output) <= SHORT_OUTPUT else r.output[: SHORT_OUTPUT - 1].rstrip() + "…",
            }
            for r in results
        ],
        failures=sum(1 for r in results if not r.passed),
        base=base,
        comparison=comparison,
        refresh=REFRESH_SECONDS if refresh else None,
        unfinished=unfinished,
        currency=page.settings.currency,
        run_states=RUN_STATES,
        purposes=PURPOSES,
        pin_names=PIN_NAMES,
        check_names=CHECK_NAMES,
        done=page.request.query_params.get("done", ""),
    )


@router.get("/console/evaluations/runs/{run_id}/export")
async def export_run(run_id: str, page: Page, services: Services, format: str = "json") -> Response:
    """The run and every case as CSV, JSON or an Inspect AI log (as ``/v1/evaluations/runs/{id}/export``,
    signed in)."""
    if format not in EXPORTS:
        raise InvalidRequest("Choose CSV, JSON or Inspect.", param="format")
    evaluations = services.evaluations
    run, results = await evaluations.results(page.principal, run_id)
    name = f"{run.suite_id}-{run.id}"
    headers = {"Cache-Control": "no-store"}
    if format == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return Response(exports.as_csv(results), media_type="text/csv; charset=utf-8", headers=headers)
    if format == "inspect":
        suite = evaluations.library.load().get(run.suite_id)
        body = exports.as_inspect_log(run, results, suite.suite if suite else None)
        headers["Content-Disposition"] = f'attachment; filename="{name}.eval.json"'
        return Response(orjson.dumps(body), media_type="application/json", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return Response(orjson.dumps(exports.as_json(run, results)), media_type="application/json", headers=headers)
