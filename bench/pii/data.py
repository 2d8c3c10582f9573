"""The shared PII evaluation sets (``shared/data/pii``), read at run time, never copied."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "pii"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


@dataclass
class Record:
    id: str
    language: str
    text: str
    spans: list[Span]
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class PiiSet:
    name: str  # the file's name without .jsonl
    records: list[Record]
    note: str = ""

    @property
    def labels(self) -> list[str]:
        """The labels this set annotates (only these are scored)."""
        return sorted({s.label for r in self.records for s in r.spans})

    @property
    def characters(self) -> int:
        return sum(len(r.text) for r in self.records)


def read(path: Path) -> list[Record]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            spans = [Span(s["start"], s["end"], s["label"]) for s in row["spans"]]
            records.append(Record(row["id"], row["lang"], row["text"], spans, row.get("meta") or {}))
    return records


# The sets reported, in order. MEDDOCAN's train and dev splits and Greynir's devset were used to
# write and tune the rules; only the held-out parts are reported.
REPORTED = (
    ("presidio_synth_en", None, "English synthetic (presidio-research), 1,500 texts"),
    ("synthetic_en", None, "project-generated English, 1,000 sentences"),
    ("synthetic_es", None, "project-generated Spanish, 1,000 sentences"),
    ("meddocan_es_test", None, "MEDDOCAN test split, 250 Spanish clinical reports (tuned on train/dev)"),
    ("synthetic_is", None, "project-generated Icelandic, 1,000 sentences"),
    (
        "greynir_is_persons",
        "test",
        "GreynirCorpus gold person names, test split (500 sentences; devset used for tuning)",
    ),
)


def load_sets(data_dir: Path = DEFAULT_DATA_DIR, *, only: set[str] | None = None) -> list[PiiSet]:
    if not data_dir.is_dir():
        raise SystemExit(f"PII data not found at {data_dir} (see shared/data/README.md)")
    sets = []
    for name, split, note in REPORTED:
        if only and name not in only:
            continue
        records = read(data_dir / f"{name}.jsonl")
        if split:
            records = [r for r in records if r.meta.get("split") == split]
        sets.append(PiiSet(name, records, note))
    return sets
