"""Request and response bodies of the admin API. Inputs refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from soberana.auth.principal import Role, Scope

Priority = Literal["critical", "interactive", "batch"]
OrgKind = Literal["ministry", "agency", "city", "region", "public_body", "other"]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=12, max_length=1024)]

T = TypeVar("T")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A page of results, newest first; pass the last ``id`` as ``after`` for the next page."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


# -- organisations --------------------------------------------------------------------------------


class OrganisationCreate(Input):
    slug: Slug = Field(description="Short unique name used in URLs and the CLI, e.g. `ministry-of-health`.")
    name: Name = Field(description="Full name, e.g. `Ministry of Health`.")
    kind: OrgKind = Field("other", description="What kind of public body this is.")
    parent_id: str | None = Field(None, description="The organisation this one is part of (a ministry for an agency).")


class OrganisationUpdate(Input):
    name: Name | None = None
    kind: OrgKind | None = None
    is_active: bool | None = Field(None, description="A deactivated organisation's keys and users are refused.")


class OrganisationOut(Output):
    object: Literal["organisation"] = "organisation"
    id: str
    slug: str
    name: str
    kind: str
    parent_id: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


# -- users ------------------------------------------------------------------------------------------


class UserCreate(Input):
    org_id: str
    email: EmailStr
    display_name: Name
    role: Role = Role.STAFF
    password: Password | None = Field(None, description="Initial password for web sign-in (12+ characters).")


class UserUpdate(Input):
    display_name: Name | None = None
    role: Role | None = None
    is_active: bool | None = Field(None, description="A deactivated user cannot sign in and their keys are refused.")
    password: Password | None = None


class UserOut(Output):
    object: Literal["user"] = "user"
    id: str
    org_id: str
    email: str
    display_name: str
    role: Role
    is_active: bool
    has_password: bool
    last_sign_in_at: datetime | None
    created_at: datetime


# -- service accounts -------------------------------------------------------------------------------


class ServiceAccountCreate(Input):
    org_id: str
    name: ShortName
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    role: Literal[Role.ORG_ADMIN, Role.STAFF, Role.AUDITOR] = Role.STAFF


class ServiceAccountUpdate(Input):
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    role: Literal[Role.ORG_ADMIN, Role.STAFF, Role.AUDITOR] | None = None
    is_active: bool | None = None


class ServiceAccountOut(Output):
    object: Literal["service_account"] = "service_account"
    id: str
    org_id: str
    name: str
    description: str
    role: Role
    is_active: bool
    created_at: datetime


# -- API keys ---------------------------------------------------------------------------------------


class ApiKeyCreate(Input):
    name: ShortName
    user_id: str | None = Field(None, description="Owner: a user. Give exactly one of user_id and service_account_id.")
    service_account_id: str | None = Field(None, description="Owner: a service account.")
    scopes: list[Scope] = Field(
        default_factory=lambda: [Scope.INFERENCE],
        min_length=1,
        description="What the key may be used for; at most what its owner's role allows.",
    )
    expires_in_days: int | None = Field(
        None, ge=0, description="Lifetime in days; omitted uses the installation default, 0 never expires (if allowed)."
    )
    priority: Priority | None = Field(
        None, description="Priority class on the model gateway when a model is at capacity (default: installation's)."
    )


class ApiKeyOut(Output):
    object: Literal["api_key"] = "api_key"
    id: str
    org_id: str
    name: str
    prefix: str = Field(description="Public identifier of the key, the start of the key itself.")
    owner_type: Literal["user", "service_account"]
    owner_id: str
    scopes: list[Scope]
    priority: Priority | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown this once; store it now — it cannot be shown again.")


# -- who am I ---------------------------------------------------------------------------------------


class Me(BaseModel):
    object: Literal["principal"] = "principal"
    kind: str
    id: str
    label: str
    org_id: str | None
    role: Role
    scopes: list[Scope]
    key_id: str | None


class IdentityProviderIn(Input):
    """An organisation's OpenID Connect provider (authorization code flow with PKCE)."""

    issuer: str = Field(
        max_length=500,
        pattern=r"^https?://[^\s]+$",
        description="The provider's issuer URL (its discovery document is at `/.well-known/openid-configuration`).",
    )
    client_id: str = Field(min_length=1, max_length=200)
    client_secret_env: str | None = Field(
        None,
        max_length=100,
        pattern=r"^SOBERANA_OIDC_SECRET_[A-Z0-9_]+$",
        description="Name of the environment variable holding the client secret (never the secret itself); it must "
        "start with `SOBERANA_OIDC_SECRET_`, so no other variable of the server can be sent to a provider.",
    )
    email_claim: str = Field("email", max_length=60, description="The ID token claim with the user's e-mail address.")
    enabled: bool = True


class IdentityProviderOut(IdentityProviderIn):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["identity_provider"] = "identity_provider"
    org_id: str
    updated_at: datetime
