"""The gateway's request path: resolve the model, admit under quotas, route, stream, meter.

Nothing here writes to the database per request: authentication is cached, quota counters are in
memory or Redis, and usage records are queued for the :class:`~soberana.gateway.metering.UsageMeter`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from soberana.auth.principal import Principal, Scope
from soberana.core import sse
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import (
    InvalidRequest,
    ModelNotFound,
    PersonalDataRefused,
    QuotaExceeded,
    SoberanaError,
    UpstreamFailed,
)
from soberana.gateway.catalog import Catalog, ModelEntry
from soberana.gateway.metering import UsageMeter
from soberana.gateway.outbound import OutboundLog
from soberana.gateway.protection import Shield
from soberana.privacy.service import PrivacyService
from soberana.providers.base import Completion, Usage, estimate_prompt_tokens
from soberana.providers.routing import Deployment, Router
from soberana.settings import Settings
from soberana.storage.counters import DAY, MINUTE, Admission, Counters, Limit

DEFAULT_COMPLETION_ESTIMATE = 512


@dataclass(frozen=True)
class QuotaLimits:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    tokens_per_day: int | None = None
    monthly_budget: float | None = None
    max_concurrent: int | None = None


@dataclass
class QuotaBook:
    """The quotas in force, kept in memory (reloaded when they change)."""

    organisations: dict[str, QuotaLimits] = field(default_factory=dict)
    keys: dict[str, QuotaLimits] = field(default_factory=dict)

    def limits(self, principal: Principal, tokens: int, cost: float) -> tuple[list[Limit], list[tuple[str, int]]]:
        limits: list[Limit] = []
        concurrency: list[tuple[str, int]] = []
        subjects = (
            ("org", principal.org_id, self.organisations.get(principal.org_id or ""), "your organisation"),
            ("key", principal.key_id, self.keys.get(principal.key_id or ""), "this API key"),
        )
        for kind, subject_id, quota, whose in subjects:
            if quota is None:
                continue
            prefix = f"{kind}:{subject_id}"
            if quota.requests_per_minute is not None:
                limits.append(
                    Limit(
                        f"{prefix}:rpm",
                        quota.requests_per_minute,
                        1,
                        MINUTE,
                        f"requests per minute for {whose} ({quota.requests_per_minute})",
                    )
                )
            if quota.tokens_per_minute is not None:
                limits.append(
                    Limit(
                        f"{prefix}:tpm",
                        quota.tokens_per_minute,
                        tokens,
                        MINUTE,
                        f"tokens per minute for {whose} ({quota.tokens_per_minute})",
                    )
                )
            if quota.tokens_per_day is not None:
                limits.append(
                    Limit(
                        f"{prefix}:tpd",
                        quota.tokens_per_day,
                        tokens,
                        DAY,
                        f"tokens per day for {whose} ({quota.tokens_per_day})",
                    )
                )
            if quota.monthly_budget is not None:
                limits.append(
                    Limit(
                        f"{prefix}:budget",
                        quota.monthly_budget,
                        cost,
                        0,
                        f"the monthly budget of {whose} ({quota.monthly_budget:g})",
                    )
                )
            if quota.max_concurrent is not None:
                concurrency.append((f"{prefix}:concurrent", quota.max_concurrent))
        return limits, concurrency


@dataclass
class Call:
    """One model call in progress: what was admitted and what to meter."""

    principal: Principal
    endpoint: str
    model: str
    stream: bool
    request_id: str | None
    started: float
    estimate_tokens: int = 0
    estimate_cost: float = 0.0
    admission: Admission | None = None
    deployment: Deployment | None = None
    attempts: int = 0
    ttft_ms: float | None = None
    usage: Usage | None = None
    content: dict[str, Any] | None = None
    privacy: dict[str, Any] | None = None


def price(deployment: Deployment | None, usage: Usage) -> float:
    if deployment is None:
        return 0.0
    c = deployment.config
    return (usage.prompt_tokens * c.price_input_per_mtok + usage.completion_tokens * c.price_output_per_mtok) / 1e6


class ChatAugmenter(Protocol):
    """Extends chat completions with a request field of its own (e.g. ``knowledge``: answer from
    collections). Registered by a composition root; the gateway knows nothing of what it does."""

    field: str

    async def prepare(self, principal: Principal, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The body to send to the model (without ``field``) and a state for the two methods below."""

    def finish(self, state: Any, response: bytes) -> bytes:
        """Rewrite a non-streamed response body."""

    def stream(self, state: Any, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Rewrite a stream of Server-Sent Events (``data: …`` lines)."""

    def classifications(self, state: Any) -> Sequence[str]:
        """The data classifications of what :meth:`prepare` added to the request (the call is handled
        at the highest of them and of its own)."""


class Permit(Protocol):
    """What the register lets a call do: the response headers to add (a warning, often none), and which
    deployments it may be routed to, by their supplier."""

    @property
    def headers(self) -> dict[str, str]: ...

    def allows(self, supplier: str | None, sovereignty: str) -> bool: ...

    async def refusal(self, model: str) -> SoberanaError:
        """The error when no deployment the call may use is left (recorded as the register wants)."""


class TrafficGuard(Protocol):
    """Whether the register of AI use cases allows a call (run-time enforcement, from governance)."""

    async def admit(self, principal: Principal, model: str) -> Permit:
        """Raise when the call is refused; else what it may do."""


class GatewayService:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        router: Router,
        counters: Counters,
        meter: UsageMeter,
        privacy: PrivacyService,
        guard: TrafficGuard,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.catalog = catalog
        self.router = router
        self.counters = counters
        self.meter = meter
        self.privacy = privacy
        self.quotas = QuotaBook()
        self._augmenters: dict[str, ChatAugmenter] = {}
        self._content_orgs = frozenset(settings.content_logging_orgs)
        self.outbound = OutboundLog()

    def add_augmenter(self, augmenter: ChatAugmenter) -> None:
        """Serve chat completions' ``augmenter.field`` option (the composition root adds each one once)."""
        if augmenter.field in self._augmenters:
            raise ValueError(f"the chat option {augmenter.field!r} has an augmenter already")
        self._augmenters[augmenter.field] = augmenter

    async def _augment(
        self, principal: Principal, body: dict[str, Any]
    ) -> tuple[dict[str, Any], ChatAugmenter | None, Any]:
        for augmenter in self._augmenters.values():
            if augmenter.field in body:
                self.require_inference(principal)
                new_body, state = await augmenter.prepare(principal, body)
                return new_body, augmenter, state
        return body, None, None

    async def _guarded(
        self, principal: Principal, body: dict[str, Any], endpoint: str, streamed: bool, request_id: str | None
    ) -> Permit:
        """The register's word on the call, before any work on it; a refusal is metered like any error."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("Name the model to call.", param="model")
        try:
            return await self.guard.admit(principal, model)
        except SoberanaError as error:
            await self._failed(Call(principal, endpoint, model, streamed, request_id, time.perf_counter()), error)
            raise

    # -- model lookup -------------------------------------------------------------------------------

    @staticmethod
    def require_inference(principal: Principal) -> None:
        principal.require(Scope.INFERENCE, "Calling models")

    def model(self, principal: Principal, alias: str, capability: str) -> ModelEntry:
        self.require_inference(principal)
        entry = self.catalog.get(alias)
        if entry is None:
            raise ModelNotFound(
                f"The model '{alias}' does not exist. GET /v1/models lists the models you can use.", param="model"
            )
        if not entry.serves(capability):
            what = {"chat": "chat completions", "embeddings": "embeddings", "rerank": "reranking"}[capability]
            raise InvalidRequest(f"The model '{alias}' does not serve {what}.", param="model", code="model_capability")
        return entry

    # -- quotas -------------------------------------------------------------------------------------

    async def _admit(self, call: Call) -> None:
        if not self.quotas.organisations and not self.quotas.keys:
            return
        limits, concurrency = self.quotas.limits(call.principal, call.estimate_tokens, call.estimate_cost)
        if not limits and not concurrency:
            return
        admission, refused, wait = await self.counters.admit(limits, concurrency)
        if admission is None:
            assert refused is not None
            raise QuotaExceeded(
                f"Quota exceeded: {refused.label}. Try again in {max(1, int(wait + 0.999))} s.", retry_after=wait
            )
        call.admission = admission

    async def _settle(self, call: Call) -> None:
        if call.admission is None:
            return
        usage = call.usage or Usage()
        tokens_delta = usage.total_tokens - call.estimate_tokens
        cost_delta = price(call.deployment, usage) - call.estimate_cost
        adjustments: dict[str, float] = {}
        for counter in call.admission.buckets:
            if counter.endswith((":tpm", ":tpd")):
                adjustments[counter] = tokens_delta
            elif counter.endswith(":budget"):
                adjustments[counter] = cost_delta
        await self.counters.settle(call.admission, adjustments)
        call.admission = None

    # -- metering -----------------------------------------------------------------------------------

    def _meter(self, call: Call, status: int, error_code: str | None = None) -> None:
        usage = call.usage or Usage()
        deployment = call.deployment
        params = deployment.config.params_billion if deployment else None
        energy = None
        if params and usage.total_tokens:
            joules = 2 * params * 1e9 * usage.total_tokens * self.settings.energy_joules_per_flop
            energy = round(joules / 3600, 9)
        principal = call.principal
        self.meter.record(
            {
                "id": new_id("use"),
                "occurred_at": utcnow(),
                "org_id": principal.org_id or "",
                "key_id": principal.key_id,
                "principal_id": principal.id,
                "endpoint": call.endpoint,
                "model": call.model,
                "deployment": deployment.name if deployment else None,
                "stream": call.stream,
                "priority": principal.priority,
                "status": status,
                "error_code": error_code,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "tokens_estimated": usage.estimated,
                "cost": round(price(deployment, usage), 10),
                "latency_ms": round((time.perf_counter() - call.started) * 1000, 3),
                "ttft_ms": None if call.ttft_ms is None else round(call.ttft_ms, 3),
                "energy_wh": energy,
                "attempts": call.attempts,
                "request_id": call.request_id,
                "content": call.content,
                "privacy": call.privacy,
            }
        )

    def _log_content(self, call: Call) -> bool:
        return bool(self._content_orgs) and call.principal.org_slug in self._content_orgs

    # -- the calls ----------------------------------------------------------------------------------

    @staticmethod
    def _estimate(call: Call, body: dict[str, Any], entry: ModelEntry) -> None:
        """Token and cost estimates to admit the call under quotas (settled later on real usage)."""
        completion_estimate = 0
        if call.endpoint == "chat":
            completion_estimate = (
                body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_COMPLETION_ESTIMATE
            )
        prompt_estimate = estimate_prompt_tokens(body)
        call.estimate_tokens = prompt_estimate + completion_estimate
        first = entry.deployments[0].config
        call.estimate_cost = (
            prompt_estimate * first.price_input_per_mtok + completion_estimate * first.price_output_per_mtok
        ) / 1e6

    async def _failed(self, call: Call, error: SoberanaError) -> None:
        await self._settle(call)
        self._meter(call, error.status_code, error.code)

    def _shield(
        self,
        principal: Principal,
        endpoint: str,
        body: dict[str, Any],
        classification: str | None,
        conversation: str | None,
        floors: Sequence[str],
    ) -> Shield:
        resolved = self.privacy.resolve(principal, classification, floors)
        return Shield(self.privacy, principal, resolved, endpoint, body, conversation)

    async def _deployments(
        self, call: Call, entry: ModelEntry, capability: str, shield: Shield | None, permit: Permit
    ) -> list[Deployment]:
        """The deployments that may serve the call, with its texts protected for those that need it."""
        deployments = entry.for_capability(capability)
        usable = [d for d in deployments if permit.allows(d.config.supplier, d.config.sovereignty)]
        if deployments and not usable:
            raise await permit.refusal(call.model)
        deployments = usable
        if shield is not None:
            deployments = shield.permitted(deployments, call.model)
            try:
                deployments = await shield.prepare(deployments)
            except PersonalDataRefused:
                call.privacy = {"classification": shield.resolved.classification, "action": "blocked", "counts": {}}
                raise
        return deployments

    @staticmethod
    def _floors(augmenter: ChatAugmenter | None, state: Any) -> list[str]:
        """Data classifications an augmenter's additions carry (e.g. the collections it read)."""
        return list(augmenter.classifications(state)) if augmenter is not None else []

    @staticmethod
    def _headers(deployment: Deployment, shield: Shield | None) -> dict[str, str]:
        headers = {"x-soberana-deployment": deployment.name}
        if shield is not None:
            headers["x-soberana-classification"] = shield.resolved.classification
            if (pii := shield.header()) is not None:
                headers["x-soberana-pii"] = pii
        return headers

    async def complete(
        self,
        principal: Principal,
        body: dict[str, Any],
        *,
        endpoint: str,
        request_id: str | None,
        classification: str | None = None,
        conversation: str | None = None,
        floors: Sequence[str] = (),
    ) -> tuple[Completion, dict[str, str]]:
        """A non-streamed chat completion (``endpoint="chat"``), embeddings or rerank call.

        Returns the upstream's answer (personal data restored) and the response headers that say
        which deployment answered and what was done to personal data. ``classification`` is the one
        the request states, ``floors`` the lowest the caller imposes (its collections'),
        ``conversation`` the id under which placeholders stay stable between requests.
        """
        permit = await self._guarded(principal, body, endpoint, False, request_id)
        augmenter, state = None, None
        if endpoint == "chat" and self._augmenters:
            body, augmenter, state = await self._augment(principal, body)
        capability = endpoint if endpoint in ("chat", "rerank") else "embeddings"
        call = Call(principal, endpoint, str(body["model"]), False, request_id, time.perf_counter())
        shield = None
        try:
            floors = [*floors, *self._floors(augmenter, state)]
            await self.privacy.know(principal)
            shield = self._shield(principal, endpoint, body, classification, conversation, floors)
            entry = self.model(principal, call.model, capability)
            self._estimate(call, body, entry)
            await self._admit(call)  # before any work on the texts: a refused call costs nothing
            deployments = await self._deployments(call, entry, capability, shield, permit)

            def body_for(d: Deployment) -> dict[str, Any]:
                sent = shield.body_for(d) if shield is not None else body
                self.outbound.note(principal.id, d.config.sovereignty, sent)
                return sent

            if endpoint == "chat":
                result, call.deployment, call.attempts = await self.router.run(
                    deployments, entry.strategy, principal.priority, lambda d: d.provider.chat(body_for(d))
                )
            elif endpoint == "rerank":
                result, call.deployment, call.attempts = await self.router.run(
                    deployments, entry.strategy, principal.priority, lambda d: d.provider.rerank(body_for(d))
                )
            else:
                result, call.deployment, call.attempts = await self.router.run(
                    deployments, entry.strategy, principal.priority, lambda d: d.provider.embeddings(body_for(d))
                )
        except SoberanaError as error:
            await self._failed(call, error)
            raise
        call.usage = result.usage
        if shield is not None:
            call.privacy = shield.record()
        if self._log_content(call):
            sent = shield.body_for(call.deployment) if shield is not None else body
            call.content = {
                "request": sent.get("messages") or sent.get("input"),
                "response": orjson.loads(result.body).get("choices"),
            }
        await self._settle(call)
        self._meter(call, 200)
        if shield is not None:
            result = Completion(shield.restore_body(result.body), result.usage)
        if augmenter is not None:
            result = Completion(augmenter.finish(state, result.body), result.usage)
        return result, self._headers(call.deployment, shield) | permit.headers

    async def stream(
        self,
        principal: Principal,
        body: dict[str, Any],
        *,
        request_id: str | None,
        classification: str | None = None,
        conversation: str | None = None,
        floors: Sequence[str] = (),
    ) -> tuple[AsyncIterator[bytes], dict[str, str]]:
        """Start a streamed chat completion; returns the SSE byte stream once the first chunk is in.

        Errors before the first chunk (quota, unknown model, every deployment failing) are raised
        here, so the client gets a proper status. Later errors end the stream with an error event.
        ``floors``: the lowest data classifications the caller imposes (as for :meth:`complete`).
        """
        permit = await self._guarded(principal, body, "chat", True, request_id)
        augmenter, state = None, None
        if self._augmenters:
            body, augmenter, state = await self._augment(principal, body)
        call = Call(principal, "chat", str(body["model"]), True, request_id, time.perf_counter())
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        shield: Shield | None = None

        async def first_chunk(deployment: Deployment) -> tuple[bytes, AsyncIterator[bytes]]:
            sent = shield.body_for(deployment) if shield is not None else body
            self.outbound.note(principal.id, deployment.config.sovereignty, sent)
            chunks = deployment.provider.chat_stream(sent).__aiter__()
            try:
                return await chunks.__anext__(), chunks
            except StopAsyncIteration:
                return b"", chunks

        try:
            floors = [*floors, *self._floors(augmenter, state)]
            await self.privacy.know(principal)
            shield = self._shield(principal, "chat", body, classification, conversation, floors)
            entry = self.model(principal, call.model, "chat")
            self._estimate(call, body, entry)
            await self._admit(call)
            deployments = await self._deployments(call, entry, "chat", shield, permit)
            (first, chunks), call.deployment, call.attempts = await self.router.run(
                deployments, entry.strategy, principal.priority, first_chunk, hold=True
            )
        except SoberanaError as error:
            await self._failed(call, error)
            raise
        call.ttft_ms = (time.perf_counter() - call.started) * 1000
        if shield is not None:
            call.privacy = shield.record()
        log_content = self._log_content(call)
        deployment = call.deployment
        sent_messages = (shield.body_for(deployment) if shield is not None else body).get("messages")

        async def events() -> AsyncIterator[bytes]:
            status, code = 200, None
            pieces: list[str] = []
            completion_chunks = 0
            try:
                chunk: bytes | None = first
                while chunk is not None:
                    if chunk:
                        forward = True
                        if b'"usage":{' in chunk or b'"usage": {' in chunk:
                            parsed = orjson.loads(chunk)
                            call.usage = Usage.from_openai(parsed.get("usage")) or call.usage
                            forward = want_usage or bool(parsed.get("choices"))
                            if forward and not want_usage:
                                parsed.pop("usage", None)
                                chunk = orjson.dumps(parsed)
                        elif b'"content"' in chunk:
                            completion_chunks += 1
                            if log_content:
                                for choice in orjson.loads(chunk).get("choices", []):
                                    pieces.append(choice.get("delta", {}).get("content") or "")
                        if forward:
                            yield sse.frame(chunk)
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        chunk = None
                yield sse.DONE
            except SoberanaError as error:
                status, code = error.status_code, error.code
                yield sse.frame(error.to_dict())
            except Exception as exc:  # noqa: BLE001 - a provider failed mid-stream: tell the client, keep the record
                status, code = 502, "upstream_error"
                message = f"Deployment '{deployment.name}' failed while streaming ({type(exc).__name__})."
                yield sse.frame(UpstreamFailed(message).to_dict())
            finally:
                deployment.gate.release()
                if call.usage is None:
                    call.usage = Usage(estimate_prompt_tokens(body), completion_chunks, estimated=True)
                if log_content:
                    call.content = {"request": sent_messages, "response": "".join(pieces)}
                await self._settle(call)
                self._meter(call, status, code)

        stream = events() if shield is None else shield.restore_stream(events())
        if augmenter is not None:
            stream = augmenter.stream(state, stream)
        return stream, self._headers(deployment, shield) | permit.headers
