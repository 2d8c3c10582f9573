"""Helpers shared by the benchmarks: machine description, result files, a text bar chart.

Each benchmark writes ``bench/results/<name>.json`` — with a top-level ``summary`` holding the
headline figures and ``machine`` describing where it ran — and ``bench/results/<name>.md``.
Compare figures measured side by side in one run (ratios); never across machines.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": commit or None,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def bar(value: float, maximum: float, width: int = 30) -> str:
    """A Unicode bar for Markdown tables (GitHub renders it as a chart in plain text)."""
    filled = 0 if maximum <= 0 else round(width * value / maximum)
    return "█" * filled + "░" * (width - filled)


def write_results(name: str, summary: dict[str, Any], details: dict[str, Any], markdown: str) -> Path:
    """Write ``<name>.json`` (summary, machine, details) and ``<name>.md``; return the JSON path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    payload = {"benchmark": name, "summary": summary, "machine": info, "details": details}
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    header = (
        f"# Benchmark: {name}\n\nMeasured {info['date']} on {info['cpu']} ({info['cores']} cores, "
        f"{info['memory_gib']} GiB), Python {info['python']}, commit {info['commit']}.\n\n"
    )
    (RESULTS / f"{name}.md").write_text(header + markdown.strip() + "\n", encoding="utf-8")
    return json_path
