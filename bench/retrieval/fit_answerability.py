"""Fit the answerability decision (``soberana/knowledge/answerability.py``) on the development set's
train split, and print the coefficients to paste into its ``FITTED`` table.

    .venv/bin/python bench/retrieval/fit_answerability.py collect /tmp/rows.json   # answers every question
    .venv/bin/python bench/retrieval/fit_answerability.py fit /tmp/rows.json       # reads the train rows only

``collect`` indexes the mixed collection in Soberana alone (no baselines: ``run.py`` does those) and
answers every question of the development set through the product's path, as the benchmark does;
``fit`` can also read the ``retrieval.json`` of a benchmark run.

One logistic model per relation between the question's language and the best passage's (``same``,
``other``): standardised features, L2-regularised, fitted by Newton's method (NumPy; a dozen
features and a few hundred rows need nothing more). The operating point (``cut``) is the highest
recall of near-miss questions at which the abstentions on the train split are still at least
``PRECISION`` right; when no point reaches it, the one with the best F0.5. Only train rows are read:
the dev split is what the benchmark measures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


PRECISION = 0.9
L2 = 1.0
# The features the fitted models read: chosen by five-fold cross-validation on the train split (the
# best abstention precision and recall among the subsets tried; all eight together overfit 150 rows).
FIT_FEATURES = ("similarity", "sentence", "coverage", "type_missing")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (bias not regularised)."""
    rows, columns = x.shape
    design = np.hstack([x, np.ones((rows, 1))])
    w = np.zeros(columns + 1)
    penalty = np.full(columns + 1, l2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty * w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def operating_point(probability: np.ndarray, answerable: np.ndarray) -> float:
    """The cut (answer when ``probability ≥ cut``) with the best near-miss recall at ``PRECISION``."""
    best: tuple[float, float] | None = None
    fallback: tuple[float, float] = (-1.0, 0.5)
    near = (~answerable).sum()
    for cut in sorted(set(np.round(probability, 4).tolist()) | {0.0, 1.01}):
        abstained = probability < cut
        right = (abstained & ~answerable).sum()
        precision = right / abstained.sum() if abstained.sum() else 1.0
        recall = right / near if near else 0.0
        if precision >= PRECISION and (best is None or recall > best[0]):
            best = (recall, cut)
        f = (1.25 * precision * recall / (0.25 * precision + recall)) if precision + recall else 0.0
        if f > fallback[0]:
            fallback = (f, cut)
    return best[1] if best is not None else fallback[1]


def fit(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    fitted = {}
    for relation in ("same", "other"):
        mine = [r for r in rows if r["split"] == "train" and r.get("relation") == relation]
        if len({r["answerable"] for r in mine}) < 2:
            print(f"{relation}: {len(mine)} train rows, one class only: not fitted", file=sys.stderr)
            continue
        x = np.array([[r["evidence"][name] for name in FIT_FEATURES] for r in mine], dtype=float)
        y = np.array([1.0 if r["answerable"] else 0.0 for r in mine])
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        weights, bias = fit_logistic((x - mean) / scale, y)
        probability = 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ weights + bias)))
        cut = operating_point(probability, y.astype(bool))
        fitted[relation] = {
            "weights": [round(float(v), 4) for v in weights],
            "bias": round(bias, 4),
            "mean": [round(float(v), 4) for v in mean],
            "scale": [round(float(v), 4) for v in scale],
            "cut": round(cut, 4),
            "rows": len(mine),
            "answerable": int(y.sum()),
        }
    return fitted


def collect(path: Path) -> None:
    """Answer every development-set question over the mixed collection; write the rows to ``path``."""
    from bench.retrieval.devset import load_devset, mixed_documents
    from bench.retrieval.devset_answers import SET_NAME, evidence_rows, summarise
    from bench.retrieval.run import CACHE_DIR
    from bench.retrieval.soberana_system import SoberanaSystem

    documents = mixed_documents()
    system = SoberanaSystem(CACHE_DIR / "soberana-fit")
    system.index(SET_NAME, documents)
    rows = system.run(evidence_rows(system, load_devset(documents=documents)))
    system.close()
    path.write_text(json.dumps({"rows": rows}, ensure_ascii=False))
    for split in ("train", "dev"):
        print(split, json.dumps(summarise([r for r in rows if r["split"] == split])))


def main(argv: list[str]) -> int:
    command, path = argv[0], Path(argv[1])
    if command == "collect":
        collect(path)
        return 0
    loaded = json.loads(path.read_text())
    rows = loaded["rows"] if "rows" in loaded else loaded["details"]["soberana_extra"]["dev_set"]["rows"]
    fitted = fit(rows)
    print(json.dumps(fitted, indent=1))
    for relation, f in fitted.items():
        print(
            f'"{relation}": Logistic({FIT_FEATURES}, {tuple(f["weights"])}, {f["bias"]}, {tuple(f["mean"])}, '
            f"{tuple(f['scale'])}, {f['cut']}),"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
