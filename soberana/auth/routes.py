"""The admin API: ``/admin/...`` routes for organisations, users, service accounts and API keys.

Routes are thin: they parse, call :class:`~soberana.auth.service.AdminService` and shape the
response. Scope checks, tenant isolation and auditing all happen in the service.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from soberana.auth.deps import AdminDep, CurrentPrincipal, OriginDep
from soberana.auth.key_admin import key_out
from soberana.auth.oidc import OidcService
from soberana.auth.people import user_out
from soberana.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    IdentityProviderIn,
    IdentityProviderOut,
    Me,
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
    Page,
    ServiceAccountCreate,
    ServiceAccountOut,
    ServiceAccountUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from soberana.core.components import provider
from soberana.storage.deps import Session, WriteSession

router = APIRouter(prefix="/admin", tags=["admin"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
After = Annotated[str | None, Query(description="Return objects created after this id (paging)", max_length=64)]
OrgFilter = Annotated[str | None, Query(description="Only objects of this organisation", max_length=64)]


@router.get("/me", response_model=Me, summary="The principal this key belongs to")
async def me(principal: CurrentPrincipal) -> Me:
    return Me(
        kind=principal.kind,
        id=principal.id,
        label=principal.label,
        org_id=principal.org_id,
        role=principal.role,
        scopes=sorted(principal.scopes),
        key_id=principal.key_id,
    )


# -- organisations ----------------------------------------------------------------------------------


@router.get("/organisations", response_model=Page[OrganisationOut], summary="List organisations you manage")
async def list_organisations(
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: Session,
    limit: Limit = 100,
    after: After = None,
    parent_id: OrgFilter = None,
) -> Page[OrganisationOut]:
    rows, more = await admin.list_organisations(session, principal, limit=limit, after=after, parent_id=parent_id)
    return Page(data=[OrganisationOut.model_validate(r) for r in rows], has_more=more)


@router.post(
    "/organisations",
    response_model=OrganisationOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an organisation",
)
async def create_organisation(
    body: OrganisationCreate, principal: CurrentPrincipal, admin: AdminDep, session: WriteSession, origin: OriginDep
) -> OrganisationOut:
    return OrganisationOut.model_validate(await admin.create_organisation(session, principal, body, origin))


@router.get("/organisations/{org_id}", response_model=OrganisationOut, summary="Get an organisation")
async def get_organisation(
    org_id: str, principal: CurrentPrincipal, admin: AdminDep, session: Session
) -> OrganisationOut:
    return OrganisationOut.model_validate(await admin.get_organisation(session, principal, org_id))


@router.patch(
    "/organisations/{org_id}",
    response_model=OrganisationOut,
    summary="Rename, re-classify, deactivate or reactivate an organisation",
)
async def update_organisation(
    org_id: str,
    body: OrganisationUpdate,
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> OrganisationOut:
    return OrganisationOut.model_validate(await admin.update_organisation(session, principal, org_id, body, origin))


# -- users ------------------------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserOut], summary="List users")
async def list_users(
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: Session,
    limit: Limit = 100,
    after: After = None,
    org_id: OrgFilter = None,
) -> Page[UserOut]:
    rows, more = await admin.list_users(session, principal, limit=limit, after=after, org_id=org_id)
    return Page(data=[user_out(r) for r in rows], has_more=more)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Create a user")
async def create_user(
    body: UserCreate, principal: CurrentPrincipal, admin: AdminDep, session: WriteSession, origin: OriginDep
) -> UserOut:
    return user_out(await admin.create_user(session, principal, body, origin))


@router.get("/users/{user_id}", response_model=UserOut, summary="Get a user")
async def get_user(user_id: str, principal: CurrentPrincipal, admin: AdminDep, session: Session) -> UserOut:
    return user_out(await admin.get_user(session, principal, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Change a user's name, role or password, deactivate or reactivate them",
)
async def update_user(
    user_id: str,
    body: UserUpdate,
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> UserOut:
    return user_out(await admin.update_user(session, principal, user_id, body, origin))


# -- service accounts -------------------------------------------------------------------------------


@router.get("/service-accounts", response_model=Page[ServiceAccountOut], summary="List service accounts")
async def list_service_accounts(
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: Session,
    limit: Limit = 100,
    after: After = None,
    org_id: OrgFilter = None,
) -> Page[ServiceAccountOut]:
    rows, more = await admin.list_service_accounts(session, principal, limit=limit, after=after, org_id=org_id)
    return Page(data=[ServiceAccountOut.model_validate(r) for r in rows], has_more=more)


@router.post(
    "/service-accounts",
    response_model=ServiceAccountOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a service account",
)
async def create_service_account(
    body: ServiceAccountCreate, principal: CurrentPrincipal, admin: AdminDep, session: WriteSession, origin: OriginDep
) -> ServiceAccountOut:
    return ServiceAccountOut.model_validate(await admin.create_service_account(session, principal, body, origin))


@router.get("/service-accounts/{sa_id}", response_model=ServiceAccountOut, summary="Get a service account")
async def get_service_account(
    sa_id: str, principal: CurrentPrincipal, admin: AdminDep, session: Session
) -> ServiceAccountOut:
    return ServiceAccountOut.model_validate(await admin.get_service_account(session, principal, sa_id))


@router.patch(
    "/service-accounts/{sa_id}",
    response_model=ServiceAccountOut,
    summary="Change, deactivate or reactivate a service account",
)
async def update_service_account(
    sa_id: str,
    body: ServiceAccountUpdate,
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: WriteSession,
    origin: OriginDep,
) -> ServiceAccountOut:
    return ServiceAccountOut.model_validate(await admin.update_service_account(session, principal, sa_id, body, origin))


# -- API keys ---------------------------------------------------------------------------------------


@router.get("/keys", response_model=Page[ApiKeyOut], summary="List API keys (never their secrets)")
async def list_keys(
    principal: CurrentPrincipal,
    admin: AdminDep,
    session: Session,
    limit: Limit = 100,
    after: After = None,
    org_id: OrgFilter = None,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    service_account_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[ApiKeyOut]:
    rows, more = await admin.list_keys(
        session,
        principal,
        limit=limit,
        after=after,
        org_id=org_id,
        user_id=user_id,
        service_account_id=service_account_id,
    )
    return Page(data=[key_out(r) for r in rows], has_more=more)


@router.post(
    "/keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (the response is the only time the key is shown)",
)
async def create_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, admin: AdminDep, session: WriteSession, origin: OriginDep
) -> ApiKeyCreated:
    key, plaintext = await admin.create_key(session, principal, body, origin)
    return ApiKeyCreated(**key_out(key).model_dump(), key=plaintext)


@router.get("/keys/{key_id}", response_model=ApiKeyOut, summary="Get an API key's metadata")
async def get_key(key_id: str, principal: CurrentPrincipal, admin: AdminDep, session: Session) -> ApiKeyOut:
    return key_out(await admin.get_key(session, principal, key_id))


@router.post("/keys/{key_id}/revoke", response_model=ApiKeyOut, summary="Revoke an API key for good")
async def revoke_key(
    key_id: str, principal: CurrentPrincipal, admin: AdminDep, session: WriteSession, origin: OriginDep
) -> ApiKeyOut:
    return key_out(await admin.revoke_key(session, principal, key_id, origin))


# -- single sign-on ---------------------------------------------------------------------------------


get_oidc = provider(OidcService)


Oidc = Annotated[OidcService, Depends(get_oidc)]


@router.get(
    "/organisations/{org_id}/identity-provider",
    response_model=IdentityProviderOut,
    summary="An organisation's OpenID Connect provider for staff single sign-on",
)
async def get_identity_provider(org_id: str, principal: CurrentPrincipal, oidc: Oidc) -> IdentityProviderOut:
    return IdentityProviderOut.model_validate(await oidc.get(principal, org_id))


@router.put(
    "/organisations/{org_id}/identity-provider",
    response_model=IdentityProviderOut,
    summary="Set an organisation's OpenID Connect provider (its staff then sign in through it)",
)
async def put_identity_provider(
    org_id: str, body: IdentityProviderIn, principal: CurrentPrincipal, oidc: Oidc, origin: OriginDep
) -> IdentityProviderOut:
    return IdentityProviderOut.model_validate(await oidc.put(principal, org_id, body, origin))


@router.delete(
    "/organisations/{org_id}/identity-provider",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an organisation's identity provider",
)
async def delete_identity_provider(org_id: str, principal: CurrentPrincipal, oidc: Oidc, origin: OriginDep) -> Response:
    await oidc.delete(principal, org_id, origin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
