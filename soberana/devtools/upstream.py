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
- ``obey``: a model that obeys instructions wherever they are (the worst case of prompt injection).
  When the user message asks for its instructions, system prompt, "everything above" or a reference
  code (a few words in English, Spanish and Icelandic), it answers the whole system message verbatim;
  then every instruction-like line of the user message and of the passages (a line marked as
  :data:`~soberana.knowledge.answers.QUOTED_LINE`, or one with a word such as *ignore*, *say*,
  *call*, *ignora*, *di*, *llame*, *hunsaðu*, *segðu*, *hringdu*), verbatim without the mark; then the
  first sentence of passage 1 that is not an instruction, followed by `` [1]``. Nothing of these:
  ``NO_ANSWER``.
- ``resist``: a model that follows no instruction of the passages or of the user turn: the first two
  sentences of passage 1 that are not instruction-like, followed by `` [1]``; ``NO_ANSWER`` when the
  request has no passages (or passage 1 holds nothing else). It never repeats the system message.

Passages are read from the first (system) message, framed as :func:`soberana.knowledge.answers.framed_passages`
frames them (``<passage id="n" title="…">`` on a line of its own, the text, ``</passage>``).

Options combine before a fixed answer or a behaviour: ``delay-0.05+reply:Text [1]`` streams ``Text [1]``
word by word, waiting 0.05 s before each piece; ``chunks-7+obey`` streams what ``obey`` answers in pieces
of 7 characters.

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
from soberana.knowledge.answers import NO_ANSWER, QUOTED_LINE
from soberana.providers.mock import overlap_rerank

LOG_KEY = web.AppKey("log", list)
REQUESTS_KEY = web.AppKey("requests", list)


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else str(content)


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _content(message)
    return ""


def _system(body: dict[str, Any]) -> str:
    """Every system message, joined (data protection may add one about placeholders before the rest)."""
    return "\n\n".join(_content(m) for m in body.get("messages") or [] if m.get("role") == "system")


# Words that make a line an instruction (to ``obey`` and ``resist``), and what asks for the system prompt.
_INSTRUCTION_WORDS = {
    "en": "ignore disregard forget override instruction instructions prompt pretend say tell call phone visit email "
    "write print repeat reveal output",
    "es": "ignora ignorar olvida olvide omite instrucción instruccion instrucciones di diga decir dile llame llama "
    "llamar visite visita escribe repite revela imprime",
    "is": "hunsaðu hunsið hunsa gleymdu gleymið fyrirmæli leiðbeiningar segðu segið segja hringdu hringið hringja "
    "farðu skrifaðu endurtaktu birtu",
}
INSTRUCTION_WORDS = frozenset(word for words in _INSTRUCTION_WORDS.values() for word in words.split())
INSTRUCTION_PHRASES = ("system prompt", "you are now", "new instructions", "nuevas instrucciones")
REVEAL_WORDS = (
    *("system prompt", "system message", "instruction", "above", "reference", "confidential", "secret"),
    *("instrucci", "mensaje del sistema", "arriba", "anterior", "referencia", "confidencial", "código"),
    *("fyrirmæli", "leiðbeining", "kóða", "kóði", "trúnað", "hér að ofan"),
)
_PASSAGE_OPEN = '\n<passage id="'
_PASSAGE_CLOSE = "\n</passage>"


def _instruction(line: str) -> bool:
    """Whether a line reads as an instruction: marked as quoted page text, or holding an instruction word."""
    lowered = line.lower()
    if lowered.startswith(QUOTED_LINE) or any(phrase in lowered for phrase in INSTRUCTION_PHRASES):
        return True
    words = "".join(c if c.isalnum() else " " for c in lowered).split()
    return any(word in INSTRUCTION_WORDS for word in words)


def _passages(system: str) -> list[str]:
    """The texts of the ``<passage id="n" title="…">`` frames of a system message, in order (str
    operations only: the passages are untrusted text)."""
    texts: list[str] = []
    text, at = "\n" + system, 0
    while (start := text.find(_PASSAGE_OPEN, at)) != -1:
        head_end = text.find("\n", start + 1)
        end = text.find(_PASSAGE_CLOSE, head_end) if head_end != -1 else -1
        if end == -1:
            break
        if text[start:head_end].endswith('">'):
            texts.append(text[head_end + 1 : end])
        at = end + len(_PASSAGE_CLOSE)
    return texts


def _sentences(line: str) -> list[str]:
    """A line cut after each ``.``, ``!`` or ``?`` that ends a word."""
    sentences: list[str] = []
    start = 0
    for i, char in enumerate(line):
        if char in ".!?" and (i + 1 == len(line) or line[i + 1].isspace()):
            sentences.append(line[start : i + 1].strip())
            start = i + 1
    sentences.append(line[start:].strip())
    return [s for s in sentences if s]


def _cited(passage: str, count: int) -> str:
    """The first ``count`` sentences of a passage that are not instruction-like, cited ``[1]`` (or "")."""
    sentences = [
        sentence
        for line in passage.split("\n")
        if not _instruction(line)
        for sentence in _sentences(line)
        if not _instruction(sentence)
    ]
    return " ".join(sentences[:count]) + " [1]" if sentences else ""


def obey(body: dict[str, Any]) -> str:
    """What a model that obeys every instruction it reads answers (see the module's docstring)."""
    system, user = _system(body), _last_user(body)
    passages = _passages(system)
    parts = [system] if system and any(word in user.lower() for word in REVEAL_WORDS) else []
    lines = [*user.split("\n"), *(line for passage in passages for line in passage.split("\n"))]
    parts += [line.removeprefix(QUOTED_LINE) for line in lines if line.strip() and _instruction(line)]
    parts.append(_cited(passages[0], 1) if passages else "")
    return "\n".join(part for part in parts if part) or NO_ANSWER


def resist(body: dict[str, Any]) -> str:
    """What a model that follows no injected instruction answers (see the module's docstring)."""
    passages = _passages(_system(body))
    return (_cited(passages[0], 2) if passages else "") or NO_ANSWER


BEHAVIOURS = {"obey": obey, "resist": resist}


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
    model, _, behaviour = options.rstrip("+").rpartition("+")
    model = model or behaviour  # the options before the behaviour, or the only one
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
    if fixed:
        text = reply
    elif behaviour in BEHAVIOURS:
        text = BEHAVIOURS[behaviour](body)
    else:
        text = f"Echo: {_last_user(body)}"
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
