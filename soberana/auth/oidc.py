"""Single sign-on with OpenID Connect, configured per organisation.

The authorization code flow with PKCE (authlib's OAuth 2 client): Soberana sends the browser to the
organisation's identity provider with a random ``state``, ``nonce`` and code verifier, kept in a
short-lived cookie signed with the server secret; on the way back it exchanges the code, checks the
ID token's signature against the provider's published keys (joserfc) and its issuer, audience,
expiry and nonce, and signs in the account with that e-mail address in the organisation. Nobody is
created on the fly: an administrator adds the user first, as for password sign-in.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from soberana.auth.authentication import Authenticator
from soberana.auth.models import IdentityProvider, Organisation
from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.schemas import IdentityProviderIn
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.crypto import constant_time_equal, hmac_sha256_hex
from soberana.errors import AuthenticationFailed, NotFound, PermissionDenied, UpstreamUnavailable
from soberana.storage.db import Database

FLOW_SECONDS = 600  # how long a sign-in may take at the provider
METADATA_SECONDS = 3600


@dataclass(frozen=True)
class Flow:
    org_id: str
    state: str
    nonce: str
    verifier: str
    next: str
    expires: float


class OidcService:
    def __init__(self, db: Database, admin: AdminService, authenticator: Authenticator, secret: bytes) -> None:
        self.db = db
        self.admin = admin
        self.authenticator = authenticator
        self._secret = secret
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}

    # -- configuration (administrators) ----------------------------------------------------------------

    async def get(self, principal: Principal, org_id: str) -> IdentityProvider:
        async with self.db.session() as session:
            org = await self.admin.get_organisation(session, principal, org_id)
            provider = await session.get(IdentityProvider, org.id)
        if provider is None:
            raise NotFound(f"Organisation {org_id!r} has no identity provider.")
        return provider

    @staticmethod
    def _require_platform_admin(principal: Principal) -> None:
        """An identity provider vouches for people: only platform administrators set one (an
        organisation administrator could otherwise sign in as anyone of their organisation's tree)."""
        if not principal.is_platform_admin:
            raise PermissionDenied("Only platform administrators configure identity providers.")

    async def put(
        self, principal: Principal, org_id: str, data: IdentityProviderIn, origin: Origin
    ) -> IdentityProvider:
        principal.require(Scope.ADMIN)
        self._require_platform_admin(principal)
        async with self.db.write_session() as session:
            org = await self.admin.get_organisation(session, principal, org_id)
            provider = await session.get(IdentityProvider, org.id) or IdentityProvider(org_id=org.id)
            for name, value in data.model_dump().items():
                setattr(provider, name, value)
            provider.updated_at = utcnow()
            session.add(provider)
            await self.admin.record_change(
                session,
                principal,
                origin,
                action="sso.provider.set",
                org_id=org.id,
                object_type="identity_provider",
                object_id=org.id,
                details=data.model_dump(),
            )
            await session.commit()
            await session.refresh(provider)
            return provider

    async def delete(self, principal: Principal, org_id: str, origin: Origin) -> None:
        principal.require(Scope.ADMIN)
        self._require_platform_admin(principal)
        async with self.db.write_session() as session:
            org = await self.admin.get_organisation(session, principal, org_id)
            provider = await session.get(IdentityProvider, org.id)
            if provider is None:
                raise NotFound(f"Organisation {org_id!r} has no identity provider.")
            await session.delete(provider)
            await self.admin.record_change(
                session,
                principal,
                origin,
                action="sso.provider.delete",
                org_id=org.id,
                object_type="identity_provider",
                object_id=org.id,
            )
            await session.commit()

    # -- the sign-in flow ------------------------------------------------------------------------------

    async def _provider(self, org_slug: str) -> tuple[Organisation, IdentityProvider]:
        async with self.db.session() as session:
            org = (await session.scalars(select(Organisation).where(Organisation.slug == org_slug))).one_or_none()
            provider = await session.get(IdentityProvider, org.id) if org is not None else None
        if org is None or not org.is_active or provider is None or not provider.enabled:
            raise NotFound("This organisation does not sign in with an identity provider.", code="no_identity_provider")
        return org, provider

    async def _discover(self, issuer: str) -> dict[str, Any]:
        cached = self._metadata.get(issuer)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(url)
                response.raise_for_status()
                metadata: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError):
            raise UpstreamUnavailable("The organisation's identity provider cannot be reached.") from None
        self._metadata[issuer] = (time.monotonic() + METADATA_SECONDS, metadata)
        return metadata

    def _client(self, provider: IdentityProvider, redirect_uri: str) -> AsyncOAuth2Client:
        secret = os.environ.get(provider.client_secret_env) if provider.client_secret_env else None
        return AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=secret,
            scope="openid email profile",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            timeout=10,
        )

    def _seal(self, flow: Flow) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps(flow.__dict__)).decode()
        return f"{body}.{hmac_sha256_hex(self._secret, 'oidc-flow:' + body)}"

    def _open(self, cookie: str | None) -> Flow:
        body, _, signature = (cookie or "").partition(".")
        if not body or not constant_time_equal(signature, hmac_sha256_hex(self._secret, "oidc-flow:" + body)):
            raise AuthenticationFailed("The sign-in took another path; start again.", code="sso_state_invalid")
        flow = Flow(**orjson.loads(base64.urlsafe_b64decode(body)))
        if flow.expires < time.time():
            raise AuthenticationFailed("The sign-in took too long; start again.", code="sso_state_expired")
        return flow

    async def start(self, org_slug: str, redirect_uri: str, next_path: str) -> tuple[str, str]:
        """Where to send the browser, and the cookie that remembers this sign-in."""
        org, provider = await self._provider(org_slug)
        metadata = await self._discover(provider.issuer)
        flow = Flow(
            org_id=org.id,
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            next=next_path,
            expires=time.time() + FLOW_SECONDS,
        )
        client = self._client(provider, redirect_uri)
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=flow.state, nonce=flow.nonce, code_verifier=flow.verifier
        )
        await client.aclose()
        return url, self._seal(flow)

    async def finish(
        self, cookie: str | None, state: str | None, code: str | None, redirect_uri: str, origin: Origin
    ) -> tuple[Principal, str]:
        """The signed-in principal and where to go next, after the provider sent the browser back."""
        flow = self._open(cookie)
        if not state or not constant_time_equal(state, flow.state) or not code:
            raise AuthenticationFailed("The sign-in took another path; start again.", code="sso_state_invalid")
        async with self.db.session() as session:
            provider = await session.get(IdentityProvider, flow.org_id)
        if provider is None or not provider.enabled:
            raise PermissionDenied("This organisation no longer signs in with an identity provider.")
        metadata = await self._discover(provider.issuer)
        if metadata.get("issuer") != provider.issuer:
            raise UpstreamUnavailable("The identity provider's discovery document names another issuer.")
        client = self._client(provider, redirect_uri)
        try:
            token = await client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=flow.verifier, grant_type="authorization_code"
            )
            async with httpx.AsyncClient(timeout=10) as http:
                keys = KeySet.import_key_set((await http.get(metadata["jwks_uri"])).json())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise UpstreamUnavailable(
                f"The identity provider did not complete the sign-in ({type(exc).__name__})."
            ) from None
        finally:
            await client.aclose()
        claims = self._verify(str(token.get("id_token") or ""), keys, provider, metadata, flow)
        email = claims.get(provider.email_claim)
        if not isinstance(email, str) or claims.get("email_verified") not in (True, "true"):
            raise AuthenticationFailed("The identity provider gave no verified e-mail address.", code="sso_no_email")
        principal = await self.authenticator.sign_in_external(email, flow.org_id, "oidc", origin)
        return principal, flow.next

    @staticmethod
    def _verify(
        id_token: str, keys: KeySet, provider: IdentityProvider, metadata: dict[str, Any], flow: Flow
    ) -> dict[str, Any]:
        try:
            decoded = jwt.decode(id_token, keys)
            registry = jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": provider.issuer},
                aud={"essential": True, "value": provider.client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": flow.nonce},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise AuthenticationFailed(
                f"The identity provider's token was refused ({type(exc).__name__}).", code="sso_token_invalid"
            ) from None
        return dict(decoded.claims)
