"""Answers to the development set's questions over the mixed collection, through the product's path.

Each question of a split is asked as a citizen's would be (``KnowledgeService.answer``, extractive:
the embedded default has no chat model), and its answer judged:

* **abstention** on near-miss questions (positive: abstained): precision (the share of abstentions
  that were right) and recall (the share of near-miss questions refused), over all the split's
  questions;
* **false abstention** of answerable questions, for those asked in the page's language and for those
  asked in another;
* **R@1** by the question's language (the best passage's page is the right one);
* **answer sentence quoted**: among answered answerable questions, the share whose quotes hold the
  sentence that answers (whitespace-normalised; a quote cut at a sentence break inside it counts
  when it holds at least half of the sentence).

:func:`evidence_rows` also returns what the answerability decision reads for every question, which
``fit_answerability.py`` fits on (train split only).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from bench.retrieval.devset import DevQuestion, page_language
from bench.retrieval.metrics import normalise_whitespace
from soberana.knowledge.answerability import FEATURES, decide, evidence_of
from soberana.knowledge.schemas import AnswerRequest

SET_NAME = "mixed_devset"


def quoted(sentence: str, quotes: list[str]) -> bool:
    """Whether ``quotes`` (each possibly several sentences joined by " … ") hold ``sentence``."""
    gold = normalise_whitespace(sentence)
    for quote in quotes:
        for piece in (normalise_whitespace(p) for p in quote.split(" … ")):
            piece = piece.rstrip("…").strip()
            if gold in piece or (len(piece) >= len(gold) / 2 and piece in gold):
                return True
    return False


async def evidence_rows(system: Any, questions: list[DevQuestion]) -> list[dict[str, Any]]:
    """Per question: its answer through the product's path, and the decision's evidence."""
    collection = system.collections[SET_NAME]
    documents = system.documents[SET_NAME]
    back = system.doc_ids[SET_NAME]
    retriever = await system.engine.retriever()
    model = system.settings.knowledge_embedding_model
    rows = []
    for q in questions:
        answer = await system.service.answer(
            system.principal, AnswerRequest(question=q.text, collections=[collection.id], extractive=True)
        )
        language = await retriever.detect_language(q.text)
        retrieval = await retriever.search(
            system.principal,
            [collection],
            q.text,
            limit=system.settings.knowledge_top_k,
            query_language=language,
            default_model=model,
        )
        row: dict[str, Any] = {
            "qid": q.qid,
            "split": q.split,
            "language": q.language,
            "detected": language,
            "answerable": q.answerable,
            "page_language": page_language(q, documents),
            "mode": answer.mode,
            "answerability": answer.answerability,
            "top_document": back.get(retrieval.hits[0].document_id) if retrieval.hits else None,
            "relevant": q.relevant or None,
            "near": q.near or None,
        }
        if retrieval.hits:
            reading = await system.service.answerer.read(system.principal, model, q.text, retrieval, language)
            evidence = evidence_of(q.text, language, retrieval, reading)
            row["evidence"] = {name: round(v, 4) for name, v in zip(FEATURES, evidence.values(), strict=True)}
            row["relation"] = evidence.relation
            row["cosine_only"] = decide(model, 0.845, q.text, language, retrieval, reading).answer
        cited = [back.get(c["document_id"]) for c in answer.citations]
        row["quoted"] = (
            q.answerable
            and answer.mode != "abstained"
            and quoted(q.sentence, [c["quote"] for c in answer.citations if back.get(c["document_id"]) == q.relevant])
        )
        row["cited_documents"] = cited
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one split (see the module's docstring)."""
    abstained = [r for r in rows if r["mode"] == "abstained"]
    near = [r for r in rows if not r["answerable"]]
    right = [r for r in abstained if not r["answerable"]]
    answerable = [r for r in rows if r["answerable"]]
    same = [r for r in answerable if r["language"] == r["page_language"]]
    other = [r for r in answerable if r["language"] != r["page_language"]]
    r1: dict[str, list[bool]] = defaultdict(list)
    for r in answerable:
        r1[r["language"]].append(r["top_document"] == r["relevant"])
    answered = [r for r in answerable if r["mode"] != "abstained"]

    def share(part: list[Any], whole: list[Any]) -> float | None:
        return round(len(part) / len(whole), 3) if whole else None

    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "near_miss": len(near),
        "abstention_precision": share(right, abstained),
        "abstention_recall": share(right, near),
        "false_abstention_same_language": share([r for r in same if r["mode"] == "abstained"], same),
        "false_abstention_cross_language": share([r for r in other if r["mode"] == "abstained"], other),
        "r1": {lang: round(sum(v) / len(v), 3) for lang, v in sorted(r1.items())},
        "answer_sentence_quoted": share([r for r in answered if r["quoted"]], answered),
        "questions_by_language": dict(sorted(Counter(r["language"] for r in rows).items())),
    }


TARGETS = {
    "abstention_precision": (0.90, ">="),
    "abstention_recall": (0.80, ">="),
    "answer_sentence_quoted": (0.85, ">="),
}


def markdown(details: dict[str, Any]) -> str:
    """The development set's section of the report: the dev split against the targets, beside the single
    cosine threshold on the same retrievals and the train split (what the decision was fitted on)."""
    dev, before, train = details["dev"], details["dev_single_threshold"], details["train"]

    def cell(value: Any) -> str:
        return "—" if value is None else f"{value:.3f}"

    def met(name: str, value: float | None) -> str:
        if value is None:
            return "—"
        if name in TARGETS:
            return "✅" if value >= TARGETS[name][0] else "❌"
        return ""

    rows = []
    for name, label in (
        ("abstention_precision", "abstention precision on near misses (≥ 0.90)"),
        ("abstention_recall", "abstention recall on near misses (≥ 0.80)"),
        ("false_abstention_same_language", "false abstention, question in the page's language"),
        ("false_abstention_cross_language", "false abstention, question in another language"),
        ("answer_sentence_quoted", "answering sentence quoted, answered questions (≥ 0.85)"),
    ):
        rows.append(
            f"| {label} | {cell(dev[name])} | {met(name, dev[name])} | {cell(before[name])} | {cell(train[name])} |"
        )
    gap = None
    if dev["false_abstention_cross_language"] is not None and dev["false_abstention_same_language"] is not None:
        gap = dev["false_abstention_cross_language"] - dev["false_abstention_same_language"]
    rows.append(
        f"| cross-language minus same-language false abstention (≤ 0.02) | {cell(gap)} | "
        f"{'—' if gap is None else ('✅' if gap <= 0.02 else '❌')} | — | — |"
    )
    for language, value in dev["r1"].items():
        rows.append(
            f"| R@1, {language} (≥ 0.90) | {cell(value)} | {'✅' if value >= 0.9 else '❌'} | "
            f"{cell(before['r1'].get(language))} | {cell(train['r1'].get(language))} |"
        )
    languages = ", ".join(f"{k} {v}" for k, v in dev["questions_by_language"].items())
    return "\n".join(
        [
            "## Development set, mixed collection",
            "",
            f"The project's development set (`bench/retrieval/devset/`): {dev['answerable']} answerable and "
            f"{dev['near_miss']} near-miss questions in the dev split ({languages}), "
            "asked through the product's answer path (extractive) over every shared corpus in one collection. "
            "The answerability decision and the other rules were fitted and tuned on the train split only; "
            "the dev split is measured here. *Single threshold*: the earlier decision (best passage cosine ≥ "
            "0.845) on the same retrievals.",
            "",
            "| measure | dev | target met | dev, single threshold | train |",
            "|---|---:|:-:|---:|---:|",
            *rows,
        ]
    )
