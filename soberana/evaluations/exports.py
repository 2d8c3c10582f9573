"""A run's results as CSV, JSON, or an Inspect AI evaluation log (the JSON log format of UK AISI's Inspect,
``inspect view`` reads it), so that results can be read with the tools evaluators already use."""

from __future__ import annotations

from typing import Any

from soberana.core.spreadsheet import to_csv
from soberana.evaluations.models import EvaluationResult, EvaluationRun
from soberana.evaluations.suites import Suite

CSV_FIELDS = ["case_id", "language", "tags", "passed", "checks_failed", "error", "duration_ms", "output"]


def _failed(result: EvaluationResult) -> str:
    return "; ".join(f"{v['check']}: {v['detail']}" for v in result.verdicts if not v.get("passed"))


def as_csv(results: list[EvaluationResult]) -> str:
    rows = (
        [r.case_id, r.language, " ".join(r.tags), r.passed, _failed(r), r.error, r.duration_ms, r.output]
        for r in results
    )
    return to_csv(CSV_FIELDS, rows)


def run_dict(run: EvaluationRun) -> dict[str, Any]:
    fields = (
        "id", "org_id", "use_case_id", "use_case_version", "suite_id", "suite_version", "target", "pins", "purpose",
        "status", "cases_total", "cases_done", "passed", "pass_rate", "ci_low", "ci_high", "judge_model",
        "cost_estimate", "cost", "calls", "tokens", "error", "created_by",
    )  # fmt: skip
    found: dict[str, Any] = {name: getattr(run, name) for name in fields}
    for name in ("created_at", "started_at", "finished_at"):
        value = getattr(run, name)
        found[name] = value.isoformat() if value else None
    return found


def result_dict(result: EvaluationResult) -> dict[str, Any]:
    return {
        "case_id": result.case_id,
        "language": result.language,
        "tags": result.tags,
        "passed": result.passed,
        "verdicts": result.verdicts,
        "output": result.output,
        "abstained": result.abstained,
        "citations": result.citations,
        "error": result.error,
        "duration_ms": result.duration_ms,
    }


def as_json(run: EvaluationRun, results: list[EvaluationResult]) -> dict[str, Any]:
    return {"run": run_dict(run), "results": [result_dict(r) for r in results]}


def as_inspect_log(run: EvaluationRun, results: list[EvaluationResult], suite: Suite | None) -> dict[str, Any]:
    """An Inspect AI ``EvalLog`` (version 2): the run as its ``eval``, the pass rate as its ``accuracy`` metric
    (with the bootstrap interval's bounds), each case as a sample scored C (correct) or I (incorrect)."""
    cases = {c.id: c for c in suite.cases} if suite else {}
    target = run.target
    model = target.get("model") or ("extractive" if target.get("kind") == "assistant" else "none")
    created = run.created_at.isoformat()
    samples = []
    for number, result in enumerate(results, 1):
        case = cases.get(result.case_id)
        samples.append(
            {
                "id": result.case_id,
                "epoch": 1,
                "input": case.input if case else "",
                "target": case.expect.model_dump(exclude_defaults=True) if case else {},
                "messages": [
                    {"role": "user", "content": case.input if case else "", "source": "input"},
                    {"role": "assistant", "content": result.output, "source": "generate"},
                ],
                "output": {
                    "model": model,
                    "choices": [{"message": {"role": "assistant", "content": result.output}, "stop_reason": "stop"}],
                },
                "scores": {
                    "soberana": {
                        "value": "C" if result.passed else "I",
                        "answer": result.output[:500],
                        "explanation": _failed(result) or "every check passed",
                        "metadata": {"verdicts": result.verdicts},
                    }
                },
                "metadata": {"language": result.language, "tags": result.tags, "sample": number},
                "error": {"message": result.error, "traceback": ""} if result.error else None,
            }
        )
    return {
        "version": 2,
        "status": "success" if run.status == "finished" else ("error" if run.status == "failed" else "started"),
        "eval": {
            "run_id": run.id,
            "task": run.suite_id,
            "task_version": run.suite_version,
            "task_id": run.id,
            "created": created,
            "model": model,
            "dataset": {"name": run.suite_id, "samples": run.cases_total},
            "metadata": {"target": target, "pins": run.pins, "use_case_id": run.use_case_id},
            "config": {},
            "packages": {"soberana": "evaluations"},
        },
        "plan": {"name": "soberana", "steps": [{"solver": "soberana_gateway", "params": {}}]},
        "results": {
            "total_samples": run.cases_total,
            "completed_samples": run.cases_done,
            "scores": [
                {
                    "name": "soberana",
                    "scorer": "soberana",
                    "metrics": {
                        "accuracy": {"name": "accuracy", "value": run.pass_rate},
                        "ci95_low": {"name": "ci95_low", "value": run.ci_low},
                        "ci95_high": {"name": "ci95_high", "value": run.ci_high},
                    },
                }
            ],
        },
        "stats": {
            "started_at": run.started_at.isoformat() if run.started_at else created,
            "completed_at": run.finished_at.isoformat() if run.finished_at else "",
            "model_usage": {model: {"input_tokens": 0, "output_tokens": 0, "total_tokens": run.tokens or 0}},
        },
        "error": {"message": run.error, "traceback": ""} if run.error else None,
        "samples": samples,
    }
