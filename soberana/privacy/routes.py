"""HTTP routes: data-protection policies (``/admin/privacy``), the caller's policy and erasure (``/v1/privacy``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response, status

from soberana.auth.deps import CurrentPrincipal, OriginDep
from soberana.auth.principal import Scope
from soberana.core.components import provider
from soberana.errors import PermissionDenied
from soberana.privacy.models import PrivacyPolicy
from soberana.privacy.schemas import EffectivePolicy, PolicyDocument, PolicyOut, PurgeReport
from soberana.privacy.service import PrivacyService
from soberana.storage.deps import Session, WriteSession

get_privacy = provider(PrivacyService)


Privacy = Annotated[PrivacyService, Depends(get_privacy)]
SubjectKind = Literal["organisations", "keys"]
SUBJECT_TYPE = {"organisations": "organisation", "keys": "api_key"}

admin_router = APIRouter(prefix="/admin/privacy", tags=["data protection"])
v1 = APIRouter(prefix="/v1/privacy", tags=["data protection"])


def _out(policy: PrivacyPolicy) -> PolicyOut:
    return PolicyOut.model_validate(policy)


@admin_router.get(
    "/policies", response_model=list[PolicyOut], summary="List data-protection policies in your organisations"
)
async def list_policies(principal: CurrentPrincipal, privacy: Privacy, session: Session) -> list[PolicyOut]:
    return [_out(p) for p in await privacy.policies.list_policies(session, principal)]


@admin_router.get(
    "/policies/{kind}/{subject_id}", response_model=PolicyOut, summary="An organisation's or key's policy"
)
async def get_policy(
    kind: SubjectKind,
    subject_id: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    privacy: Privacy,
    session: Session,
) -> PolicyOut:
    return _out(await privacy.policies.get_policy(session, principal, SUBJECT_TYPE[kind], subject_id))


@admin_router.put(
    "/policies/{kind}/{subject_id}",
    response_model=PolicyOut,
    summary="Set an organisation's or key's data-protection policy (modes, sovereignty, detectors, retention)",
)
async def set_policy(
    kind: SubjectKind,
    subject_id: Annotated[str, Path(max_length=64)],
    body: PolicyDocument,
    principal: CurrentPrincipal,
    privacy: Privacy,
    session: WriteSession,
    origin: OriginDep,
) -> PolicyOut:
    return _out(await privacy.policies.set_policy(session, principal, SUBJECT_TYPE[kind], subject_id, body, origin))


@admin_router.delete(
    "/policies/{kind}/{subject_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a policy (inherit again)"
)
async def delete_policy(
    kind: SubjectKind,
    subject_id: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    privacy: Privacy,
    session: WriteSession,
    origin: OriginDep,
) -> Response:
    await privacy.policies.delete_policy(session, principal, SUBJECT_TYPE[kind], subject_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin_router.post("/purge", response_model=PurgeReport, summary="Delete now what is past its retention period")
async def purge(principal: CurrentPrincipal, privacy: Privacy) -> PurgeReport:
    principal.require(Scope.ADMIN)
    if not principal.is_platform_admin:
        raise PermissionDenied("Only platform administrators run the retention purge by hand.")
    return PurgeReport(deleted=await privacy.retention.purge())


@v1.get("/policy", response_model=EffectivePolicy, summary="The data-protection policy that applies to your key")
async def effective_policy(principal: CurrentPrincipal, privacy: Privacy) -> EffectivePolicy:
    await privacy.know(principal)
    return privacy.effective(principal)


@v1.delete(
    "/conversations/{conversation}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget a conversation's placeholders and the personal data they stand for",
)
async def erase_conversation(
    conversation: Annotated[str, Path(min_length=1, max_length=128)],
    principal: CurrentPrincipal,
    privacy: Privacy,
    session: WriteSession,
    origin: OriginDep,
) -> Response:
    await privacy.erase_api_conversation(session, principal, conversation, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
