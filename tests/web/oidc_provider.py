"""A small OpenID Connect provider for tests: discovery, authorize (signs in one configured user at
once), token (client secret and PKCE checked) and the JWKS the ID tokens are signed with (RS256)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.gateway.conftest import aiohttp_server


@dataclass
class Provider:
    url: str
    client_id: str = "soberana"
    client_secret: str = "provider-secret-0123456789"
    email: str = ""  # who signs in at /authorize
    email_verified: bool = True
    nonce_override: str | None = None  # send another nonce than asked (to test refusal)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    provider = Provider("")  # its address once it listens
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig", "alg": "RS256"})

    async def discovery(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": provider.url,
                "authorization_endpoint": f"{provider.url}/authorize",
                "token_endpoint": f"{provider.url}/token",
                "jwks_uri": f"{provider.url}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(request: web.Request) -> web.Response:
        q = request.query
        assert q["response_type"] == "code" and q["client_id"] == provider.client_id
        assert q["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {
            "challenge": q["code_challenge"],
            "nonce": q["nonce"],
            "redirect_uri": q["redirect_uri"],
        }
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}")

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        grant = provider.codes.pop(str(form.get("code")), None)
        if grant is None or form.get("client_secret") != provider.client_secret:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = str(form.get("code_verifier"))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = int(time.time())
        claims = {
            "iss": provider.url,
            "sub": provider.email,
            "aud": provider.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": provider.nonce_override or grant["nonce"],
            "email": provider.email,
            "email_verified": provider.email_verified,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)
        return web.json_response(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response({"keys": [key.as_dict(private=False)]})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/authorize", authorize)
    app.router.add_post("/token", token)
    app.router.add_get("/jwks", jwks)
    with aiohttp_server(app) as port:
        provider.url = f"http://127.0.0.1:{port}"
        yield provider
