"""Adapters between capabilities, for the composition root (:mod:`soberana.wiring`): each implements a port
one capability declares with the services of others, so that no capability imports another.

Here: what evaluations need (:mod:`soberana.evaluations.ports`) from the gateway, knowledge and governance,
and what governance needs from evaluations (:class:`~soberana.governance.ports.ApprovalEvidence`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import orjson

from soberana.auth.principal import Origin, Principal, cli_principal
from soberana.core.aio import closing_stream
from soberana.errors import NotFound, TrainingRequired
from soberana.evaluations.ports import Citation, Page, Passage, Reply, Spending, Target, UseCaseFacts

if TYPE_CHECKING:
    from soberana.auth.service import AdminService
    from soberana.evaluations.evidence import Evidence
    from soberana.gateway.clients import GatewayClient
    from soberana.gateway.runtime import GatewayRuntime
    from soberana.gateway.service import GatewayService
    from soberana.governance.enforcement import Admitted, Enforcer
    from soberana.governance.ports import UnderReview
    from soberana.governance.service import GovernanceService
    from soberana.knowledge.jobs import IngestionJobs
    from soberana.knowledge.service import KnowledgeService
    from soberana.storage.db import Database
    from soberana.training.service import TrainingService


class Platform(Protocol):
    """What the adapters use of :class:`soberana.wiring.Platform` (built on first use there)."""

    @property
    def db(self) -> Database: ...
    @property
    def admin(self) -> AdminService: ...
    @property
    def knowledge(self) -> KnowledgeService: ...
    @property
    def jobs(self) -> IngestionJobs: ...
    @property
    def gateway(self) -> GatewayRuntime: ...
    @property
    def gateway_service(self) -> GatewayService: ...
    @property
    def governance(self) -> GovernanceService: ...
    @property
    def evaluation_register(self) -> EvaluationRegister: ...
    @property
    def evaluation_evidence(self) -> Evidence: ...


OPERATOR = "evaluations"  # the command-line principal the platform's own evaluation work is recorded under
NO_ANSWER = "NO_ANSWER"


def _declined(text: str) -> bool:
    return text.strip().strip(".").upper().startswith(NO_ANSWER)


class EvaluationTargets:
    """Evaluations' :class:`~soberana.evaluations.ports.Answering`: a collection's assistant answers through
    knowledge (retrieval, then the gateway), a model alone through the gateway."""

    def __init__(self, platform: Platform, client: GatewayClient) -> None:
        self.platform = platform
        self.client = client

    async def ask(
        self,
        principal: Principal,
        target: Target,
        question: str,
        *,
        instructions: str,
        conversation: str,
        history: Sequence[str],
    ) -> Reply:
        if target.kind == "assistant":
            return await self._assistant(principal, target, question, instructions, conversation, history)
        system = "\n\n".join(part for part in (target.system_prompt or "", instructions) if part)
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": earlier} for earlier in history]
        messages.append({"role": "user", "content": question})
        assert target.model is not None
        reply = await self.client.converse(principal, target.model, messages, conversation=conversation)
        return Reply(reply.text, _declined(reply.text), deployment=reply.deployment)

    async def _assistant(
        self,
        principal: Principal,
        target: Target,
        question: str,
        instructions: str,
        conversation: str,
        history: Sequence[str],
    ) -> Reply:
        from soberana.knowledge.answers import Answer
        from soberana.knowledge.schemas import AnswerRequest

        knowledge = self.platform.knowledge
        assert target.collection_id is not None
        async with self.platform.db.session() as session:
            collection = await knowledge.find_collection(session, target.collection_id)
        if collection is None:
            raise NotFound(f"No collection {target.collection_id!r}.")
        body = AnswerRequest(
            question=question, collections=[collection.id], model=target.model, extractive=target.model is None
        )
        answer: Answer | None = None
        stream = knowledge.answer_stream(
            principal, [collection], question, body, list(history), conversation, instructions=instructions
        )
        async with closing_stream(stream) as items:
            async for item in items:
                if isinstance(item, Answer):
                    answer = item
        assert answer is not None
        return Reply(
            answer.text,
            answer.mode == "abstained",
            [Citation(int(c["index"]), str(c["chunk_id"]), str(c["quote"])) for c in answer.citations],
            [Passage(str(h.chunk_id), h.document_id, h.title, h.text) for h in answer.passages],
            list(answer.flags),
        )

    def system_prompt(self, target: Target) -> str:
        from soberana.knowledge.answers import grounding_rules

        if target.kind == "assistant":
            return grounding_rules(None) if target.model else "extractive"
        return target.system_prompt or ""


class EvaluationPages:
    """Evaluations' :class:`~soberana.evaluations.ports.Pages`, through knowledge."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def collection(self, principal: Principal, ref: str, org_id: str) -> tuple[str, str]:
        from soberana.knowledge import repo as knowledge_repo

        platform = self.platform
        async with platform.db.session() as session:
            if ref.startswith("col_"):
                found = await platform.knowledge.find_collection(session, ref)
            else:
                found = await knowledge_repo.collection_by_name(session, org_id, ref)
            visible = await platform.admin.visible_org_ids(session, principal)
        # the caller's organisations' collections only (not another organisation's public assistant)
        if found is None or (visible is not None and found.org_id not in visible):
            raise NotFound(f"No collection {ref!r}.", param="collection")
        return found.id, found.org_id

    async def pages(self, principal: Principal, collection_id: str, question: str, limit: int) -> list[Page]:
        from soberana.knowledge.schemas import SearchRequest

        knowledge = self.platform.knowledge
        retrieval = await knowledge.search(principal, SearchRequest(query=question, collections=[collection_id]))
        documents = list(dict.fromkeys(hit.document_id for hit in retrieval.hits))[:limit]
        return [Page(key, title, text) for key, title, text in await knowledge.page_texts(collection_id, documents)]

    async def contacts_text(self, collection_id: str) -> str:
        return await self.platform.knowledge.collection_text(collection_id)

    async def content_hash(self, collection_id: str) -> str:
        return await self.platform.knowledge.content_hash(collection_id)

    async def create_shadow(self, principal: Principal, source_id: str, name: str, pages: Sequence[Page]) -> str:
        from soberana.knowledge.jobs import UploadedFile
        from soberana.knowledge.schemas import CollectionCreate

        platform, operator = self.platform, cli_principal(OPERATOR)
        knowledge = platform.knowledge
        async with platform.db.write_session() as session:
            source = await knowledge.find_collection(session, source_id)
            if source is None:
                raise NotFound(f"No collection {source_id!r}.")
            old = [c for c in await knowledge.list_collections(session, operator) if c.org_id == source.org_id]
            for existing in old:
                if existing.name == name:
                    await knowledge.delete_collection(session, operator, existing.id, Origin())
        async with platform.db.write_session() as session:
            body = CollectionCreate(
                name=name,
                title=f"Evaluation copy of {source.title}"[:200],
                description="Poisoned copies of pages, made by an evaluation run to test indirect prompt injection; "
                "deleted when the run ends.",
                visibility="internal",
                classification=source.classification,
                embedding_model=source.embedding_model,
                org_id=source.org_id,
            )
            shadow = await knowledge.create_collection(session, operator, body, Origin())
        files = [
            UploadedFile(
                page.key if page.key.endswith(".md") else f"{page.key}.md", f"# {page.title}\n\n{page.text}".encode()
            )
            for page in pages
        ]
        jobs = platform.jobs
        job_id = await jobs.new_job(shadow, len(files))
        await jobs.run_job(job_id, shadow, files)
        await jobs.embed_pending(shadow)
        return shadow.id

    async def drop_shadow(self, collection_id: str) -> None:
        platform = self.platform
        async with platform.db.write_session() as session:
            await platform.knowledge.delete_collection(session, cli_principal(OPERATOR), collection_id, Origin())


class EvaluationMetering:
    """Evaluations' :class:`~soberana.evaluations.ports.Metering`, from the gateway's usage records."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def spent(self, org_id: str, principal_id: str) -> Spending:
        async with self.platform.db.session() as session:
            calls, tokens, cost = await self.platform.gateway.admin.spent(session, org_id, principal_id)
        return Spending(calls, tokens, cost)

    def price(self, model: str | None, prompt_tokens: int, completion_tokens: int) -> float:
        entry = self.platform.gateway_service.catalog.get(model) if model else None
        if entry is None or not entry.deployments:
            return 0.0
        first = entry.deployments[0].config
        return (prompt_tokens * first.price_input_per_mtok + completion_tokens * first.price_output_per_mtok) / 1e6


class EvaluationRegister:
    """Evaluations' :class:`~soberana.evaluations.ports.Register` and :class:`~soberana.evaluations.ports.Pins`:
    use cases from governance (their collections resolved to ids), the deployments and data-protection
    policy a run pins."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def _facts(self, review: UnderReview) -> UseCaseFacts:
        from soberana.knowledge import repo as knowledge_repo

        ids: list[str] = []
        async with self.platform.db.session() as session:
            for ref in review.collections:
                if ref.startswith("col_"):
                    found = await self.platform.knowledge.find_collection(session, ref)
                else:
                    found = await knowledge_repo.collection_by_name(session, review.org_id, ref)
                if found is not None and found.org_id == review.org_id and found.id not in ids:
                    ids.append(found.id)
        return UseCaseFacts(
            id=review.use_case_id,
            org_id=review.org_id,
            name=review.name,
            status=review.status,
            risk_group=review.risk_group,
            aia_level=review.aia_level,
            version=review.version,
            approved_version=review.approved_version,
            submitted_version=review.submitted_version,
            models=review.models,
            collections=tuple(ids),
        )

    async def use_case(self, principal: Principal, use_case_id: str) -> UseCaseFacts:
        review = await self.platform.governance.review_facts(use_case_id, principal)
        if review is None:  # not reached: with a principal, an unknown use case is NotFound already
            raise NotFound(f"No use case with id {use_case_id!r}.")
        return await self._facts(review)

    async def use_case_by_id(self, use_case_id: str) -> UseCaseFacts | None:
        review = await self.platform.governance.review_facts(use_case_id)
        return None if review is None else await self._facts(review)

    async def report_regression(self, use_case_id: str, summary: str, details: str) -> str | None:
        from soberana.governance.schemas import IncidentReport

        report = IncidentReport(title=summary[:200], description=details, severity="high")
        incident = await self.platform.governance.incidents.report(
            cli_principal(OPERATOR), use_case_id, report, Origin()
        )
        return incident.id

    async def models(self, aliases: Sequence[str]) -> list[str]:
        facts = await self.platform.governance.facts.models(aliases)
        return sorted(f"{f.alias}/{f.deployment}/{f.model}/{f.weights_sha256 or '-'}" for f in facts)

    def policy(self, org_id: str) -> str:
        rules = self.platform.governance.facts.data_rules(org_id)
        return orjson.dumps([[r.classification, r.mode, list(r.sovereignty), r.default] for r in rules]).decode()


class TrainedTraffic:
    """The gateway's guard: a person's call needs the baseline course; a call for a use case whose operators
    need the oversight course (high-risk, AIA level III or IV) needs it too — from the person, or, for a
    service account's key, from every person of its organisation; then the register's word (run-time
    enforcement of governance)."""

    def __init__(
        self,
        training: TrainingService,
        enforcer: Enforcer,
        organisation_trained: Callable[[str], Awaitable[bool | None]],
    ) -> None:
        self.training = training
        self.enforcer = enforcer
        self.organisation_trained = organisation_trained
        self._organisations: dict[str, tuple[float, bool]] = {}

    async def admit(self, principal: Principal, model: str) -> Admitted:
        training = self.training
        await training.check(principal)
        if principal.kind in ("user", "service_account") and await training.required_for(principal.org_id or ""):
            use_case = await self.enforcer.operators_trained_for(principal)
            if use_case is not None:
                await self._operators(principal, use_case)
        return await self.enforcer.admit(principal, model)

    async def _operators(self, principal: Principal, use_case: str) -> None:
        training = self.training
        if principal.kind == "user":
            await training.check(principal, training.oversight)
            return
        org_id = principal.org_id or ""
        now = time.monotonic()
        remembered = self._organisations.get(org_id)
        if remembered is None or now - remembered[0] >= training.check_seconds:
            remembered = (now, bool(await self.organisation_trained(org_id)))
            self._organisations[org_id] = remembered
        if not remembered[1]:
            raise TrainingRequired(
                f"The use case {use_case} needs trained operators: every person of the organisation completes "
                f"the course /training/courses/{training.oversight} before its keys are used.",
                code="training_required",
            )


class ApprovalEvidenceAdapter:
    """Governance's :class:`~soberana.governance.ports.ApprovalEvidence`, from the evaluations' gate."""

    def __init__(self, platform: Platform, mode: str) -> None:
        self.platform = platform
        self._mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def evidence(self) -> Evidence:
        return self.platform.evaluation_evidence

    async def gaps(self, review: UnderReview) -> list[str]:
        facts = await self.platform.evaluation_register._facts(review)
        return [f"{gap.suite}: {gap.detail}" for gap in await self.evidence.gaps(facts, review.version)]

    def changed(self, use_case_id: str) -> None:
        if self._mode != "off":
            self.evidence.changed(use_case_id)


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
