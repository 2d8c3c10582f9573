"""The gate: which suites a use case's approval needs (by its risk and what it runs), and whether the
evidence holds — a finished run of each, on the version under review, pinned to what runs now, at or
above its threshold. A missing, running, stale or failing suite is a gap; approval is refused while one is
open (``SOBERANA_EVALUATIONS_GATE``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from soberana.evaluations.ports import UseCaseFacts
from soberana.evaluations.suites import BUILTIN

STRICT_RISKS = frozenset({"high_risk", "unassessed"})
STRICT_AIA_LEVEL = 3

Problem = Literal["missing", "running", "stale", "below_threshold", "failed"]


class _Levels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assistant: dict[str, float] = Field(default_factory=dict)
    model: dict[str, float] = Field(default_factory=dict)


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standard: _Levels
    strict: _Levels

    @classmethod
    def load(cls, folder: Path | None = None) -> GatePolicy:
        path = folder / "_gate.yaml" if folder is not None and (folder / "_gate.yaml").is_file() else None
        return cls.model_validate(yaml.safe_load((path or BUILTIN / "_gate.yaml").read_text(encoding="utf-8")))

    def required(self, facts: UseCaseFacts) -> dict[str, float]:
        """Suite id → threshold for ``facts`` (none for a use case that runs no collection and no model)."""
        levels = self.strict if strict(facts) else self.standard
        if facts.collections:
            return dict(levels.assistant)
        if facts.models:
            return dict(levels.model)
        return {}


def strict(facts: UseCaseFacts) -> bool:
    return facts.risk_group in STRICT_RISKS or facts.aia_level >= STRICT_AIA_LEVEL


@dataclass(frozen=True, slots=True)
class Gap:
    suite: str
    problem: Problem
    detail: str
    threshold: float
    run_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "suite": self.suite,
            "problem": self.problem,
            "detail": self.detail,
            "threshold": self.threshold,
            "run_id": self.run_id,
        }


def changed_pins(pinned: dict[str, object], now: dict[str, object]) -> list[str]:
    """The names of the pins whose value differs (a pin missing on either side differs)."""
    return sorted(name for name in set(pinned) | set(now) if pinned.get(name) != now.get(name))
