"""The retrieval sets of ``shared/data/retrieval``, loaded into plain dataclasses.

The data is read at run time and never copied into the repository (see ``shared/data/README.md``).
Each :class:`RetrievalSet` carries its own document list, so a system indexes it on its own even when
two sets share a corpus (``icecult_silver``/``icecult_gold``, the two ConditionalQA sets).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path("/work/shared/data/retrieval")

SET_NAMES = (
    "conditionalqa_question",
    "conditionalqa_scenario",
    "xquad_en_en",
    "xquad_es_es",
    "xquad_es_en",
    "icecult_silver",
    "icecult_gold",
)


@dataclass(frozen=True)
class Document:
    """One retrievable unit: a GOV.UK guide, a Wikipedia paragraph or a news article."""

    doc_id: str
    title: str
    text: str
    url: str | None
    language: str


@dataclass(frozen=True)
class Query:
    """One question with its single relevant document.

    ``text`` is the exact string to search with (for ``conditionalqa_scenario``: scenario, a space, question).
    ``evidence_texts`` are ConditionalQA's tag-stripped evidence sentences (empty elsewhere and for
    not-answerable questions); each occurs verbatim in the relevant document's text.
    """

    qid: str
    text: str
    language: str
    relevant: str
    answerable: bool = True
    evidence_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetrievalSet:
    """A named benchmark set: the documents to index and the queries to run against them."""

    name: str
    documents: list[Document]
    queries: list[Query]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines file, skipping blank lines."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, str]:
    """Map each query id to its one relevant document id (``qid<TAB>doc_id<TAB>1`` lines)."""
    qrels: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        qid, doc_id, grade = line.split("\t")
        if int(grade) <= 0:
            continue
        if qid in qrels:
            raise ValueError(f"{path}: more than one relevant document for {qid}")
        qrels[qid] = doc_id
    return qrels


def load_corpus(path: Path, language: str, *, keep_title: bool = True) -> list[Document]:
    """Read a ``corpus*.jsonl`` file; ``keep_title=False`` blanks titles written in another language."""
    return [
        Document(
            doc_id=row["doc_id"],
            title=row.get("title", "") if keep_title else "",
            text=row["text"],
            url=row.get("url"),
            language=language,
        )
        for row in read_jsonl(path)
    ]


def _check(name: str, documents: list[Document], queries: list[Query]) -> RetrievalSet:
    """Build a set after checking that ids are unique and every query's relevant document exists."""
    doc_ids = {d.doc_id for d in documents}
    if len(doc_ids) != len(documents):
        raise ValueError(f"{name}: duplicate document ids")
    if len({q.qid for q in queries}) != len(queries):
        raise ValueError(f"{name}: duplicate query ids")
    missing = [q.qid for q in queries if q.relevant not in doc_ids]
    if missing:
        raise ValueError(f"{name}: {len(missing)} queries point to unknown documents, e.g. {missing[0]}")
    return RetrievalSet(name=name, documents=documents, queries=queries)


def load_conditionalqa(data_dir: Path) -> list[RetrievalSet]:
    """ConditionalQA (GOV.UK, English): the question alone, and scenario + question."""
    root = data_dir / "conditionalqa"
    documents = load_corpus(root / "corpus.jsonl", "en")
    qrels = read_qrels(root / "qrels.tsv")
    evidence = {row["qid"]: list(row["evidence_texts"]) for row in read_jsonl(root / "qrels_evidence.jsonl")}
    rows = list(read_jsonl(root / "queries.jsonl"))

    def queries(with_scenario: bool) -> list[Query]:
        return [
            Query(
                qid=row["qid"],
                text=f"{row['scenario']} {row['question']}" if with_scenario else row["question"],
                language="en",
                relevant=qrels[row["qid"]],
                answerable=not row["not_answerable"],
                evidence_texts=evidence.get(row["qid"], []),
            )
            for row in rows
        ]

    return [
        _check("conditionalqa_question", documents, queries(with_scenario=False)),
        _check("conditionalqa_scenario", documents, queries(with_scenario=True)),
    ]


def load_xquad(data_dir: Path, *, english_titles: bool = True) -> list[RetrievalSet]:
    """XQuAD paragraphs: en→en, es→es (titles left out: they are English) and es questions→en paragraphs.

    ``english_titles=False`` leaves the article titles out of the English paragraphs too (the
    earlier reference baseline table was measured that way).
    """
    root = data_dir / "xquad"
    qrels = read_qrels(root / "qrels.tsv")
    corpus_en = load_corpus(root / "corpus_en.jsonl", "en", keep_title=english_titles)
    corpus_es = load_corpus(root / "corpus_es.jsonl", "es", keep_title=False)

    def queries(language: str) -> list[Query]:
        rows = read_jsonl(root / f"queries_{language}.jsonl")
        return [Query(qid=r["qid"], text=r["question"], language=language, relevant=qrels[r["qid"]]) for r in rows]

    queries_en, queries_es = queries("en"), queries("es")
    return [
        _check("xquad_en_en", corpus_en, queries_en),
        _check("xquad_es_es", corpus_es, queries_es),
        _check("xquad_es_en", corpus_en, queries_es),
    ]


def load_icecult(data_dir: Path) -> list[RetrievalSet]:
    """IceCult news (Icelandic): silver and gold questions over the same 1,127 articles."""
    root = data_dir / "icecult"
    documents = load_corpus(root / "corpus.jsonl", "is")
    sets = []
    for split in ("silver", "gold"):
        qrels = read_qrels(root / f"qrels_{split}.tsv")
        rows = read_jsonl(root / f"queries_{split}.jsonl")
        queries = [Query(qid=r["qid"], text=r["question"], language="is", relevant=qrels[r["qid"]]) for r in rows]
        sets.append(_check(f"icecult_{split}", documents, queries))
    return sets


def load_sets(data_dir: Path = DEFAULT_DATA_DIR, *, xquad_english_titles: bool = False) -> list[RetrievalSet]:
    """All seven sets, in the order of :data:`SET_NAMES`."""
    xquad = load_xquad(data_dir, english_titles=xquad_english_titles)
    sets = load_conditionalqa(data_dir) + xquad + load_icecult(data_dir)
    assert tuple(s.name for s in sets) == SET_NAMES
    return sets
