"""Entity-level precision, recall and F1, with exact-span and overlap matching.

* exact: a prediction counts when a gold span has the same start, end and label;
* overlap: a prediction counts when it shares at least one character with a gold span of the same
  label, and a gold span is found when some prediction of its label overlaps it;
* ``any``: overlap regardless of label (pseudonymisation must catch a span even when the type is wrong).

Only the labels a set annotates are scored: predictions of other labels are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Spans = Sequence[tuple[int, int, str]]


@dataclass
class Counts:
    predicted: int = 0
    gold: int = 0
    correct_predicted: int = 0  # predictions that match some gold span
    found_gold: int = 0  # gold spans matched by some prediction

    def add(self, other: Counts) -> None:
        self.predicted += other.predicted
        self.gold += other.gold
        self.correct_predicted += other.correct_predicted
        self.found_gold += other.found_gold

    def scores(self) -> dict[str, float | int]:
        precision = self.correct_predicted / self.predicted if self.predicted else 0.0
        recall = self.found_gold / self.gold if self.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "gold": self.gold,
            "predicted": self.predicted,
        }


def _overlap(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def count(gold: Spans, predicted: Spans, mode: str) -> Counts:
    """Counts for one text and one label (or all labels with ``mode='any'``)."""
    if mode == "exact":
        gold_set = {(s, e, lab) for s, e, lab in gold}
        pred_set = {(s, e, lab) for s, e, lab in predicted}
        hits = len(gold_set & pred_set)
        return Counts(len(pred_set), len(gold_set), hits, hits)
    same_label = mode != "any"

    def matches(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
        return _overlap(a, b) and (not same_label or a[2] == b[2])

    correct = sum(1 for p in predicted if any(matches(p, g) for g in gold))
    found = sum(1 for g in gold if any(matches(g, p) for p in predicted))
    return Counts(len(predicted), len(gold), correct, found)


def evaluate(
    pairs: Iterable[tuple[Spans, Spans]], labels: Sequence[str]
) -> dict[str, dict[str, dict[str, float | int]]]:
    """``{mode: {label | "micro" | "any": scores}}`` over (gold, predicted) pairs of a set."""
    scored = set(labels)
    per: dict[str, dict[str, Counts]] = {m: defaultdict(Counts) for m in ("exact", "overlap")}
    any_counts = Counts()
    for gold, predicted in pairs:
        predicted = [p for p in predicted if p[2] in scored]
        any_counts.add(count(gold, predicted, "any"))
        for mode in ("exact", "overlap"):
            for label in labels:
                per[mode][label].add(
                    count([g for g in gold if g[2] == label], [p for p in predicted if p[2] == label], mode)
                )
    result: dict[str, dict[str, dict[str, float | int]]] = {}
    for mode, by_label in per.items():
        micro = Counts()
        for c in by_label.values():
            micro.add(c)
        result[mode] = {label: by_label[label].scores() for label in labels} | {"micro": micro.scores()}
    result["any"] = {"micro": any_counts.scores()}
    return result
