"""``soberana eval``: run an evaluation suite against a use case, a collection's assistant or a model, with its
cost before and after and a progress bar; list suites and runs; compare and export runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from soberana.cli.context import console, ctx, fail

evaluations = typer.Typer(help="Evaluations and red-teaming of assistants and models.", no_args_is_help=True)


@evaluations.command("suites")
def suites(typer_ctx: typer.Context) -> None:
    """List the suites this installation knows."""
    context = ctx(typer_ctx)
    table = Table("id", "version", "kind", "targets", "languages", "cases", "source")
    for loaded in context.platform.evaluations.suites():
        suite = loaded.suite
        languages = ", ".join(suite.languages())
        table.add_row(
            suite.id,
            loaded.stamp,
            suite.kind,
            ", ".join(suite.targets),
            languages,
            str(len(suite.cases)),
            loaded.source,
        )
    console.print(table)


@evaluations.command("schema")
def schema() -> None:
    """Print the JSON Schema of a suite file (for editors and pipelines that check suites)."""
    import json

    from soberana.evaluations.suites import schema as suite_schema

    print(json.dumps(suite_schema(), indent=2))


@evaluations.command("run")
def run(
    typer_ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="The suite's id (`soberana eval suites`).")],
    use_case: Annotated[str | None, typer.Option("--use-case", help="Evaluate what this use case runs.")] = None,
    collection: Annotated[str | None, typer.Option(help="Evaluate this collection's assistant (id or name).")] = None,
    model: Annotated[str | None, typer.Option(help="The model (a model target's, or the assistant's).")] = None,
    org: Annotated[str | None, typer.Option(help="The organisation's slug, for a collection or a model.")] = None,
    judge: Annotated[str | None, typer.Option(help="A gateway model that judges rubric cases.")] = None,
    min_pass_rate: Annotated[
        float | None, typer.Option(help="Exit with status 1 when the pass rate is below this (0–1).")
    ] = None,
) -> None:
    """Run a suite through the gateway and print its pass rate, its 95% interval and the failed cases."""
    from soberana.cli.knowledge import progress_bar
    from soberana.evaluations.schemas import RunCreate

    context = ctx(typer_ctx)

    async def go() -> Any:
        async with context.platform.for_command() as platform:
            org_id = None
            if org is not None:
                async with platform.db.session() as session:
                    org_id = (await platform.admin.organisation_by_slug(session, context.principal, org)).id
            request = RunCreate(
                suite=suite, use_case_id=use_case, collection=collection, model=model, judge_model=judge, org_id=org_id
            )
            created = await platform.evaluations.create(context.principal, request, context.origin)
            console.print(
                f"Run {created.id}: {created.cases_total} cases of {created.suite_id} {created.suite_version}; "
                f"estimated cost {created.cost_estimate:.4f}.",
                highlight=False,
            )
            with progress_bar() as progress:
                task = progress.add_task("evaluating", total=created.cases_total)
                done = await platform.evaluations.execute(
                    created.id, lambda n, total: progress.update(task, completed=n, total=total)
                )
            _, results = await platform.evaluations.results(context.principal, created.id)
            return done, results

    if use_case is None and collection is None and model is None:
        fail("Name what to evaluate: --use-case, --collection or --model.")
    done, results = context.run(go())
    if done.status != "finished":
        fail(f"The run failed: {done.error}")
    interval = f"[{done.ci_low:.0%}, {done.ci_high:.0%}]" if done.ci_low is not None else ""
    console.print(
        f"Pass rate {done.pass_rate:.0%} {interval} ({done.passed}/{done.cases_total}); cost {done.cost or 0:.4f} "
        f"({done.calls or 0} calls, {done.tokens or 0} tokens).",
        highlight=False,
    )
    _failures(results)
    if min_pass_rate is not None and (done.pass_rate or 0.0) < min_pass_rate:
        raise typer.Exit(1)


def _failures(results: list[Any]) -> None:
    failed = [r for r in results if not r.passed]
    if not failed:
        return
    table = Table("case", "language", "failed checks")
    for result in failed:
        reasons = "; ".join(f"{v['check']}: {v['detail']}" for v in result.verdicts if not v["passed"])
        table.add_row(result.case_id, result.language, reasons)
    console.print(table)


@evaluations.command("runs")
def runs(
    typer_ctx: typer.Context,
    use_case: Annotated[str | None, typer.Option("--use-case", help="Only this use case's runs.")] = None,
    suite: Annotated[str | None, typer.Option(help="Only this suite's runs.")] = None,
) -> None:
    """List runs, newest first."""
    context = ctx(typer_ctx)
    found = context.run(context.platform.evaluations.list_runs(context.principal, use_case_id=use_case, suite=suite))
    table = Table("id", "suite", "use case", "status", "pass rate", "95% interval", "cases", "created")
    for r in found:
        rate = f"{r.pass_rate:.0%}" if r.pass_rate is not None else "—"
        interval = f"{r.ci_low:.0%}–{r.ci_high:.0%}" if r.ci_low is not None else "—"
        cases = f"{r.cases_done}/{r.cases_total}"
        table.add_row(
            r.id, r.suite_id, r.use_case_id or "—", r.status, rate, interval, cases, f"{r.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)


@evaluations.command("compare")
def compare(
    typer_ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    against: Annotated[str | None, typer.Option(help="Another run of the suite (default: the baseline).")] = None,
) -> None:
    """The cases that flipped between a run and its baseline (or ``--against``)."""
    context = ctx(typer_ctx)
    run_, base, found = context.run(context.platform.evaluations.compare(context.principal, run_id, against))
    console.print(f"{run_.id} against {base.id if base else 'nothing'}:", highlight=False)
    console.print(f"  regressed: {', '.join(found.regressed) or '—'}", highlight=False)
    console.print(f"  fixed: {', '.join(found.fixed) or '—'}", highlight=False)


@evaluations.command("export")
def export(
    typer_ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    format: Annotated[str, typer.Option("--format", help="csv, json or inspect (an Inspect AI log).")] = "json",
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file (default: standard output).")] = None,
) -> None:
    """Export a run and its cases."""
    import orjson

    from soberana.evaluations import exports

    if format not in ("csv", "json", "inspect"):
        fail("--format is csv, json or inspect.")
    context = ctx(typer_ctx)
    evaluations_ = context.platform.evaluations
    run_, results = context.run(evaluations_.results(context.principal, run_id))
    if format == "csv":
        text = exports.as_csv(results)
    elif format == "json":
        text = orjson.dumps(exports.as_json(run_, results), option=orjson.OPT_INDENT_2).decode()
    else:
        loaded = evaluations_.library.load().get(run_.suite_id)
        log = exports.as_inspect_log(run_, results, loaded.suite if loaded else None)
        text = orjson.dumps(log, option=orjson.OPT_INDENT_2).decode()
    if out is None:
        print(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"Wrote {out}.", highlight=False)
