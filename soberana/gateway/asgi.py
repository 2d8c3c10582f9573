"""The model API's hot path as a plain ASGI handler.

``POST /v1/chat/completions`` and ``POST /v1/embeddings`` are answered here, before FastAPI's
routing and dependency injection, which cost more CPU per request than the rest of the gateway put
together. The handler does exactly what the FastAPI routes in :mod:`soberana.gateway.routes` do —
same authentication, validation, service calls and error bodies — and those routes remain for the
OpenAPI documentation and for any request this layer passes on.

It sits inside the request-id and body-size middlewares, so both still apply.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soberana.auth.authentication import Authenticator
from soberana.auth.principal import Origin
from soberana.errors import PayloadTooLarge, SoberanaError
from soberana.gateway.routes import parse_body, privacy_context
from soberana.gateway.schemas import ChatCompletionRequest, EmbeddingsRequest
from soberana.gateway.service import GatewayService

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class ModelApiFastPath:
    def __init__(self, app: ASGIApp, gateway: GatewayService, authenticator: Authenticator) -> None:
        self.app = app
        self.gateway = gateway
        self.authenticator = authenticator
        self._paths = {"/v1/chat/completions": "chat", "/v1/embeddings": "embeddings"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._paths.get(scope.get("path", "")) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            try:
                await self._handle(endpoint, scope, receive, send)
            except HTTPException as exc:  # raised by the body-size middleware while the body streams in
                if exc.status_code != 413:
                    raise
                raise PayloadTooLarge(str(exc.detail)) from None
        except SoberanaError as error:
            body = error.to_json()
            headers = [*_JSON, *((k.lower().encode(), v.encode()) for k, v in error.headers.items())]
            await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async def _handle(self, endpoint: str, scope: Scope, receive: Receive, send: Send) -> None:
        token = classification = conversation = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credentials:
                    token = credentials.strip()
            elif name == b"x-soberana-classification":
                classification = value.decode("latin-1")
            elif name == b"x-soberana-conversation":
                conversation = value.decode("latin-1")
        context = privacy_context(classification, conversation)
        request_id = scope.get("state", {}).get("request_id")
        client = scope.get("client")
        principal = await self.authenticator.authenticate_key(token, Origin(client[0] if client else None, request_id))
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = parse_body(b"".join(chunks), ChatCompletionRequest if endpoint == "chat" else EmbeddingsRequest)
        if endpoint == "chat" and body.get("stream"):
            events, headers = await self.gateway.stream(principal, body, request_id=request_id, **context)
            await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *_encode(headers)]})
            await self._stream(events, receive, send)
            return
        result, headers = await self.gateway.complete(
            principal, body, endpoint=endpoint, request_id=request_id, **context
        )
        await send({"type": "http.response.start", "status": 200, "headers": [*_JSON, *_encode(headers)]})
        await send({"type": "http.response.body", "body": result.body})

    @staticmethod
    async def _stream(events: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
        """Send each event as it comes; stop (closing the upstream stream) if the client goes away."""

        async def disconnected() -> None:
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    return

        watcher = asyncio.ensure_future(disconnected())
        try:
            async for event in events:
                if watcher.done():
                    break
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await events.aclose()  # type: ignore[attr-defined]
