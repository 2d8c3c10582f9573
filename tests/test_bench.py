"""The benchmark helpers write what `make bench` promises: JSON with summary and machine, and Markdown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import _common  # noqa: E402


def test_write_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    path = _common.write_results("demo", {"headline": 1.5}, {"raw": [1, 2]}, "| a | b |\n|---|---|\n| 1 | 2 |")
    payload = json.loads(path.read_text())
    assert payload["summary"] == {"headline": 1.5}
    assert {"cpu", "cores", "python", "date", "commit"} <= set(payload["machine"])
    markdown = (tmp_path / "demo.md").read_text()
    assert markdown.startswith("# Benchmark: demo")
    assert "| 1 | 2 |" in markdown
    assert _common.bar(5, 10, width=10) == "█████░░░░░"


def test_committed_results_have_a_summary_and_a_machine() -> None:
    for path in (ROOT / "bench" / "results").glob("*.json"):
        payload = json.loads(path.read_text())
        assert payload["summary"], path
        assert payload["machine"]["cpu"], path
        assert path.with_suffix(".md").exists(), path
