"""Evaluations benchmark: every default suite run for real against three targets, and the default assistant
over GOV.UK pages of ConditionalQA.

A fresh installation (embedded SQLite in a temporary folder) with the embedded E5 embeddings and the test
upstream of :mod:`soberana.devtools.upstream` (served in a thread) as two deployments: ``obeying`` (its
``obey`` model: obeys every instruction it reads, the worst case of prompt injection) and ``resisting``
(``resist``: follows none). Two public collections of one organisation:

- ``city-services``: the 21 Velmora demo pages (``soberana/knowledge/demo_content/{en,es,is}``);
- ``conditionalqa``: the GOV.UK pages of the first ``BENCH_CQA_QUESTIONS`` (default 50) questions of the
  ConditionalQA dev set, read at run time from ``shared/data/retrieval/conditionalqa`` (research use only:
  nothing of it is written into the repository).

Every default suite (``soberana/evaluations/suites/*.yaml``) runs against three targets where the suite's
``targets`` allow it: ``default_assistant`` (the extractive assistant over city-services: quotes the pages,
no generative model), ``obeying_upstream`` (the assistant over city-services, answers written by
``obeying``; a model target with ``obeying`` for a suite that runs against models only) and
``resisting_upstream`` (the same with ``resisting``). The suites not tied to a collection (no
``collection`` field) also run against the default assistant over ``conditionalqa``, with a suite built in
memory from ConditionalQA questions: ``BENCH_CQA_ANSWERABLE`` (30) answerable questions whose pages were
ingested (the answer must cite a passage holding one of the question's evidence sentences) and
``BENCH_CQA_UNANSWERABLE`` (10) questions whose pages were not ingested (the assistant must abstain).

    make bench NAME=evaluations       (BENCH_CONCURRENCY=6 by default)

Writes ``bench/results/evaluations.{json,md}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from _common import bar, write_results  # noqa: E402

from soberana.auth.principal import Origin, cli_principal  # noqa: E402
from soberana.auth.schemas import OrganisationCreate  # noqa: E402
from soberana.devtools.upstream import make_app as make_upstream  # noqa: E402
from soberana.evaluations import repo as evaluation_repo  # noqa: E402
from soberana.evaluations.gate import GatePolicy  # noqa: E402
from soberana.evaluations.ports import Target  # noqa: E402
from soberana.evaluations.stats import pass_rate  # noqa: E402
from soberana.evaluations.suites import LoadedSuite, parse  # noqa: E402
from soberana.knowledge.jobs import UploadedFile  # noqa: E402
from soberana.knowledge.schemas import CollectionCreate  # noqa: E402
from soberana.settings import Settings  # noqa: E402
from soberana.storage import migrate  # noqa: E402
from soberana.wiring import build_platform  # noqa: E402

DATA = Path(os.environ.get("SOBERANA_BENCH_DATA", "/work/shared/data")) / "retrieval" / "conditionalqa"
DEMO = ROOT / "soberana" / "knowledge" / "demo_content"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "6"))
CQA_QUESTIONS = int(os.environ.get("BENCH_CQA_QUESTIONS", "50"))  # their pages are ingested
CQA_ANSWERABLE = int(os.environ.get("BENCH_CQA_ANSWERABLE", "30"))
CQA_UNANSWERABLE = int(os.environ.get("BENCH_CQA_UNANSWERABLE", "10"))
CQA_SUITE = "conditionalqa"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
E5 = {"alias": "multilingual-e5-small", "provider": "local_embeddings", "capabilities": ["embeddings"]}
TARGETS = ("default_assistant", "obeying_upstream", "resisting_upstream")
UPSTREAM_ALIAS = {"default_assistant": None, "obeying_upstream": "obeying", "resisting_upstream": "resisting"}
INJECTION = ("prompt-injection", "indirect-injection")


@contextmanager
def upstream_server() -> Iterator[str]:
    """The test upstream (an aiohttp application) in a thread of its own; its ``/v1`` URL."""
    from soberana.devtools.servers import free_port

    port, loop = free_port(), asyncio.new_event_loop()
    runner = web.AppRunner(make_upstream(), access_log=None)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the test upstream did not start")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def upstream_model(alias: str, model: str, url: str) -> dict[str, Any]:
    return {
        "alias": alias,
        "provider": "openai_compat",
        "model": model,
        "base_url": url,
        "sovereignty": "national_cloud",
        "price_input_per_mtok": 1.0,
        "price_output_per_mtok": 2.0,
    }


# -- ConditionalQA ---------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def conditionalqa() -> tuple[list[dict[str, Any]], LoadedSuite, dict[str, Any]]:
    """The pages of the first ``CQA_QUESTIONS`` questions, and a grounding + abstention suite over them
    (built in memory, never written anywhere)."""
    corpus = {d["doc_id"]: d for d in read_jsonl(DATA / "corpus.jsonl")}
    queries = read_jsonl(DATA / "queries.jsonl")
    relevant = {}
    for line in (DATA / "qrels.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, doc_id, _ = line.split("\t")
            relevant[qid] = doc_id
    evidence = {r["qid"]: r["evidence_texts"] for r in read_jsonl(DATA / "qrels_evidence.jsonl")}
    ingested: list[str] = []
    for query in queries[:CQA_QUESTIONS]:
        if relevant[query["qid"]] not in ingested:
            ingested.append(relevant[query["qid"]])
    pages = [corpus[doc_id] for doc_id in ingested]

    def asked(query: dict[str, Any]) -> str:
        return f"{query['scenario'].strip()} {query['question'].strip()}"[:4000]

    cases: list[dict[str, Any]] = []
    for query in queries[:CQA_QUESTIONS]:
        texts = [t for t in evidence.get(query["qid"], []) if t.strip()]
        if query["not_answerable"] or not texts or len(cases) >= CQA_ANSWERABLE:
            continue
        cases.append(
            {
                "id": f"answerable-{query['qid']}",
                "language": "en",
                "tags": ["en", "answerable"],
                "input": asked(query),
                "expect": {"answers": True, "evidence": texts[:20]},
            }
        )
    unanswerable, seen_pages = 0, set(ingested)
    for query in queries[CQA_QUESTIONS:]:
        doc_id = relevant[query["qid"]]
        if doc_id in seen_pages or unanswerable >= CQA_UNANSWERABLE:
            continue  # one question per page that was not ingested
        seen_pages.add(doc_id)
        unanswerable += 1
        cases.append(
            {
                "id": f"unanswerable-{query['qid']}",
                "language": "en",
                "tags": ["en", "unanswerable"],
                "input": asked(query),
                "expect": {"answers": False},
            }
        )
    suite = {
        "id": CQA_SUITE,
        "version": 1,
        "title": "ConditionalQA: grounded answers and abstention on GOV.UK pages",
        "description": "Built at run time from the ConditionalQA dev set (research use only).",
        "kind": "grounding",
        "targets": ["assistant"],
        "collection": CQA_SUITE,
        "cases": cases,
    }
    loaded = parse(yaml.safe_dump(suite, allow_unicode=True, sort_keys=False).encode(), "bench:conditionalqa")
    facts = {
        "questions_whose_pages_were_ingested": CQA_QUESTIONS,
        "pages": len(pages),
        "words": sum(len(p["text"].split()) for p in pages),
        "answerable_cases": sum(1 for c in cases if c["expect"]["answers"]),
        "unanswerable_cases": unanswerable,
        "case_input": "scenario + ' ' + question",
        "evidence_match": "fuzzy (the suite's default)",
    }
    return pages, loaded, facts


# -- the installation ------------------------------------------------------------------------------------


async def make_collection(platform: Any, org_id: str, name: str, title: str, files: list[UploadedFile]) -> Any:
    operator = cli_principal("bench")
    async with platform.db.write_session() as session:
        body = CollectionCreate(name=name, title=title, visibility="public", org_id=org_id)
        collection = await platform.knowledge.create_collection(session, operator, body, Origin())
    jobs = platform.jobs
    job_id = await jobs.new_job(collection, len(files))
    job = await jobs.run_job(job_id, collection, files)
    assert job.status == "succeeded", job.errors
    embedded = await jobs.embed_pending(collection)
    print(f"  {name}: {job.documents_added} pages, {embedded} passages embedded", flush=True)
    return collection


def plan_runs(suites: dict[str, LoadedSuite], collections: dict[str, str], org_id: str) -> list[dict[str, Any]]:
    """Every (suite, target) pair to run, with its Target."""
    runs: list[dict[str, Any]] = []
    for suite_id, loaded in sorted(suites.items()):
        if suite_id == CQA_SUITE:
            continue
        suite = loaded.suite
        for name in TARGETS:
            alias = UPSTREAM_ALIAS[name]
            if "assistant" in suite.targets:
                target = Target("assistant", org_id, collection_id=collections["city-services"], model=alias)
            elif alias is not None:
                target = Target("model", org_id, model=alias)
            else:
                continue  # a model-only suite has no extractive assistant to run against
            runs.append({"group": "city-services", "suite": suite_id, "target": name, "spec": target})
    for suite_id, loaded in sorted(suites.items()):
        suite = loaded.suite
        applies = suite_id == CQA_SUITE or (suite.collection is None and "assistant" in suite.targets)
        if applies:
            target = Target("assistant", org_id, collection_id=collections[CQA_SUITE], model=None)
            runs.append({"group": CQA_SUITE, "suite": suite_id, "target": "default_assistant", "spec": target})
    return runs


async def execute(platform: Any, loaded: LoadedSuite, spec: Target, label: str) -> dict[str, Any]:
    evaluations = platform.evaluations
    run = await evaluations.create_for(cli_principal("bench"), loaded, spec, None, "manual", None, None)
    total = len(loaded.suite.cases)
    step = max(1, total // 4)

    def progress(done: int, of: int) -> None:
        if done % step == 0 or done == of:
            print(f"    {label}: {done}/{of}", flush=True)

    started = time.perf_counter()
    run = await evaluations.execute(run.id, progress)
    seconds = time.perf_counter() - started
    async with platform.db.session() as session:
        results = await evaluation_repo.results(session, run.id)
    by_language: dict[str, list[bool]] = {}
    by_tag: dict[str, list[bool]] = {}
    for result in results:
        by_language.setdefault(result.language, []).append(result.passed)
        for tag in result.tags:
            if tag in ("answerable", "unanswerable"):
                by_tag.setdefault(tag, []).append(result.passed)
    failed = [
        {
            "case": r.case_id,
            "failed_checks": [f"{v['check']}: {v['detail']}" for v in r.verdicts if not v["passed"]],
            "output": r.output[:300],
        }
        for r in sorted(results, key=lambda r: r.case_id)
        if not r.passed
    ]
    return {
        "status": run.status,
        "error": run.error,
        "pass_rate": run.pass_rate,
        "ci95": [run.ci_low, run.ci_high],
        "passed": run.passed,
        "cases": run.cases_total,
        "cost": run.cost,
        "calls": run.calls,
        "tokens": run.tokens,
        "seconds": round(seconds, 2),
        "mean_case_ms": round(sum(r.duration_ms for r in results) / len(results), 1) if results else None,
        "by_language": {k: pass_rate(v).as_dict() for k, v in sorted(by_language.items())},
        **({"by_kind": {k: pass_rate(v).as_dict() for k, v in sorted(by_tag.items())}} if by_tag else {}),
        "suite_version": run.suite_version,
        "target": run.target,
        "failed_cases": failed,
    }


async def bench(workdir: Path, upstream_url: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    settings = Settings(
        data_dir=workdir / "data",
        database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        secret_key=SECRET,
        demo_models=False,
        deployments=[
            E5,
            upstream_model("obeying", "obey", upstream_url),
            upstream_model("resisting", "resist", upstream_url),
        ],
        knowledge_parse_workers=0,
        evaluations_concurrency=CONCURRENCY,
    )
    cqa_pages, cqa_suite, cqa_facts = conditionalqa()
    platform = build_platform(settings)
    await migrate.upgrade(platform.db)
    timings: dict[str, float] = {"load_start": round(os.getloadavg()[0], 2)}
    details: dict[str, Any] = {"runs": {}}
    try:
        async with platform.for_command():
            async with platform.db.write_session() as session:
                org = await platform.admin.create_organisation(
                    session,
                    cli_principal("bench"),
                    OrganisationCreate(slug="demo", name="Velmora (fictional demo municipality)", kind="city"),
                )
            print("Collections:", flush=True)
            started = time.perf_counter()
            demo_files = [
                UploadedFile(str(p.relative_to(DEMO)), p.read_bytes())
                for language in ("en", "es", "is")
                for p in sorted((DEMO / language).glob("*.md"))
            ]
            city = await make_collection(
                platform, org.id, "city-services", "Velmora municipal services (fictional demo)", demo_files
            )
            lines = [
                json.dumps(
                    {"id": p["doc_id"], "title": p["title"], "text": p["text"], "url": p["doc_id"], "language": "en"},
                    ensure_ascii=False,
                )
                for p in cqa_pages
            ]
            cqa = await make_collection(
                platform,
                org.id,
                CQA_SUITE,
                "GOV.UK guides (ConditionalQA, research use only)",
                [UploadedFile("conditionalqa.jsonl", ("\n".join(lines) + "\n").encode())],
            )
            timings["ingestion_seconds"] = round(time.perf_counter() - started, 1)
            evaluations = platform.evaluations
            evaluations.library.add(cqa_suite)  # built in memory from the data: never written to the repo
            suites = evaluations.library.load()
            runs = plan_runs(suites, {"city-services": city.id, CQA_SUITE: cqa.id}, org.id)
            print(f"Runs: {len(runs)} (concurrency {CONCURRENCY})", flush=True)
            started = time.perf_counter()
            for i, planned in enumerate(runs, 1):
                label = f"[{i}/{len(runs)}] {planned['suite']} × {planned['target']} ({planned['group']})"
                print(label, flush=True)
                outcome = await execute(platform, suites[planned["suite"]], planned["spec"], label)
                print(
                    f"    → {outcome['status']} {outcome['passed']}/{outcome['cases']} "
                    f"in {outcome['seconds']:.1f} s{' ' + outcome['error'] if outcome['error'] else ''}",
                    flush=True,
                )
                if planned["group"] == CQA_SUITE:
                    # no answer text and no evidence sentence of ConditionalQA in the results: names only
                    outcome["failed_cases"] = [
                        {"case": f["case"], "failed_checks": [c.split(":", 1)[0] for c in f["failed_checks"]]}
                        for f in outcome["failed_cases"]
                    ]
                key = f"{planned['group']}/{planned['suite']}/{planned['target']}"
                details["runs"][key] = {
                    "group": planned["group"],
                    "suite": planned["suite"],
                    "target_name": planned["target"],
                    **outcome,
                }
            timings["runs_seconds"] = round(time.perf_counter() - started, 1)
            details["suites"] = {
                suite_id: {
                    "version": loaded.stamp,
                    "kind": loaded.suite.kind,
                    "targets": loaded.suite.targets,
                    "collection": loaded.suite.collection,
                    "languages": loaded.suite.languages(),
                    "cases": len(loaded.suite.cases),
                    "source": loaded.source,
                }
                for suite_id, loaded in sorted(suites.items())
            }
    finally:
        await platform.db.dispose()
    timings["load_end"] = round(os.getloadavg()[0], 2)
    details["conditionalqa"] = cqa_facts
    details["timings"] = timings
    summary = summarise(details, suites)
    return summary, details, markdown(summary, details)


def summarise(details: dict[str, Any], suites: dict[str, LoadedSuite]) -> dict[str, Any]:
    runs = details["runs"]
    policy = GatePolicy.load()
    threshold = policy.standard.assistant
    table: dict[str, dict[str, float | None]] = {}
    for suite_id in sorted(s for s in suites if s != CQA_SUITE):
        table[suite_id] = {
            name: (runs.get(f"city-services/{suite_id}/{name}") or {}).get("pass_rate") for name in TARGETS
        }
    cqa = {
        r["suite"]: r["pass_rate"] for r in sorted(runs.values(), key=lambda r: r["suite"]) if r["group"] == CQA_SUITE
    }
    cqa_run = runs.get(f"{CQA_SUITE}/{CQA_SUITE}/default_assistant") or {}
    cqa_kinds = {kind: rate["rate"] for kind, rate in (cqa_run.get("by_kind") or {}).items()}

    def discriminates(suite_id: str) -> bool:
        limit = threshold[suite_id]
        obeying, resisting = table[suite_id]["obeying_upstream"], table[suite_id]["resisting_upstream"]
        return obeying is not None and resisting is not None and obeying < limit <= resisting

    failed_runs = [key for key, r in runs.items() if r["status"] != "finished"]
    return {
        "suites": table,
        "conditionalqa": cqa,
        "conditionalqa_generated_by_kind": cqa_kinds,
        "discriminates": all(discriminates(s) for s in INJECTION),
        "discriminates_by_suite": {s: discriminates(s) for s in INJECTION},
        "gate_thresholds_standard_assistant": dict(threshold),
        "gate_thresholds_strict_assistant": dict(policy.strict.assistant),
        "runs": len(runs),
        "failed_runs": failed_runs,
        "cases": sum(r["cases"] for r in runs.values()),
        "cost": round(sum(r["cost"] or 0.0 for r in runs.values()), 6),
        "concurrency": CONCURRENCY,
        "ingestion_seconds": details["timings"]["ingestion_seconds"],
        "runs_seconds": details["timings"]["runs_seconds"],
    }


def _rate(run: dict[str, Any] | None) -> str:
    if not run:
        return "| — | n/a | — | — |"
    rate, (low, high) = run["pass_rate"], run["ci95"]
    if rate is None:
        return f"| {run['status']} | — | — | {run['cases']} |"
    return f"| {rate:.0%} | `{bar(rate, 1.0, 20)}` | {low:.0%}–{high:.0%} | {run['passed']}/{run['cases']} |"


def _kinds(run: dict[str, Any] | None, gap: int) -> list[str]:
    """Sub-rows for the answerable and the unanswerable cases of a run (the abstention suites)."""
    rows = []
    for kind, rate in ((run or {}).get("by_kind") or {}).items():
        low, high = rate["ci95"]
        rows.append(
            f"| ↳ {kind} cases |{' |' * gap} {rate['rate']:.0%} | `{bar(rate['rate'], 1.0, 20)}` | "
            f"{low:.0%}–{high:.0%} | {rate['passed']}/{rate['total']} | |"
        )
    return rows


def markdown(summary: dict[str, Any], details: dict[str, Any]) -> str:
    runs, cqa = details["runs"], details["conditionalqa"]
    threshold = summary["gate_thresholds_standard_assistant"]
    strict = summary["gate_thresholds_strict_assistant"]
    out = [
        "Every default evaluation suite (`soberana/evaluations/suites/*.yaml`) run for real, through the "
        "gateway, against three targets; and the default assistant over GOV.UK pages of ConditionalQA. Pass "
        "rates with bootstrap 95% intervals (cases resampled; `soberana/evaluations/stats.py`).",
        "",
        "## What was run",
        "",
        "- A fresh installation: embedded SQLite in a temporary folder, the embedded `multilingual-e5-small` "
        "embeddings, and the test upstream of `soberana/devtools/upstream.py` (served in a thread) as two "
        "deployments: `obeying` (its `obey` model, which obeys every instruction it reads: in the user's "
        "message, in the pages) and `resisting` (its `resist` model, which follows none).",
        "- `city-services`: the 21 Velmora demo pages (English, Spanish, Icelandic).",
        f"- `conditionalqa`: the {cqa['pages']} GOV.UK pages ({cqa['words']:,} words) of the first "
        f"{cqa['questions_whose_pages_were_ingested']} questions of the ConditionalQA dev set (the set has 59 "
        "pages; the cap keeps the bench to a few minutes on 2 cores).",
        "- Targets: **default_assistant** = the extractive assistant over `city-services` (it quotes the "
        "pages; no generative model); **obeying_upstream** = the assistant over `city-services` with its "
        "answers written by `obeying`; **resisting_upstream** = the same with `resisting`. No suite runs "
        "against models only, so every run here is an assistant.",
        "- Over `conditionalqa`, the default assistant runs the suites not tied to the Velmora pages (no "
        "`collection` in the suite: off-topic, personal-data, prompt-injection) and a suite built in memory "
        f"at run time: {cqa['answerable_cases']} answerable questions whose page was ingested (the assistant "
        "must answer, citing a passage that holds one of the question's evidence sentences, fuzzy match) and "
        f"{cqa['unanswerable_cases']} questions whose pages were not ingested, one per page (it must abstain). "
        "Each case asks the citizen's scenario followed by the question.",
        f"- Load average (1 min) {details['timings']['load_start']:.2f} at the start and "
        f"{details['timings']['load_end']:.2f} at the end, on {os.cpu_count()} cores (other work shared the "
        "machine: times are indicative).",
        f"- Cases of one run asked {summary['concurrency']} at a time; no judge model (no default case needs one).",
        "",
    ]
    titles = {
        "default_assistant": "Default assistant (extractive) over city-services",
        "obeying_upstream": "Assistant over city-services, answers by `obeying` (obeys injected instructions)",
        "resisting_upstream": "Assistant over city-services, answers by `resisting` (resists them)",
    }
    for name in TARGETS:
        out += [
            f"## {titles[name]}",
            "",
            "| suite | gate: standard / strict | pass rate | | 95% interval | passed | time |",
            "|---|---|---|---|---|---|---|",
        ]
        for suite_id in summary["suites"]:
            run = runs.get(f"city-services/{suite_id}/{name}")
            gate = " / ".join(
                f"{levels[suite_id]:.0%}" if suite_id in levels else "—" for levels in (threshold, strict)
            )
            seconds = f"{run['seconds']:.1f} s" if run else "—"
            out.append(f"| {suite_id} | {gate} {_rate(run)} {seconds} |")
            out += _kinds(run, 1)
        out.append("")
    out += [
        "## Default assistant (extractive) over ConditionalQA",
        "",
        "| suite | pass rate | | 95% interval | passed | time |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs.values():
        if run["group"] == CQA_SUITE:
            out.append(f"| {run['suite']} {_rate(run)} {run['seconds']:.1f} s |")
            out += _kinds(run, 0)
    verdict = "yes" if summary["discriminates"] else "**no**"
    out += [
        "",
        "## Do the injection suites tell an obeying model from a resisting one?",
        "",
        f"{verdict}: `obeying` below the standard gate threshold and `resisting` at or above it, for both "
        "injection suites:",
        "",
        "| suite | threshold | obeying | resisting | tells them apart |",
        "|---|---|---|---|---|",
    ]
    for suite_id in INJECTION:
        rates = summary["suites"][suite_id]
        out.append(
            f"| {suite_id} | {threshold[suite_id]:.0%} | {rates['obeying_upstream']:.0%} | "
            f"{rates['resisting_upstream']:.0%} | {'yes' if summary['discriminates_by_suite'][suite_id] else 'no'} |"
        )
    failed = summary["failed_runs"]
    out += [
        "",
        "## Time and cost",
        "",
        f"- {summary['runs']} runs, {summary['cases']} cases: ingestion {summary['ingestion_seconds']:.0f} s, "
        f"runs {summary['runs_seconds']:.0f} s.",
        f"- Metered cost of the upstream calls at the test prices (1 / 2 per million tokens): {summary['cost']:.4f}.",
        f"- Runs that did not finish: {', '.join(failed) if failed else 'none'}.",
        "",
        "## Notes",
        "",
        "- The suites were written by the Soberana project (CC0); they were not tuned on these results. The "
        "ConditionalQA questions were not used to tune anything: they are read at run time and only scored.",
        "- `obeying` and `resisting` are deterministic test models, the worst and the best case of prompt "
        "injection, not real models: their rates show whether the suites catch obedience, not how a real "
        "model behaves.",
        "- The upstream deployments are `national_cloud`: nothing goes abroad, so the `not_sent` checks of "
        "personal-data pass by construction here.",
        "- Failing cases, with the checks that failed and the start of each answer, are in "
        "`evaluations.json` (`details.runs.*.failed_cases`); over ConditionalQA only the case ids and the "
        "names of the failed checks are kept (no answer text, no evidence sentence: the set is not copied).",
        "- ConditionalQA: Sun, Cohen and Salakhutdinov, *ConditionalQA*, ACL 2022; research use only; the "
        "data is read from `shared/data` at run time and not stored here. Contains public sector information "
        "licensed under the Open Government Licence v3.0.",
    ]
    return "\n".join(out)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    if not (DATA / "corpus.jsonl").is_file():
        sys.exit(f"ConditionalQA is not at {DATA} (set SOBERANA_BENCH_DATA to the shared data folder)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="soberana-bench-evaluations-") as folder, upstream_server() as url:
        summary, details, text = asyncio.run(bench(Path(folder), url))
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    text += f"\n\nThe whole bench took {summary['total_seconds']:.0f} s."
    path = write_results("evaluations", summary, details, text)
    print(json.dumps({k: summary[k] for k in ("suites", "conditionalqa", "discriminates")}, indent=2))
    print(f"wrote {path} in {summary['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
