"""FastAPI dependencies: the caller's principal, the admin service, the request's origin."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soberana.audit.schemas import AuditAccess
from soberana.auth.authentication import Authenticator
from soberana.auth.principal import Origin, Principal, Role, Scope
from soberana.auth.service import AdminService
from soberana.core.components import provider
from soberana.storage.deps import Session

# auto_error=False: a missing key is refused by the Authenticator (recorded, OpenAI-shaped), not by FastAPI.
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sob_…`")


def get_origin(request: Request) -> Origin:
    return Origin(
        ip=request.client.host if request.client else None, request_id=getattr(request.state, "request_id", None)
    )


get_admin_service = provider(AdminService)
get_authenticator = provider(Authenticator)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
) -> Principal:
    principal = await authenticator.authenticate_key(
        credentials.credentials if credentials else None, get_origin(request)
    )
    request.state.principal = principal
    return principal


OriginDep = Annotated[Origin, Depends(get_origin)]
AdminDep = Annotated[AdminService, Depends(get_admin_service)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_audit_access(principal: CurrentPrincipal, admin: AdminDep, session: Session) -> AuditAccess:
    """What of the audit log the caller may see: its organisations' entries; all for a platform admin."""
    principal.require(Scope.AUDIT, "Reading the audit log")
    return AuditAccess(
        org_ids=await admin.visible_org_ids(session, principal),
        actor=principal.actor(),
        org_id=principal.org_id,
        whole_log=principal.role is Role.PLATFORM_ADMIN,
    )
