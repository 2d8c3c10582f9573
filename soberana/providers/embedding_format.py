"""The OpenAI embeddings response body, in the ``float`` or ``base64`` encoding the client asked for.

The official SDKs ask for ``base64`` (little-endian float32) by default and decode it themselves.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import orjson


def embeddings_body(
    vectors: Sequence[Sequence[float]] | Any, *, model: str, prompt_tokens: int, encoding_format: str | None
) -> bytes:
    import numpy as np  # only when embeddings are made here: keeps NumPy out of start-up

    array = np.asarray(vectors, dtype="<f4")
    data: list[dict[str, Any]] = []
    for i, row in enumerate(array):
        embedding: Any = base64.b64encode(row.tobytes()).decode() if encoding_format == "base64" else row.tolist()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
