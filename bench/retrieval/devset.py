"""The project's development set and the mixed collection.

The development set (``bench/retrieval/devset/*.jsonl``) was written by the project for this
benchmark: citizens' questions in English, Spanish, Icelandic, Polish and Portuguese over the shared
GOV.UK guides (ConditionalQA's pages) and RÚV articles (IceCult's), each answered by one sentence of
one page, and near-miss questions that no page answers (a page on the same service, an article about
the same town). It quotes no page: an answerable question names its page and a short *anchor*, a
verbatim piece of the answering sentence, and the sentence is found in the page at run time. Two
splits: ``train`` (what the answerability model and the other rules were fitted and tuned on) and
``dev`` (what the benchmark measures; nothing was fitted on it).

The *mixed collection* holds every shared corpus at once (GOV.UK, RÚV, XQuAD in English and in
Spanish: 1,666 documents), as an installation that ingests all its sources into one collection would;
a question then competes with pages in every language. XQuAD's two corpora share their ids, so in
the mixed collection they are prefixed ``xquad-en:`` and ``xquad-es:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.retrieval.datasets import (
    DEFAULT_DATA_DIR,
    Document,
    Query,
    RetrievalSet,
    load_conditionalqa,
    load_corpus,
    load_icecult,
    read_jsonl,
)

DEVSET_DIR = Path(__file__).resolve().parent / "devset"
SPLITS = ("train", "dev")
LANGUAGES = ("en", "es", "is", "pl", "pt")
MIXED_SET_NAMES = ("mixed_devset", "mixed_conditionalqa", "mixed_icecult_gold")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|\n")


@dataclass(frozen=True)
class DevQuestion:
    """One question of the development set; ``relevant`` and ``sentence`` are empty for a near miss."""

    qid: str
    split: str
    language: str
    text: str
    answerable: bool
    relevant: str = ""
    sentence: str = ""
    near: str = ""

    def as_query(self) -> Query:
        return Query(self.qid, self.text, self.language, self.relevant, self.answerable, [self.sentence])


def mixed_documents(data_dir: Path = DEFAULT_DATA_DIR) -> list[Document]:
    """Every shared corpus, as one collection's documents (XQuAD's ids prefixed by language)."""
    cqa = load_conditionalqa(data_dir)[0].documents
    ruv = load_icecult(data_dir)[0].documents
    root = data_dir / "xquad"
    xquad = [
        Document(f"xquad-{lang}:{d.doc_id}", "", d.text, d.url, lang)
        for lang in ("en", "es")
        for d in load_corpus(root / f"corpus_{lang}.jsonl", lang, keep_title=False)
    ]
    documents = [*cqa, *ruv, *xquad]
    if len({d.doc_id for d in documents}) != len(documents):
        raise ValueError("mixed collection: duplicate document ids")
    return documents


def answer_sentence(text: str, anchor: str) -> str:
    """The sentence (or line) of ``text`` that holds ``anchor`` (which must occur exactly once)."""
    start = text.find(anchor)
    if start < 0 or text.find(anchor, start + 1) >= 0:
        raise ValueError(f"anchor {anchor!r} must occur exactly once in its page")
    end = start + len(anchor)
    before = [m.end() for m in _SENTENCE_BREAK.finditer(text, 0, start)]
    left = before[-1] if before else 0
    after = _SENTENCE_BREAK.search(text, end)
    right = after.start() if after else len(text)
    return text[left:right].strip()


def load_devset(
    data_dir: Path = DEFAULT_DATA_DIR, folder: Path = DEVSET_DIR, documents: list[Document] | None = None
) -> list[DevQuestion]:
    """Every question of the development set, its answering sentence found in its page."""
    pages = {d.doc_id: d for d in (documents if documents is not None else mixed_documents(data_dir))}
    questions = []
    for path in sorted(folder.glob("*.jsonl")):
        for row in read_jsonl(path):
            if row["split"] not in SPLITS:
                raise ValueError(f"{path.name}: {row['qid']}: unknown split {row['split']!r}")
            if row["answerable"]:
                page = pages.get(row["doc_id"])
                if page is None:
                    raise ValueError(f"{path.name}: {row['qid']}: unknown page {row['doc_id']}")
                sentence = answer_sentence(page.text, row["answer_anchor"])
                questions.append(
                    DevQuestion(row["qid"], row["split"], row["lang"], row["question"], True, page.doc_id, sentence)
                )
            else:
                questions.append(
                    DevQuestion(
                        row["qid"], row["split"], row["lang"], row["question"], False, near=row.get("near_doc_id", "")
                    )
                )
    if len({q.qid for q in questions}) != len(questions):
        raise ValueError("development set: duplicate question ids")
    return questions


def page_language(question: DevQuestion, documents: dict[str, Document]) -> str:
    """The language of the page that answers (or nearly answers) ``question``."""
    page = documents.get(question.relevant or question.near)
    return page.language if page else ""


def mixed_sets(data_dir: Path = DEFAULT_DATA_DIR, split: str = "dev") -> list[RetrievalSet]:
    """The mixed-collection conditions: the development set's answerable questions of ``split``, and the
    GOV.UK and RÚV benchmark questions, each over every shared corpus in one collection."""
    documents = mixed_documents(data_dir)
    dev = [q.as_query() for q in load_devset(data_dir, documents=documents) if q.split == split and q.answerable]
    cqa = load_conditionalqa(data_dir)[0]
    gold = load_icecult(data_dir)[1]
    return [
        RetrievalSet("mixed_devset", documents, dev),
        RetrievalSet("mixed_conditionalqa", documents, cqa.queries),
        RetrievalSet("mixed_icecult_gold", documents, gold.queries),
    ]
