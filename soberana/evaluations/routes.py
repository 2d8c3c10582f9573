"""HTTP routes of evaluations (``governance`` scope): the suites, runs and their results, comparisons,
exports, and the evidence a use case's approval needs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.auth.principal import Scope
from soberana.core.components import provider
from soberana.errors import require_id
from soberana.evaluations import exports
from soberana.evaluations.evidence import Evidence
from soberana.evaluations.schemas import ComparisonOut, EvidenceOut, GapOut, ResultOut, RunCreate, RunOut, SuiteOut
from soberana.evaluations.service import Evaluations
from soberana.evaluations.suites import LoadedSuite

EvaluationsDep = Annotated[Evaluations, Depends(provider(Evaluations))]
EvidenceDep = Annotated[Evidence, Depends(provider(Evidence))]
RunId = Annotated[str, Path(description="The run's id (`evr_…`).")]
router = APIRouter(prefix="/v1/evaluations", tags=["evaluations"])


def suite_out(loaded: LoadedSuite) -> SuiteOut:
    suite = loaded.suite
    return SuiteOut(
        id=suite.id,
        version=loaded.stamp,
        title=suite.title,
        description=suite.description,
        kind=suite.kind,
        targets=list(suite.targets),
        languages=suite.languages(),
        cases=len(suite.cases),
        source=loaded.source,
    )


@router.get("/suites", response_model=list[SuiteOut])
async def list_suites(principal: CurrentPrincipal, evaluations: EvaluationsDep) -> list[SuiteOut]:
    """The suites this installation knows (the project's and its own)."""
    principal.require(Scope.GOVERNANCE, "Evaluations")
    return [suite_out(s) for s in evaluations.suites()]


@router.post("/runs", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED)
async def start_run(
    body: RunCreate, principal: CurrentPrincipal, origin: OriginDep, evaluations: EvaluationsDep
) -> RunOut:
    """Start a run of a suite; it runs in the background (poll the run for its progress)."""
    run = await evaluations.create(principal, body, origin)
    evaluations.launch(run.id)
    return RunOut.model_validate(run)


@router.get("/runs", response_model=list[RunOut])
async def list_runs(
    principal: CurrentPrincipal,
    evaluations: EvaluationsDep,
    use_case_id: str | None = None,
    suite: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RunOut]:
    if use_case_id is not None:
        require_id(use_case_id, "uc", "use case", param="use_case_id")
    runs = await evaluations.list_runs(principal, use_case_id=use_case_id, suite=suite, limit=limit)
    return [RunOut.model_validate(r) for r in runs]


@router.get("/runs/{run_id}", response_model=RunOut)
async def get_run(run_id: RunId, principal: CurrentPrincipal, evaluations: EvaluationsDep) -> RunOut:
    return RunOut.model_validate(await evaluations.get(principal, run_id))


@router.get("/runs/{run_id}/results", response_model=list[ResultOut])
async def run_results(run_id: RunId, principal: CurrentPrincipal, evaluations: EvaluationsDep) -> list[ResultOut]:
    _, results = await evaluations.results(principal, run_id)
    return [ResultOut.model_validate(r) for r in results]


@router.get("/runs/{run_id}/comparison", response_model=ComparisonOut)
async def comparison(
    run_id: RunId,
    principal: CurrentPrincipal,
    evaluations: EvaluationsDep,
    against: Annotated[str | None, Query(description="Another run of the suite (default: the baseline).")] = None,
) -> ComparisonOut:
    """The cases that flipped since the run the use case's approval rests on (or the previous one)."""
    run, base, found = await evaluations.compare(principal, run_id, against)
    return ComparisonOut(run_id=run.id, baseline_id=base.id if base else None, **found.as_dict())


@router.get("/runs/{run_id}/export")
async def export(
    run_id: RunId,
    principal: CurrentPrincipal,
    evaluations: EvaluationsDep,
    format: Literal["csv", "json", "inspect"] = "json",
) -> Response:
    """The run and every case: CSV, JSON, or an Inspect AI log (`inspect view` opens it)."""
    import orjson

    run, results = await evaluations.results(principal, run_id)
    name = f"{run.suite_id}-{run.id}"
    if format == "csv":
        disposition = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
        return Response(exports.as_csv(results), media_type="text/csv; charset=utf-8", headers=disposition)
    if format == "inspect":
        suite = evaluations.library.load().get(run.suite_id)
        body = exports.as_inspect_log(run, results, suite.suite if suite else None)
        disposition = {"Content-Disposition": f'attachment; filename="{name}.eval.json"'}
        return Response(orjson.dumps(body), media_type="application/json", headers=disposition)
    return Response(orjson.dumps(exports.as_json(run, results)), media_type="application/json")


@router.get("/use-cases/{use_case_id}/evidence", response_model=EvidenceOut)
async def use_case_evidence(
    use_case_id: str, principal: CurrentPrincipal, evaluations: EvaluationsDep, evidence: EvidenceDep
) -> EvidenceOut:
    """The suites the use case's approval needs (by its risk), and what is missing for its latest version."""
    require_id(use_case_id, "uc", "use case")
    facts = await evaluations.register.use_case(principal, use_case_id)
    gaps = await evidence.gaps(facts, facts.version)
    return EvidenceOut(
        use_case_id=facts.id,
        version=facts.version,
        strict=evidence.is_strict(facts),
        required=evidence.policy.required(facts),
        gaps=[GapOut(**g.as_dict()) for g in gaps],
    )
