"""A minimal OpenAI-compatible model server, for tests, benchmarks and trying Soberana without a model.

``python -m soberana.devtools.upstream --port 9000`` serves ``/v1/chat/completions`` (streaming or
not), ``/v1/embeddings``, ``/v1/rerank`` (word overlap) and ``/v1/models``. The requested model name
chooses the behaviour:

- ``echo`` (or anything else): answers ``Echo: <last user message>``;
- ``delay-<seconds>``: waits that long before each streamed chunk (or before a whole answer);
- ``slow-<seconds>``: waits that long before answering at all (to provoke time-outs);
- ``fail-<status>``: answers with that HTTP status and an OpenAI error body;
- ``reply:<text>``: answers exactly ``<text>`` (a fixed answer, e.g. with citations to check).
- ``chunks-<n>``: streams the echo in pieces of ``n`` characters (splitting words and placeholders).

Options combine before a fixed answer: ``delay-0.05+reply:Text [1]`` streams ``Text [1]`` word by word,
waiting 0.05 s before each piece.

``GET /_log`` returns the last user message of every chat request, in arrival order; ``GET /_requests``
every chat request's whole body (messages, ``max_tokens``…).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import struct
import time
from typing import Any

import orjson
from aiohttp import web

from soberana.core import sse
from soberana.providers.mock import overlap_rerank

LOG_KEY = web.AppKey("log", list)
REQUESTS_KEY = web.AppKey("requests", list)


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    return ""


def _number(model: str, prefix: str) -> float | None:
    if model.startswith(prefix):
        try:
            return float(model[len(prefix) :])
        except ValueError:
            return None
    return None


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    name = str(body.get("model", "echo"))
    request.app[LOG_KEY].append(_last_user(body))
    request.app[REQUESTS_KEY].append(body)
    options, fixed, reply = name.partition("reply:")
    model = options.rstrip("+")
    if (status := _number(model, "fail-")) is not None:
        error = {"error": {"message": f"upstream failure {int(status)}", "type": "server_error", "code": None}}
        return web.Response(
            body=orjson.dumps(error),
            status=int(status),
            content_type="application/json",
            headers={"Retry-After": "0"} if int(status) == 429 else None,
        )
    if (slow := _number(model, "slow-")) is not None:
        await asyncio.sleep(slow)
    delay = _number(model, "delay-") or 0.0
    text = reply if fixed else f"Echo: {_last_user(body)}"
    words = text.split(" ")
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or []) or 1
    created = int(time.time())
    if not body.get("stream"):
        if delay:
            await asyncio.sleep(delay)
        answer = {
            "id": "chatcmpl-upstream",
            "object": "chat.completion",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": _usage(prompt_tokens, len(words)),
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    base = {"id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": created, "model": name}
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            **extra,
        }
    ]
    size = int(_number(model, "chunks-") or 0)
    pieces = [text[i : i + size] for i in range(0, len(text), size)] if size > 0 else None
    chunks += [
        {
            **base,
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            **extra,
        }
        for piece in (pieces or [w if i == 0 else " " + w for i, w in enumerate(words)])
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **extra})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(prompt_tokens, len(words))})
    for chunk in chunks:
        if delay:
            await asyncio.sleep(delay)
        await response.write(sse.frame(chunk))
    await response.write(sse.DONE)
    await response.write_eof()
    return response


async def embeddings(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = []
    for i, text in enumerate(texts):
        seed = sum(ord(c) for c in str(text)) or 1
        vector = [((seed * (j + 3)) % 101) / 101.0 for j in range(16)]
        embedding: Any = (
            base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            if body.get("encoding_format") == "base64"
            else vector
        )
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(len(str(t).split()) for t in texts)
    answer = {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


async def rerank(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    answer = overlap_rerank(str(body.get("query", "")), list(body.get("documents") or []), str(body.get("model")))
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


async def models(request: web.Request) -> web.Response:
    return web.json_response(
        {"object": "list", "data": [{"id": "echo", "object": "model", "created": 0, "owned_by": "upstream"}]}
    )


async def log(request: web.Request) -> web.Response:
    return web.json_response(request.app[LOG_KEY])


async def requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[REQUESTS_KEY])


def make_app() -> web.Application:
    app = web.Application()
    app[LOG_KEY] = []
    app[REQUESTS_KEY] = []
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/rerank", rerank)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/_log", log)
    app.router.add_get("/_requests", requests)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    import uvloop

    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
