"""Any OpenAI-compatible API: vLLM, Ollama, llama.cpp server, OpenAI, Azure OpenAI, Mistral…

All deployments share one pooled ``aiohttp`` client session, created on first use inside the
running event loop. Request bodies are forwarded as JSON with the deployment's upstream model
name; answers are passed back byte for byte, parsed only as far as needed to read the usage.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from soberana.providers.base import (
    Completion,
    Provider,
    ProviderConnectionError,
    ProviderContext,
    ProviderHTTPError,
    ProviderTimeout,
    Usage,
)
from soberana.settings import DeploymentConfig

_SESSION_KEY = "aiohttp_session"


def shared_session(context: ProviderContext) -> aiohttp.ClientSession:
    """The one pooled HTTP client of this process (created lazily, closed at shutdown)."""
    session: aiohttp.ClientSession | None = context.resources.get(_SESSION_KEY)
    if context.resources.get("closing"):
        raise ProviderConnectionError("the gateway is shutting down")
    if session is None or session.closed:
        settings = context.settings
        connector = aiohttp.TCPConnector(
            limit=settings.upstream_max_connections, ttl_dns_cache=300, enable_cleanup_closed=True
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream_connect_timeout_seconds,
            sock_read=settings.upstream_read_timeout_seconds,
        )
        session = aiohttp.ClientSession(connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",))
        context.resources[_SESSION_KEY] = session
    return session


async def close_shared_session(context: ProviderContext) -> None:
    context.resources["closing"] = True  # no new session after this, even from a late request
    session: aiohttp.ClientSession | None = context.resources.pop(_SESSION_KEY, None)
    if session is not None and not session.closed:
        await session.close()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAICompatProvider(Provider):
    kind = "openai_compat"

    def __init__(self, config: DeploymentConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        if not config.base_url:
            raise ValueError(f"deployment {config.name or config.alias}: openai_compat needs base_url")
        base = config.base_url.rstrip("/")
        query = f"?api-version={config.api_version}" if config.api_version else ""
        self._chat_url = f"{base}/chat/completions{query}"
        self._embeddings_url = f"{base}/embeddings{query}"
        self._rerank_url = f"{base}/rerank{query}"
        self._models_url = f"{base}/models{query}"
        self._headers = {"Content-Type": "application/json"}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env, "")
            if config.api_version:  # Azure OpenAI
                self._headers["api-key"] = key
            else:
                self._headers["Authorization"] = f"Bearer {key}"
        self._where = f"{config.name or config.alias} ({base})"

    def _payload(self, body: dict[str, Any]) -> bytes:
        return orjson.dumps({**body, "model": self.config.model})

    async def _post(self, url: str, payload: bytes) -> bytes:
        session = shared_session(self.context)
        try:
            async with session.post(url, data=payload, headers=self._headers) as response:
                data = await response.read()
                if response.status >= 400:
                    raise ProviderHTTPError(
                        f"{self._where} answered HTTP {response.status}",
                        status=response.status,
                        body=data,
                        retry_after=_retry_after(response.headers),
                    )
                return data
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(f"{self._where} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"{self._where} is unreachable ({type(exc).__name__})") from exc

    async def chat(self, body: dict[str, Any]) -> Completion:
        data = await self._post(self._chat_url, self._payload(body))
        usage = Usage.from_openai(orjson.loads(data).get("usage")) or Usage(estimated=True)
        return Completion(body=data, usage=usage)

    async def embeddings(self, body: dict[str, Any]) -> Completion:
        data = await self._post(self._embeddings_url, self._payload(body))
        usage = Usage.from_openai(orjson.loads(data).get("usage")) or Usage(estimated=True)
        return Completion(body=data, usage=usage)

    async def rerank(self, body: dict[str, Any]) -> Completion:
        data = await self._post(self._rerank_url, self._payload(body))
        usage = Usage.from_openai(orjson.loads(data).get("usage")) or Usage(estimated=True)
        return Completion(body=data, usage=usage)

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        # Always ask the upstream for the usage chunk: metering needs it even when the client does not.
        payload = orjson.dumps(
            {
                **body,
                "model": self.config.model,
                "stream": True,
                "stream_options": {**(body.get("stream_options") or {}), "include_usage": True},
            }
        )
        session = shared_session(self.context)
        try:
            async with session.post(self._chat_url, data=payload, headers=self._headers) as response:
                if response.status >= 400:
                    data = await response.read()
                    raise ProviderHTTPError(
                        f"{self._where} answered HTTP {response.status}",
                        status=response.status,
                        body=data,
                        retry_after=_retry_after(response.headers),
                    )
                async for line in response.content:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    if data:
                        yield data
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(f"{self._where} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(f"{self._where} is unreachable ({type(exc).__name__})") from exc

    async def health(self) -> bool:
        session = shared_session(self.context)
        try:
            async with asyncio.timeout(5), session.get(self._models_url, headers=self._headers) as response:
                return response.status < 500
        except (TimeoutError, aiohttp.ClientError):
            return False
