"""Recall and precision of Soberana's detection on the project's own development texts.

    python bench/pii/dev.py            # per label; misses and false findings listed

The texts (``bench/pii/dev_texts.py``) were written for this project to tune the address, name and
phone rules; the benchmark's sets are test data and were not used for tuning.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.pii.dev_texts import DEV_TEXTS
from soberana.privacy.engine import PiiEngine, builtin_detectors

SCORED = ("ADDRESS", "PERSON", "PHONE")
_MARK = re.compile(r"\[\[([A-Z_]+):(.*?)\]\]", re.DOTALL)


def parse(marked: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The plain text and its gold spans."""
    text, spans, done = "", [], 0
    for m in _MARK.finditer(marked):
        text += marked[done : m.start()]
        spans.append((len(text), len(text) + len(m.group(2)), m.group(1)))
        text += m.group(2)
        done = m.end()
    return text + marked[done:], spans


def score(engine: PiiEngine, *, verbose: bool = False) -> dict[str, dict[str, float | int]]:
    """Overlap recall and precision per label on the development texts."""
    gold_n, found_n, predicted_n, correct_n = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for language, marked in DEV_TEXTS:
        text, gold = parse(marked)
        predicted = [(e.start, e.end, e.label) for e in engine.detect(text, language) if e.label in SCORED]
        for start, end, label in gold:
            gold_n[label] += 1
            if any(p[2] == label and p[0] < end and start < p[1] for p in predicted):
                found_n[label] += 1
            elif verbose:
                print(f"missed {label:<8} {text[start:end]!r:<50} in {text[:70]!r}")
        for start, end, label in predicted:
            predicted_n[label] += 1
            if any(g[2] == label and g[0] < end and start < g[1] for g in gold):
                correct_n[label] += 1
            elif verbose:
                print(f"false  {label:<8} {text[start:end]!r:<50} in {text[:70]!r}")
    return {
        label: {
            "gold": gold_n[label],
            "recall": round(found_n[label] / gold_n[label], 3) if gold_n[label] else 0.0,
            "precision": round(correct_n[label] / predicted_n[label], 3) if predicted_n[label] else 0.0,
        }
        for label in SCORED
    }


def main() -> None:
    for label, scores in score(PiiEngine(builtin_detectors()), verbose=True).items():
        print(
            f"{label:<8} gold {scores['gold']:>3}  recall {scores['recall']:.3f}  precision {scores['precision']:.3f}"
        )


if __name__ == "__main__":
    main()
