"""HTTP routes: the OpenAI-compatible ``/v1`` API and the gateway's ``/admin`` endpoints.

``/v1`` handlers read the body themselves (orjson, then a pydantic check of the fields Soberana acts
on) and pass the upstream's bytes straight back: the hot path parses each request once and never
re-serialises a response.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, TypedDict

import anyio
import orjson
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from soberana.auth.deps import AdminDep, CurrentPrincipal, OriginDep
from soberana.auth.principal import Principal, Scope
from soberana.core.components import provider
from soberana.errors import InvalidRequest, MalformedJSON, ModelNotFound, describe_validation_errors
from soberana.gateway.admin import GatewayAdmin, quota_out
from soberana.gateway.schemas import (
    AliasUpdate,
    ChatCompletionRequest,
    DeploymentCreate,
    DeploymentOut,
    DeploymentUpdate,
    EmbeddingsRequest,
    QuotaOut,
    QuotaValues,
    RerankRequest,
    UsageReport,
)
from soberana.gateway.service import GatewayService
from soberana.providers.base import weights_sha256
from soberana.settings import AliasConfig
from soberana.storage.deps import Session, WriteSession

get_gateway = provider(GatewayService)
get_gateway_admin = provider(GatewayAdmin)


Gateway = Annotated[GatewayService, Depends(get_gateway)]
GatewayAdminDep = Annotated[GatewayAdmin, Depends(get_gateway_admin)]
v1 = APIRouter(prefix="/v1", tags=["model API"])
admin_router = APIRouter(prefix="/admin", tags=["gateway admin"])


async def read_json(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    return parse_body(await request.body(), model)


def parse_body(raw: bytes, model: type[BaseModel]) -> dict[str, Any]:
    """The JSON object in ``raw``, checked against ``model`` but returned as sent (for pass-through)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"The request body is not valid JSON: {exc.msg}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        model.model_validate(body)
    except ValidationError as exc:
        message, param, details = describe_validation_errors([dict(e) for e in exc.errors()])
        raise InvalidRequest(message, param=param, details=details) from None
    return body


CLASSIFICATION_HEADER = "x-soberana-classification"
CONVERSATION_HEADER = "x-soberana-conversation"


class PrivacyContext(TypedDict):
    classification: str | None
    conversation: str | None


def privacy_context(classification: str | None, conversation: str | None) -> PrivacyContext:
    """The data-protection request headers, checked: the classification the client states (it can
    raise its key's default, never lower it) and the conversation whose placeholders stay stable."""
    if classification is not None and not 0 < len(classification) <= 40:
        raise InvalidRequest(
            f"The {CLASSIFICATION_HEADER} header must be 1 to 40 characters.", param=CLASSIFICATION_HEADER
        )
    if conversation is not None and not 0 < len(conversation) <= 128:
        raise InvalidRequest(
            f"The {CONVERSATION_HEADER} header must be 1 to 128 characters.", param=CONVERSATION_HEADER
        )
    return {"classification": classification or None, "conversation": conversation or None}


def _privacy_context(request: Request) -> PrivacyContext:
    return privacy_context(request.headers.get(CLASSIFICATION_HEADER), request.headers.get(CONVERSATION_HEADER))


# Models the request bodies below refer to: added to the OpenAPI document's components (see
# soberana.web.app), where their references point.
COMPONENTS: dict[str, Any] = {}


def _schema(model: type[BaseModel], *, streams: bool = False) -> dict[str, Any]:
    """The request body of a route that reads its JSON itself (so that errors keep the OpenAI shape)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    COMPONENTS.update(schema.pop("$defs", {}))
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
    if streams:  # `"stream": true` answers with Server-Sent Events
        extra["responses"] = {"200": {"content": {"application/json": {}, "text/event-stream": {}}}}
    return extra


@v1.post(
    "/chat/completions",
    summary="Create a chat completion (OpenAI-compatible; streams with SSE)",
    openapi_extra=_schema(ChatCompletionRequest, streams=True),
    response_model=None,
)
async def chat_completions(request: Request, principal: CurrentPrincipal, gateway: Gateway) -> Response:
    body = await read_json(request, ChatCompletionRequest)
    request_id = getattr(request.state, "request_id", None)
    context = _privacy_context(request)
    if body.get("stream"):
        events, headers = await gateway.stream(principal, body, request_id=request_id, **context)
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", **headers}
        )
    result, headers = await gateway.complete(principal, body, endpoint="chat", request_id=request_id, **context)
    return Response(result.body, media_type="application/json", headers=headers)


@v1.post(
    "/embeddings",
    summary="Create embeddings (OpenAI-compatible)",
    openapi_extra=_schema(EmbeddingsRequest),
    response_model=None,
)
async def embeddings(request: Request, principal: CurrentPrincipal, gateway: Gateway) -> Response:
    return await _complete(request, principal, gateway, "embeddings", EmbeddingsRequest)


@v1.post(
    "/rerank",
    summary="Score documents against a query with a reranking model (vLLM/Cohere-compatible)",
    openapi_extra=_schema(RerankRequest),
    response_model=None,
)
async def rerank(request: Request, principal: CurrentPrincipal, gateway: Gateway) -> Response:
    return await _complete(request, principal, gateway, "rerank", RerankRequest)


async def _complete(
    request: Request, principal: Principal, gateway: GatewayService, endpoint: str, model: type[BaseModel]
) -> Response:
    """A non-streamed call whose upstream body is passed back as it came."""
    body = await read_json(request, model)
    result, headers = await gateway.complete(
        principal,
        body,
        endpoint=endpoint,
        request_id=getattr(request.state, "request_id", None),
        **_privacy_context(request),
    )
    return Response(result.body, media_type="application/json", headers=headers)


async def _model_object(gateway: GatewayService, alias: str) -> dict[str, Any]:
    entry = gateway.catalog.get(alias)
    assert entry is not None
    configs = [d.config for d in entry.deployments]
    records = []
    for deployment in entry.deployments:
        config = deployment.config
        records.append(
            {
                "deployment": deployment.name,
                "sovereignty": config.sovereignty,
                "supplier": config.supplier,
                "licence": config.licence,
                "model_card": config.model_card,
                "params_billion": config.params_billion,
                "languages": list(config.languages),
                # what the server loaded, for an embedded model (hashed once, in a worker thread)
                "weights_sha256": await anyio.to_thread.run_sync(weights_sha256, deployment.provider.weights()),
            }
        )
    return {
        "id": entry.alias,
        "object": "model",
        "created": entry.created,
        "owned_by": "soberana",
        "description": entry.description,
        "capabilities": {
            "chat": entry.serves("chat"),
            "embeddings": entry.serves("embeddings"),
            "rerank": entry.serves("rerank"),
            "streaming": any(c.streaming for c in configs),
            "tools": any(c.tools for c in configs),
            "context_length": min(c.context_length for c in configs),
        },
        "sovereignty": sorted({c.sovereignty for c in configs}),
        "records": records,
    }


@v1.get("/models", summary="List the models you can use")
async def list_models(principal: CurrentPrincipal, gateway: Gateway) -> dict[str, Any]:
    gateway.require_inference(principal)
    return {"object": "list", "data": [await _model_object(gateway, e.alias) for e in gateway.catalog.entries()]}


@v1.get("/models/{model_id:path}", summary="Describe one model")
async def get_model(model_id: str, principal: CurrentPrincipal, gateway: Gateway) -> dict[str, Any]:
    gateway.require_inference(principal)
    if gateway.catalog.get(model_id) is None:
        raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
    return await _model_object(gateway, model_id)


@v1.get("/usage", response_model=UsageReport, summary="This API key's own usage")
async def key_usage(
    principal: CurrentPrincipal,
    gateway_admin: GatewayAdminDep,
    session: Session,
    start_date: date | None = None,
    end_date: date | None = None,
    group_by: Literal["day", "model"] = "day",
) -> UsageReport:
    return await gateway_admin.report(
        session,
        group_by=group_by,
        start=start_date,
        end=end_date,
        org_ids=frozenset({principal.org_id or ""}),
        key_id=principal.key_id or "",
    )


# -- admin ------------------------------------------------------------------------------------------


@admin_router.get(
    "/models/deployments",
    response_model=list[DeploymentOut],
    summary="List model deployments and their live state (platform administrators)",
)
async def list_deployments(principal: CurrentPrincipal, gw: GatewayAdminDep, session: Session) -> list[DeploymentOut]:
    return await gw.list_deployments(session, principal)


@admin_router.post("/models/deployments", status_code=status.HTTP_201_CREATED, summary="Add a model deployment")
async def create_deployment(
    body: DeploymentCreate, principal: CurrentPrincipal, gw: GatewayAdminDep, session: WriteSession, origin: OriginDep
) -> dict[str, Any]:
    row = await gw.create_deployment(session, principal, body, origin)
    return {"object": "deployment", "id": row.id, "name": row.name, "enabled": row.enabled, "config": row.config}


@admin_router.patch("/models/deployments/{dep_id}", summary="Enable, disable or reconfigure a deployment")
async def update_deployment(
    dep_id: str,
    body: DeploymentUpdate,
    principal: CurrentPrincipal,
    gw: GatewayAdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> dict[str, Any]:
    row = await gw.update_deployment(session, principal, dep_id, body.enabled, body.config, origin)
    return {"object": "deployment", "id": row.id, "name": row.name, "enabled": row.enabled, "config": row.config}


@admin_router.delete(
    "/models/deployments/{dep_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a deployment added in the admin API",
)
async def delete_deployment(
    dep_id: str, principal: CurrentPrincipal, gw: GatewayAdminDep, session: WriteSession, origin: OriginDep
) -> Response:
    await gw.delete_deployment(session, principal, dep_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.get(
    "/models/aliases",
    response_model=list[AliasConfig],
    summary="List public model names with their routing strategy (platform administrators)",
)
async def list_aliases(principal: CurrentPrincipal, gw: GatewayAdminDep) -> list[AliasConfig]:
    return await gw.list_aliases(principal)


@admin_router.put(
    "/models/aliases/{name}", response_model=AliasConfig, summary="Set a model name's routing strategy and description"
)
async def set_alias(
    name: str,
    body: AliasUpdate,
    principal: CurrentPrincipal,
    gw: GatewayAdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> AliasConfig:
    config = AliasConfig(name=name, strategy=body.strategy, description=body.description)
    return await gw.set_alias(session, principal, config, origin)


@admin_router.delete(
    "/models/aliases/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget a model name's stored settings (back to the configuration's)",
)
async def delete_alias(
    name: str, principal: CurrentPrincipal, gw: GatewayAdminDep, session: WriteSession, origin: OriginDep
) -> Response:
    await gw.delete_alias(session, principal, name, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.get("/quotas", response_model=list[QuotaOut], summary="List quotas in your organisations")
async def list_quotas(principal: CurrentPrincipal, gw: GatewayAdminDep, session: Session) -> list[QuotaOut]:
    return [quota_out(q) for q in await gw.list_quotas(session, principal)]


@admin_router.put(
    "/quotas/organisations/{org_id}",
    response_model=QuotaOut,
    summary="Set an organisation's quotas (of one below yours)",
)
async def set_org_quota(
    org_id: str,
    body: QuotaValues,
    principal: CurrentPrincipal,
    gw: GatewayAdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> QuotaOut:
    return quota_out(await gw.set_quota(session, principal, "organisation", org_id, body, origin))


@admin_router.delete(
    "/quotas/organisations/{org_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an organisation's quotas"
)
async def delete_org_quota(
    org_id: str, principal: CurrentPrincipal, gw: GatewayAdminDep, session: WriteSession, origin: OriginDep
) -> Response:
    await gw.delete_quota(session, principal, "organisation", org_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.put("/quotas/keys/{key_id}", response_model=QuotaOut, summary="Set an API key's quotas")
async def set_key_quota(
    key_id: str,
    body: QuotaValues,
    principal: CurrentPrincipal,
    gw: GatewayAdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> QuotaOut:
    return quota_out(await gw.set_quota(session, principal, "api_key", key_id, body, origin))


@admin_router.delete(
    "/quotas/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an API key's quotas"
)
async def delete_key_quota(
    key_id: str, principal: CurrentPrincipal, gw: GatewayAdminDep, session: WriteSession, origin: OriginDep
) -> Response:
    await gw.delete_quota(session, principal, "api_key", key_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.get(
    "/usage",
    summary="Usage report per organisation, model, key, deployment or day (JSON or CSV)",
    response_model=UsageReport,
    responses={200: {"content": {"text/csv": {}}}},
)
async def usage_report(
    principal: CurrentPrincipal,
    admin: AdminDep,
    gw: GatewayAdminDep,
    session: Session,
    group_by: Literal["organisation", "model", "day", "key", "deployment"] = "organisation",
    start_date: date | None = None,
    end_date: date | None = None,
    org_id: Annotated[str | None, Query(max_length=64, description="Only this organisation")] = None,
    model: Annotated[str | None, Query(max_length=200, description="Only this model (public name)")] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    principal.require(Scope.ADMIN)
    visible = await admin.visible_org_ids(session, principal)
    if org_id is not None:
        visible = frozenset({(await admin.get_organisation(session, principal, org_id)).id})
    report = await gw.report(session, group_by=group_by, start=start_date, end=end_date, org_ids=visible, model=model)
    if format == "csv":
        return Response(
            gw.report_csv(report),
            media_type="text/csv",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="usage-{group_by}-{report.start_date}-{report.end_date}.csv"'
                )
            },
        )
    return report
