"""Pass rates with bootstrap intervals, and the paired comparison of two runs of a suite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20261207  # fixed: the same results give the same interval every time


@dataclass(frozen=True, slots=True)
class Rate:
    passed: int
    total: int
    rate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "total": self.total, "rate": self.rate, "ci95": [self.low, self.high]}


def pass_rate(outcomes: Sequence[bool], *, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> Rate:
    """The share of passed cases with a percentile bootstrap 95% interval (cases resampled with replacement)."""
    import numpy as np

    total = len(outcomes)
    if total == 0:
        return Rate(0, 0, None, None, None)
    values = np.asarray(outcomes, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, total, size=(samples, total))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    passed = int(values.sum())
    return Rate(passed, total, round(passed / total, 4), round(float(low), 4), round(float(high), 4))


@dataclass(frozen=True, slots=True)
class Comparison:
    """Case by case, how a run differs from an earlier one of the same suite."""

    regressed: list[str] = field(default_factory=list)  # passed before, fail now
    fixed: list[str] = field(default_factory=list)  # failed before, pass now
    added: list[str] = field(default_factory=list)  # not in the earlier run
    removed: list[str] = field(default_factory=list)  # in the earlier run only
    unchanged: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "regressed": self.regressed,
            "fixed": self.fixed,
            "added": self.added,
            "removed": self.removed,
            "unchanged": self.unchanged,
        }


def compare(before: Mapping[str, bool], after: Mapping[str, bool]) -> Comparison:
    """``before`` and ``after``: case id → passed."""
    regressed = sorted(c for c in after if c in before and before[c] and not after[c])
    fixed = sorted(c for c in after if c in before and not before[c] and after[c])
    unchanged = sum(1 for c in after if c in before and before[c] == after[c])
    return Comparison(regressed, fixed, sorted(set(after) - set(before)), sorted(set(before) - set(after)), unchanged)
